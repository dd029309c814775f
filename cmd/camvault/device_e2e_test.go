package main

import (
	"bytes"
	"image/jpeg"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDeviceAgentBinary: `camvault agent --source device:lavfi:…` (a
// capture device through ffmpeg) is claimed and comes online, and the
// owner gets a snapshot of its picture, made by ffmpeg.
func TestDeviceAgentBinary(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed; install it (apt install ffmpeg) to test capture devices")
	}
	s := startServer(t, t.TempDir())
	_, token, _ := strings.Cut(s.setup, "#")
	code, body := post(t, s.url+"/api/v1/setup", map[string]any{"setup_token": token, "email": "ana@example.org", "password": e2ePassword, "home_name": "Casa"}, "")
	if code != http.StatusCreated {
		t.Fatalf("setup: %d %v", code, body)
	}
	home := body["home"].(map[string]any)["id"].(string)
	_, login := post(t, s.url+"/api/v1/login", map[string]any{"email": "ana@example.org", "password": e2ePassword}, "")
	session := login["session_token"].(string)

	claim := startAgentBinary(t, s.url, "device:lavfi:testsrc2=size=320x240:rate=15")
	code, cam := post(t, s.url+"/api/v1/homes/"+home+"/cameras/claim", map[string]any{"claim_code": claim, "name": "Desk"}, session)
	if code != http.StatusCreated {
		t.Fatalf("claim: %d %v", code, cam)
	}
	camID := cam["id"].(string)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, c := getJSON(t, s.url+"/api/v1/cameras/"+camID, session); c["online"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("camera never online\nserver log:\n%s", s.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

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
