package e2e

import (
	"io"
	"net"
	"net/http"
	"regexp"
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

	// A credential that was never issued opens nothing.
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

// TestHLSBoundToFirstClient: an LL-HLS URL, once used, plays only for the
// address that used it first: its playlists and segments asked for from
// another address (127.0.0.2, also loopback) are "not found", like an
// unknown token, and that asking neither opens a session nor ends the
// first viewer's.
func TestHLSBoundToFirstClient(t *testing.T) {
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	cam, _ := claimed(t, s, o, t.TempDir(), "builtin:porch", "Porch")
	url := s.must(o.token, "POST", "/api/v1/cameras/"+cam+"/streams", map[string]any{"protocol": "hls"}, 201)["url"].(string)

	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	first, other := from("127.0.0.1"), from("127.0.0.2")
	get := func(c *http.Client, u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, index := get(first, url)
	if code != 200 || !strings.HasPrefix(index, "#EXTM3U") {
		t.Fatalf("first client's playlist: %d %.200s", code, index)
	}
	// Every URI in the playlists, and the playlist itself, from elsewhere.
	base := url[:strings.LastIndex(url, "/")+1]
	uris := []string{url}
	for _, line := range strings.Split(index, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			uris = append(uris, base+line)
		}
	}
	if len(uris) < 2 {
		t.Fatalf("no stream playlist in:\n%s", index)
	}
	code, media := get(first, uris[1])
	if code != 200 {
		t.Fatalf("first client's stream playlist: %d %.200s", code, media)
	}
	for _, m := range regexp.MustCompile(`(?:URI="|\n)([^#"\n][^"\n]*)`).FindAllStringSubmatch(media, -1) {
		uris = append(uris, base+m[1])
	}
	if len(uris) < 3 {
		t.Fatalf("no segment in:\n%s", media)
	}
	for _, u := range uris {
		if code, body := get(other, u); code != 404 || !strings.Contains(body, "not_found") {
			name, _, _ := strings.Cut(u[len(base):], "?")
			t.Errorf("%s from another address: %d %.100q, want 404", name, code, body)
		}
	}
	if code, _ := get(first, uris[1]); code != 200 {
		t.Fatalf("the first client's session ended: %d", code)
	}
}
