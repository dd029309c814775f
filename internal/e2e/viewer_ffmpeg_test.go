package e2e

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestRTSPSWithFFmpeg: ffmpeg, the RTSP client inside Home Assistant and
// many NVRs, plays a viewer's RTSPS URL and decodes its pictures.
func TestRTSPSWithFFmpeg(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg is not installed; install it to check RTSPS interoperability")
	}
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	cam, _ := claimed(t, s, o, t.TempDir(), "builtin:porch", "Porch")
	url := s.must(o.token, "POST", "/api/v1/cameras/"+cam+"/streams", map[string]any{"protocol": "rtsp"}, 201)["url"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// 3 s of video, decoded; ffmpeg does not check the server's
	// certificate by default.
	out, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-nostdin", "-rtsp_transport", "tcp", "-i", url,
		"-t", "3", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`frame=\s*(\d+)`).FindAllSubmatch(out, -1)
	if len(m) == 0 {
		t.Fatalf("ffmpeg decoded nothing:\n%s", out)
	}
	n, _ := strconv.Atoi(string(m[len(m)-1][1]))
	if n < 30 {
		t.Fatalf("ffmpeg decoded %d frames in 3 s, want about 45:\n%s", n, out)
	}
	t.Logf("ffmpeg decoded %d frames over RTSPS", n)
}
