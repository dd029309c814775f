package e2e

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// rtspViewer plays url with a real RTSPS client, trusting pool, and hands
// each access unit to onAU. It returns the client and a channel closed when
// the session ends.
func rtspViewer(t *testing.T, url string, pool *x509.CertPool, onAU func([][]byte)) (*gortsplib.Client, <-chan error, error) {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp, TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	if err := c.Start(); err != nil {
		return nil, nil, err
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		c.Close()
		t.Fatal("no H.264 in the stream")
	}
	dec, _ := forma.CreateDecoder()
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		c.Close()
		return nil, nil, err
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		if au, err := dec.Decode(pkt); err == nil {
			onAU(au)
		}
	})
	if _, err := c.Play(nil); err != nil {
		c.Close()
		return nil, nil, err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	t.Cleanup(c.Close)
	return c, done, nil
}

// agentTrust returns the device CA (which also signs the viewer RTSPS
// certificate on a server without TLS of its own) and the device's public
// key, from an agent's state dir.
func agentTrust(t *testing.T, dir string) (*x509.CertPool, []byte) {
	t.Helper()
	serverJSON, _ := os.ReadFile(filepath.Join(dir, "server.json"))
	var st struct {
		CA string `json:"ca"`
	}
	json.Unmarshal(serverJSON, &st)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(st.CA))
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "device-key.pem"))
	blk, _ := pem.Decode(keyPEM)
	k, _ := x509.ParsePKCS8PrivateKey(blk.Bytes)
	der, _ := x509.MarshalPKIXPublicKey(k.(crypto.Signer).Public())
	return pool, der
}

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
	case <-time.After(5 * time.Second):
		t.Fatal("the removed member's stream still runs after 5 s")
	}
	d := time.Since(at)
	if d > time.Second {
		t.Fatalf("the removed member's stream ended after %v, want under 1 s", d)
	}
	t.Logf("removed member's RTSPS stream ended %v after the removal", d.Round(time.Millisecond))
}
