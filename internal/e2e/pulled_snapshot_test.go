package e2e

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/camvault/camvault/internal/config"
)

// snapshot gets a camera's snapshot as the owner.
func (s *server) snapshot(token, camera string) (int, string, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.url+"/api/v1/cameras/"+camera+"/snapshot", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// TestPulledSnapshot: without a snapshot URL, a pulled camera's snapshot
// is its stream's keyframe decoded by ffmpeg on the server (asking for
// the stream if it was not running).
func TestPulledSnapshot(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed; TestPulledSnapshotReason covers a server without it")
	}
	addr := startLANCamera(t)
	s := startServer(t, func(c *config.Config) { c.Live.PullNetworks = "127.0.0.0/8" })
	o := s.setup("ana@example.org", "Casa")
	cam := s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/pull", map[string]any{"name": "IP cam", "source": "rtsp://" + addr + "/cam"}, 201)
	code, ctype, body := s.snapshot(o.token, cam["id"].(string))
	if code != 200 || ctype != "image/jpeg" {
		t.Fatalf("snapshot: %d %s %.200s", code, ctype, body)
	}
	img, err := jpeg.Decode(bytes.NewReader(body))
	if err != nil || img.Bounds().Dx() != 640 {
		t.Fatalf("not the camera's picture: %v %v", err, img)
	}
}

// TestPulledSnapshotReason: a pulled camera with no snapshot URL on a
// server without ffmpeg answers 503 saying so.
func TestPulledSnapshotReason(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no ffmpeg here
	s := startServer(t, func(c *config.Config) { c.Live.PullNetworks = "127.0.0.0/8" })
	o := s.setup("ana@example.org", "Casa")
	cam := s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/pull", map[string]any{"name": "IP cam", "source": "rtsp://" + freePort(t) + "/cam"}, 201)
	code, _, body := s.snapshot(o.token, cam["id"].(string))
	if code != 503 || !strings.Contains(string(body), "no_snapshot") ||
		!strings.Contains(string(body), "this pulled camera has no snapshot URL and ffmpeg is not installed on the server") {
		t.Fatalf("without ffmpeg: %d %s", code, body)
	}
}

// TestPulledSnapshotURL: a pulled camera's snapshot URL (HTTP Basic
// credentials in it) gives its snapshots; the URL never comes back or
// reaches a log; an answer that is not a JPEG is refused; URLs off the
// allowed networks or of other schemes are refused when the camera is
// added.
func TestPulledSnapshotURL(t *testing.T) {
	var pic bytes.Buffer
	if err := jpeg.Encode(&pic, image.NewGray(image.Rect(0, 0, 48, 32)), nil); err != nil {
		t.Fatal(err)
	}
	cam := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "sn4p-pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="camera"`)
			http.Error(w, "log in", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/login.html" {
			w.Write([]byte("<html>please log in</html>"))
			return
		}
		w.Write(pic.Bytes())
	}))
	defer cam.Close()
	host := strings.TrimPrefix(cam.URL, "http://")
	s := startServer(t, func(c *config.Config) { c.Live.PullNetworks = "127.0.0.0/8" })
	o := s.setup("ana@example.org", "Casa")
	add := func(snapshotURL string) (int, map[string]any) {
		return s.call(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/pull",
			map[string]any{"name": "IP cam", "source": "rtsp://admin:rtsp-pw@" + freePort(t) + "/cam", "snapshot_url": snapshotURL})
	}
	code, good := add("http://admin:sn4p-pw@" + host + "/cgi-bin/snapshot.jpg")
	if code != 201 {
		t.Fatalf("add: %d %v", code, good)
	}
	id := good["id"].(string)
	code, ctype, body := s.snapshot(o.token, id)
	if code != 200 || ctype != "image/jpeg" || !bytes.Equal(body, pic.Bytes()) {
		t.Fatalf("snapshot: %d %s %.200s", code, ctype, body)
	}
	code, bad := add("http://admin:sn4p-pw@" + host + "/login.html")
	if code != 201 {
		t.Fatalf("add: %d %v", code, bad)
	}
	code, _, body = s.snapshot(o.token, bad["id"].(string))
	if code != 503 || !strings.Contains(string(body), "no_snapshot") || strings.Contains(string(body), "login") {
		t.Fatalf("a page that is not a JPEG: %d %s", code, body)
	}
	for _, u := range []string{
		"http://admin:sn4p-pw@169.254.169.254/latest/meta-data",
		"http://admin:sn4p-pw@192.168.1.20/snap.jpg", // not listed on this server
		"ftp://admin:sn4p-pw@" + host + "/snap.jpg",
		"http:///snap.jpg",
	} {
		code, out := add(u)
		if code != 400 || strings.Contains(toJSON(out), "sn4p-pw") {
			t.Errorf("%s: %d %v", u, code, out)
		}
	}
	for _, path := range []string{"/api/v1/cameras/" + id, "/api/v1/homes/" + o.home + "/cameras", "/api/v1/homes/" + o.home + "/audit"} {
		_, out := s.call(o.token, "GET", path, nil)
		if j := toJSON(out); strings.Contains(j, "sn4p-pw") || strings.Contains(j, "snapshot.jpg") {
			t.Fatalf("%s returns the snapshot URL: %s", path, j)
		}
	}
	if logs := s.logs.String(); strings.Contains(logs, "sn4p-pw") || strings.Contains(logs, "snapshot.jpg") || strings.Contains(logs, "login.html") {
		t.Fatalf("the snapshot URL reached the log:\n%s", logs)
	}
	if !strings.Contains(s.logs.String(), "did not answer with a JPEG") {
		t.Fatalf("the refused answer was not logged:\n%s", s.logs.String())
	}
}

