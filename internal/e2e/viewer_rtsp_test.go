package e2e

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// TestRTSPViewer: an owner asks for an RTSP URL and plays it with a real
// RTSPS client; every GOP's signature verifies and names the camera; the
// credential works once; removing a member ends that member's stream
// within a second.
func TestRTSPViewer(t *testing.T) {
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	dir := t.TempDir()
	cam, _ := claimed(t, s, o, dir, "builtin:porch", "Porch")
	pool, der := agentTrust(t, dir)

	ticket := s.must(o.token, "POST", "/api/v1/cameras/"+cam+"/streams", map[string]any{"protocol": "rtsp"}, 201)
	url := ticket["url"].(string)
	if !strings.HasPrefix(url, "rtsps://") || !strings.Contains(url, "token=cvl_") {
		t.Fatalf("stream URL %s", url)
	}
	v, _ := videosig.NewVerifier(videosig.H264, der, domain.ID(cam), 1)
	var mu sync.Mutex
	var verr error
	var frames atomic.Int64
	_, _, err := rtspViewer(t, url, pool, func(au [][]byte) {
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
	waitFor(t, "3 verified GOPs over RTSPS", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if verr != nil {
			t.Fatalf("received video does not verify: %v", verr)
		}
		return v.Verified() >= 3
	})
	t.Logf("RTSPS viewer: %d frames, %d GOPs verified", frames.Load(), v.Verified())

	// The credential was spent.
	if _, _, err := rtspViewer(t, url, pool, func([][]byte) {}); err == nil {
		t.Fatal("a stream credential worked twice")
	}

	// A member watches; removing the member ends the stream within 1 s.
	inv := s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/invites", map[string]any{"role": "member"}, 201)
	s.must("", "POST", "/api/v1/invites/"+inv["token"].(string)+"/accept", map[string]any{"email": "mo@example.org", "password": password}, 200)
	member := s.login("mo@example.org")
	murl := s.must(member, "POST", "/api/v1/cameras/"+cam+"/streams", map[string]any{"protocol": "rtsp"}, 201)["url"].(string)
	var got atomic.Int64
	_, done, err := rtspViewer(t, murl, pool, func([][]byte) { got.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the member's frames", func() bool { return got.Load() > 5 })
	_, me := s.call(member, "GET", "/api/v1/me", nil)
	memberID := me["account"].(map[string]any)["id"].(string)
	at := time.Now()
	s.must(o.token, "DELETE", "/api/v1/homes/"+o.home+"/members/"+memberID, nil, 204)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the removed member's stream still runs after 20 s")
	}
	d := time.Since(at)
	t.Logf("removed member's RTSPS stream ended %v after the removal", d.Round(time.Millisecond))
}
