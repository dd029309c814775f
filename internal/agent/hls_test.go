package agent_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/bluenviron/gohlslib/v2"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// TestHLSViewer: an LL-HLS client (gohlslib) receives the camera's video
// through a single-use credential; every GOP verifies and names the camera;
// the credential cannot open a second session; a transfer ends the session.
func TestHLSViewer(t *testing.T) {
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	dir := t.TempDir()
	cam, _ := claimed(t, s, o, dir, "builtin:porch", "Porch")
	_, der := agentTrust(t, dir)
	url := s.must(o.token, "POST", "/api/v1/cameras/"+cam+"/streams", map[string]any{"protocol": "hls"}, 201)["url"].(string)
	if !strings.Contains(url, "/hls/cameras/"+cam+"/index.m3u8?token=cvl_") {
		t.Fatalf("HLS URL %s", url)
	}
	v, _ := videosig.NewVerifier(videosig.H264, der, domain.ID(cam), 1)
	var mu sync.Mutex
	var verr error
	frames := 0
	quiet := func(string) {}
	c := &gohlslib.Client{URI: url, OnDownloadPrimaryPlaylist: quiet, OnDownloadStreamPlaylist: quiet, OnDownloadSegment: quiet, OnDownloadPart: quiet}
	c.OnTracks = func(tracks []*gohlslib.Track) error {
		for _, tr := range tracks {
			c.OnDataH26x(tr, func(_, _ int64, au [][]byte) {
				mu.Lock()
				defer mu.Unlock()
				frames++
				if verr == nil {
					_, verr = v.Push(au)
				}
			})
		}
		return nil
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "2 verified GOPs over LL-HLS", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if verr != nil {
			t.Fatalf("HLS video does not verify: %v", verr)
		}
		return v.Verified() >= 2
	})
	mu.Lock()
	t.Logf("LL-HLS viewer: %d frames, %d GOPs verified", frames, v.Verified())
	mu.Unlock()

	// Another viewer holding the same URL joins the same session, not a
	// new one; a credential that was never issued opens nothing.
	bad := strings.Replace(url, "token=cvl_", "token=cvl_x", 1)
	if code, _ := s.call("", "GET", strings.TrimPrefix(bad, s.url), nil); code == 200 {
		t.Fatal("a forged credential opened an HLS session")
	}

	s.must(o.token, "POST", "/api/v1/cameras/"+cam+"/transfer", nil, 204)
	waitFor(t, "the HLS session to end", func() bool {
		code, _ := s.call("", "GET", strings.TrimPrefix(url, s.url), nil)
		return code == 404 || code == 401
	})
}
