package e2e

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/netguard"
)

// TestPullGuard: by default the server pulls from nowhere, and says that
// its administrator must allow the cameras' network first. Allowed the
// private LAN ranges, it pulls from them only — never its own loopback or
// the link-local cloud metadata address; the answer to a refused address
// says why without echoing credentials.
func TestPullGuard(t *testing.T) {
	off := startServer(t, nil)
	o := off.setup("ana@example.org", "Casa")
	code, body := off.call(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/pull", map[string]any{"name": "IP cam", "source": "rtsp://admin:s3cret@192.168.1.20/cam"})
	if j := toJSON(body); code != 403 || !strings.Contains(j, "pull_disabled") || !strings.Contains(j, "administrator") ||
		!strings.Contains(j, "live.pull_networks") || strings.Contains(j, "s3cret") {
		t.Fatalf("pulling with the default configuration: %d %v", code, body)
	}

	s := startServer(t, func(c *config.Config) { c.Live.PullNetworks = netguard.LANNetworks })
	o = s.setup("ana@example.org", "Casa")
	pull := func(src string) (int, map[string]any) {
		return s.call(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/pull", map[string]any{"name": "IP cam", "source": src})
	}
	for _, src := range []string{
		"rtsp://admin:s3cret@127.0.0.1:8554/cam",
		"rtsp://admin:s3cret@localhost/cam",
		"rtsp://admin:s3cret@169.254.169.254/latest",
		"rtsp://admin:s3cret@[::1]/cam",
		"rtsp://admin:s3cret@0.0.0.0/cam",
		"rtsp://admin:s3cret@8.8.8.8/cam",
	} {
		code, body := pull(src)
		if code != 400 || strings.Contains(toJSON(body), "s3cret") || !strings.Contains(toJSON(body), "pull_networks") {
			t.Errorf("%s: %d %v", src, code, body)
		}
	}
	if code, body := pull("rtsp://admin:s3cret@192.168.1.20/cam"); code != 201 {
		t.Fatalf("a LAN camera was refused: %d %v", code, body)
	}
}

// TestPullRedactsErrors: a pulled camera that does not answer is logged
// without its credentials.
func TestPullRedactsErrors(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.Live.PullNetworks = "127.0.0.0/8" })
	o := s.setup("ana@example.org", "Casa")
	cam := s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/pull",
		map[string]any{"name": "IP cam", "source": "rtsp://admin:s3cret-pw@" + freePort(t) + "/cam"}, 201)
	url := s.must(o.token, "POST", "/api/v1/cameras/"+cam["id"].(string)+"/streams", map[string]any{"protocol": "rtsp"}, 201)["url"].(string)
	// A viewer asks for the stream, so the server starts pulling.
	hostport := strings.SplitN(strings.TrimPrefix(url, "rtsps://"), "/", 2)[0]
	conn, err := tls.Dial("tcp", hostport, &tls.Config{InsecureSkipVerify: true}) // only to send the request
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "DESCRIBE %s RTSP/1.0\r\nCSeq: 1\r\n\r\n", url)
	waitFor(t, "the puller to fail", func() bool { return strings.Contains(s.logs.String(), "pulled camera unreachable") })
	time.Sleep(100 * time.Millisecond)
	if logs := s.logs.String(); strings.Contains(logs, "s3cret-pw") || strings.Contains(logs, "admin:") {
		t.Fatalf("a pulled camera's credentials reached the log:\n%s", logs)
	}
}