// TestPulledSnapshotFailuresAlike: whatever is at a pulled camera's
// snapshot address — nothing (a closed port), something that is not HTTP,
// something silent, TLS expected from a plain server, a camera refusing
// the credentials, an error status, a page that is not a JPEG — the
// viewer gets the same answer, so the server is no port scanner. The
// reasons differ only in the server's log.
func TestPulledSnapshotFailuresAlike(t *testing.T) {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/auth":
			w.Header().Set("WWW-Authenticate", `Basic realm="camera"`)
			http.Error(w, "log in", http.StatusUnauthorized)
		case "/page":
			w.Write([]byte("<html>hello</html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer web.Close()
	host := strings.TrimPrefix(web.URL, "http://")
	// A service that is not HTTP: it greets and hangs up.
	banner := listen(t, func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n")); c.Close() })
	// A service that never answers: the fetch times out.
	var silentConns []net.Conn
	var mu sync.Mutex
	silent := listen(t, func(c net.Conn) { mu.Lock(); silentConns = append(silentConns, c); mu.Unlock() })
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range silentConns {
			c.Close()
		}
	}()

	s := startServer(t, func(c *config.Config) { c.Live.PullNetworks = "127.0.0.0/8" })
	o := s.setup("ana@example.org", "Casa")
	cases := map[string]string{
		"closed port":     "http://" + freePort(t) + "/snap.jpg",
		"not HTTP":        "http://" + banner + "/snap.jpg",
		"silent":          "http://" + silent + "/snap.jpg",
		"TLS to plain":    "https://" + host + "/snap.jpg",
		"wrong password":  "http://admin:nope@" + host + "/auth",
		"error status":    "http://" + host + "/missing",
		"not a JPEG":      "http://" + host + "/page",
		"no such service": "https://" + freePort(t) + "/snap.jpg",
	}
	type answer struct {
		code          int
		errCode, text string
	}
	answers := map[string]answer{}
	var wg sync.WaitGroup
	for name, u := range cases {
		cam := s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/pull",
			map[string]any{"name": "IP cam", "source": "rtsp://" + freePort(t) + "/cam", "snapshot_url": u}, 201)["id"].(string)
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, body := s.snapshot(o.token, cam)
			var e struct {
				Error struct{ Code, Message string }
			}
			json.Unmarshal(body, &e)
			mu.Lock()
			answers[name] = answer{code, e.Error.Code, e.Error.Message}
			mu.Unlock()
		}()
	}
	wg.Wait()
	want := answers["closed port"]
	if want.code != 503 || want.errCode != "no_snapshot" || want.text == "" {
		t.Fatalf("closed port: %+v", want)
	}
	for name, got := range answers {
		if got != want {
			t.Errorf("%s: %+v, unlike a closed port's %+v", name, got, want)
		}
	}
}

// listen serves each connection to a fresh loopback listener with serve,
// and returns its address.
func listen(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			serve(c)
		}
	}()
	return l.Addr().String()
}
