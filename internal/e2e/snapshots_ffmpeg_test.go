package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camvault/camvault/internal/clips"
)

// TestSnapshotsThroughFFmpeg: sources without a picture of their own —
// a file with no JPEG beside it (H.264 and H.265), a LAN camera, a
// capture device — give a JPEG of their video when nobody is watching
// (so the agent reads a keyframe for the occasion), and no ffmpeg is left
// running afterwards.
func TestSnapshotsThroughFFmpeg(t *testing.T) {
	requireFFmpeg(t)
	files := t.TempDir()
	h264 := filepath.Join(files, "porch.h264")
	h265 := filepath.Join(files, "garden.hevc")
	os.WriteFile(h264, clips.PorchH264, 0o600)
	os.WriteFile(h265, clips.GardenH265, 0o600)
	lan := startLANCamera(t)

	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	tests := []struct {
		name, source string
		w, h         int
	}{
		{"H.264 file", "file:" + h264, 640, 360},
		{"H.265 file", "file:" + h265, 640, 360},
		{"LAN camera", "rtsp://viewer:s3cret@" + lan + "/cam", 640, 360},
		{"capture device", "device:lavfi:testsrc2=size=320x240:rate=15", 320, 240},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cam, _ := claimed(t, s, o, t.TempDir(), tt.source, tt.name)
			code, pic := fetchSnapshot(t, s, o.token, cam)
			if code != http.StatusOK {
				t.Fatalf("snapshot: %d %s\n%s", code, pic, s.logs.String())
			}
			decodeJPEG(t, pic, tt.w, tt.h)
			if pids := ffmpegChildren(); len(pids) != 0 {
				t.Fatalf("ffmpeg still runs after the snapshot: %v", pids)
			}
		})
	}
	if strings.Contains(s.logs.String(), "s3cret") {
		t.Fatal("the camera's password appears in a log")
	}
}
