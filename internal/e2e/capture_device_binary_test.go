package e2e

import (
	"bytes"
	"image/jpeg"
	"io"
	"net/http"
	"os/exec"
	"testing"
)

// TestDeviceAgentBinary: `camvault agent --source device:lavfi:…` (a
// capture device through ffmpeg) is claimed and comes online, and the
// owner gets a snapshot of its picture, made by ffmpeg.
func TestDeviceAgentBinary(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed; install it (apt install ffmpeg) to test capture devices")
	}
	s := startBinServer(t, t.TempDir())
	session, camID := ownerCamera(t, s, "device:lavfi:testsrc2=size=320x240:rate=15", "Desk")

	req, _ := http.NewRequest("GET", s.url+"/api/v1/cameras/"+camID+"/snapshot", nil)
	req.Header.Set("Authorization", "Bearer "+session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pic, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("snapshot: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), pic)
	}
	img, err := jpeg.Decode(bytes.NewReader(pic))
	if err != nil {
		t.Fatalf("snapshot is not a JPEG: %v", err)
	}
	if got := img.Bounds().Size(); got.X != 320 || got.Y != 240 {
		t.Fatalf("snapshot of %v, want 320x240", got)
	}
}
