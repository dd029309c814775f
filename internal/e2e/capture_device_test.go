package e2e

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/agent"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// lavfiDevice is a capture device every ffmpeg has: a generated picture.
const lavfiDevice = "device:lavfi:testsrc2=size=640x360:rate=15"

// TestDeviceSource: an agent reads a capture device through ffmpeg only
// while the server wants video. A real RTSPS viewer receives frames whose
// signatures verify against the device key; a snapshot meanwhile is a
// JPEG of the device's picture; when the last viewer has gone, ffmpeg
// stops.
func TestDeviceSource(t *testing.T) {
	requireFFmpeg(t)
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	dir := t.TempDir()
	cam, _ := claimed(t, s, o, dir, lavfiDevice, "Desk")
	if pids := ffmpegChildren(); len(pids) != 0 {
		t.Fatalf("ffmpeg runs before anyone watches: %v", pids)
	}
	pool, der := agentTrust(t, dir)

	url := s.must(o.token, "POST", "/api/v1/cameras/"+cam+"/streams", map[string]any{"protocol": "rtsp"}, 201)["url"].(string)
	v, _ := videosig.NewVerifier(videosig.H264, der, domain.ID(cam), 1)
	var mu sync.Mutex // guards verr
	var verr error
	var frames atomic.Int64
	start := time.Now()
	c, _, err := rtspViewer(t, url, pool, func(au [][]byte) {
		mu.Lock()
		defer mu.Unlock()
		frames.Add(1)
		if verr == nil {
			_, verr = v.Push(au)
		}
	})
	if err != nil {
		t.Fatalf("play: %v\n%s", err, s.logs.String())
	}
	waitFor(t, "2 verified GOPs of the device over RTSPS", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if verr != nil {
			t.Fatalf("received video does not verify: %v\n%s", verr, s.logs.String())
		}
		return v.Verified() >= 2
	})
	t.Logf("RTSPS viewer of a device: %d frames, %d GOPs verified in %v", frames.Load(), v.Verified(), time.Since(start).Round(time.Millisecond))
	if pids := ffmpegChildren(); len(pids) != 1 {
		t.Fatalf("ffmpeg processes while streaming: %v, want one", pids)
	}

	code, pic := fetchSnapshot(t, s, o.token, cam)
	if code != http.StatusOK {
		t.Fatalf("snapshot: %d %s", code, pic)
	}
	decodeJPEG(t, pic, 640, 360)

	// On demand: the viewer leaves, the stream lingers, ffmpeg stops.
	c.Close()
	waitFor(t, "ffmpeg to stop after the last viewer left", func() bool { return len(ffmpegChildren()) == 0 })
	if strings.Contains(s.logs.String(), "ffmpeg failed") {
		t.Errorf("stopping ffmpeg on purpose was logged as a failure:\n%s", s.logs.String())
	}
}

// TestDeviceRestart: when ffmpeg dies the agent starts it again and the
// camera's viewers get signed video again, as a new stream.
func TestDeviceRestart(t *testing.T) {
	requireFFmpeg(t)
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	dir := t.TempDir()
	cam, _ := claimed(t, s, o, dir, lavfiDevice, "Desk")
	_, der := agentTrust(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	caller, _ := s.parts.Service.Authenticate(ctx, o.token, "127.0.0.1", "t")
	r, err := s.openLive(ctx, caller, domain.ID(cam))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	v, _ := videosig.NewVerifier(videosig.H264, der, domain.ID(cam), 1)
	for v.Verified() < 1 {
		au, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v\n%s", err, s.logs.String())
		}
		if _, err := v.Push(au.NALUs); err != nil {
			t.Fatalf("does not verify: %v", err)
		}
	}
	first := ffmpegChildren()
	if len(first) != 1 {
		t.Fatalf("ffmpeg processes: %v, want one", first)
	}
	if err := syscall.Kill(first[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()

	// The old stream ends mid-GOP; the new one starts with a keyframe
	// that claims no earlier GOP, which a verifier of the old stream
	// refuses. From there a fresh verifier must verify it.
	restarted := false
	for v.Verified() < 2 || !restarted {
		au, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v\n%s", err, s.logs.String())
		}
		_, err = v.Push(au.NALUs)
		switch {
		case err == nil:
		case errors.Is(err, videosig.ErrUnsigned) && !restarted:
			restarted = true
			t.Logf("video again %v after ffmpeg was killed", time.Since(killed).Round(time.Millisecond))
			v, _ = videosig.NewVerifier(videosig.H264, der, domain.ID(cam), 1)
			if _, err := v.Push(au.NALUs); err != nil {
				t.Fatalf("the new stream's first unit: %v", err)
			}
		default:
			t.Fatalf("does not verify: %v", err)
		}
	}
	now := ffmpegChildren()
	if len(now) != 1 || slices.Contains(now, first[0]) {
		t.Fatalf("ffmpeg processes %v after the restart (the killed one was %d)", now, first[0])
	}
	if !strings.Contains(s.logs.String(), "ffmpeg failed") {
		t.Error("the agent did not log ffmpeg's failure")
	}
}

// TestDeviceWithoutFFmpeg: without ffmpeg the agent reports its capture
// device unhealthy with the reason, stays connected when asked for video,
// and a snapshot is refused without breaking anything.
func TestDeviceWithoutFFmpeg(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	ag, _ := runAgentSource(t, s, t.TempDir(), lavfiDevice)
	cam := s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/claim", map[string]any{"claim_code": claimCode(t, ag), "name": "Desk"}, 201)["id"].(string)
	connected(t, ag)
	waitFor(t, "the source's health", func() bool {
		return ag.Status().SourceHealth == "ffmpeg not installed (needed for capture devices)"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	caller, _ := s.parts.Service.Authenticate(ctx, o.token, "127.0.0.1", "t")
	r, err := s.openLive(ctx, caller, domain.ID(cam))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitFor(t, "the stream's failure to be reported", func() bool {
		return strings.Contains(ag.Status().LastError, "ffmpeg not installed")
	})
	if code, body := fetchSnapshot(t, s, o.token, cam); code != http.StatusServiceUnavailable {
		t.Fatalf("snapshot: %d %s, want 503", code, body)
	}
	if st := ag.Status(); st.State != agent.StateConnected || st.Streaming {
		t.Fatalf("agent: %+v", st)
	}
}
