package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

// TestMalformedRTSP throws malformed RTSP at the ingest with a genuine
// device certificate — garbage, oversized headers, broken SDP, interleaved
// frames out of nowhere — while another camera streams to a viewer. The
// server stays up and the viewer's stream never stalls.
func TestMalformedRTSP(t *testing.T) {
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	good, _ := runAgentSource(t, s, t.TempDir(), "builtin:porch")
	goodCam := s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/claim", map[string]any{"claim_code": claimCode(t, good), "name": "Good"}, 201)["id"].(string)
	connected(t, good)
	evilDir := t.TempDir()
	evil, stopEvil := runAgentSource(t, s, evilDir, "builtin:porch")
	evilCam := s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/claim", map[string]any{"claim_code": claimCode(t, evil), "name": "Evil"}, 201)["id"].(string)
	connected(t, evil)
	stopEvil()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	caller, _ := s.parts.Service.Authenticate(ctx, o.token, "127.0.0.1", "t")
	r, err := s.openLive(ctx, caller, domain.ID(goodCam))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var frames atomic.Int64
	var stalled atomic.Bool
	go func() {
		for {
			rctx, rc := context.WithTimeout(ctx, 2*time.Second)
			_, err := r.Read(rctx)
			rc()
			if err != nil {
				if ctx.Err() == nil {
					stalled.Store(true)
				}
				return
			}
			frames.Add(1)
		}
	}()
	waitFor(t, "the good camera's frames", func() bool { return frames.Load() > 10 })

	keyPEM, _ := os.ReadFile(filepath.Join(evilDir, "device-key.pem"))
	certPEM, _ := os.ReadFile(filepath.Join(evilDir, "device-cert.pem"))
	serverJSON, _ := os.ReadFile(filepath.Join(evilDir, "server.json"))
	pair, _ := tls.X509KeyPair(certPEM, keyPEM)
	var st struct{ CA string }
	json.Unmarshal(serverJSON, &st)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(st.CA))
	host := strings.TrimPrefix(ingestURL(t, s), "rtsps://")
	path := "rtsps://" + host + "/cameras/" + evilCam
	sdpBad := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 sprop-parameter-sets=!!!!,@@@@\r\n"
	attacks := []string{
		"GARBAGE\r\n\r\n",
		"OPTIONS " + path + " RTSP/1.0\r\nCSeq: 1\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("a", 1000)+"\r\n", 200) + "\r\n",
		fmt.Sprintf("ANNOUNCE %s RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", path, len(sdpBad), sdpBad),
		fmt.Sprintf("ANNOUNCE %s RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: 999999999\r\n\r\nv=0", path),
		"$\x00\xff\xff" + strings.Repeat("\x80", 64),
		"RECORD " + path + " RTSP/1.0\r\nCSeq: 2\r\nSession: nope\r\n\r\n",
		"DESCRIBE " + path + " RTSP/1.0\r\nCSeq: 1\r\n\r\n",
		"\x00\x00\x00\x01\x67\x42",
	}
	for i, a := range attacks {
		conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, ServerName: "localhost"})
		if err != nil {
			t.Fatalf("attack %d: dial: %v", i, err)
		}
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		conn.Write([]byte(a))
		buf := make([]byte, 4096)
		conn.Read(buf)
		conn.Close()
	}
	// Without a client certificate, nothing gets past TLS.
	if conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: pool, ServerName: "localhost"}); err == nil {
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		conn.Write([]byte("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"))
		if n, _ := conn.Read(make([]byte, 100)); n > 0 {
			t.Error("the ingest answered a client without a certificate")
		}
		conn.Close()
	}
	before := frames.Load()
	time.Sleep(time.Second)
	if frames.Load()-before < 10 || stalled.Load() {
		t.Fatalf("the good camera's stream stalled during the attacks (%d frames in the last second)", frames.Load()-before)
	}
	// The server still serves.
	s.must(o.token, "GET", "/api/v1/cameras/"+goodCam, nil, 200)
	t.Logf("%d malformed requests; the good stream delivered %d frames throughout", len(attacks), frames.Load())
}
