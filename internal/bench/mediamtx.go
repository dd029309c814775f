package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtp"

	"github.com/camvault/camvault/internal/pki"
)

// peer is another media server's binary run with RTSPS only, for the same
// scenarios as camvault: publishers in this process push the feed, viewers
// read it back. Only MediaMTX's configuration is known.
type peer struct {
	plain bool // RTSP without TLS
	cmd   *exec.Cmd
	dir   string
	addr  string
	ca    *x509.CertPool
	feed  *feed
	pubMu sync.Mutex
	pubs  []*gortsplib.Client
}

// startMediaMTX runs binary with RTSPS (TCP) on loopback and nothing
// else; plain serves RTSP without TLS instead.
func startMediaMTX(ctx context.Context, binary string, f *feed, plain bool) (*peer, error) {
	dir, err := os.MkdirTemp("", "camvault-bench-peer-")
	if err != nil {
		return nil, err
	}
	p := &peer{dir: dir, addr: freeAddr(), feed: f, plain: plain}
	if err := p.writeCert(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	encryption, rtspAddr, rtspsAddr := "strict", freeAddr(), p.addr
	if plain {
		encryption, rtspAddr, rtspsAddr = "no", p.addr, freeAddr()
	}
	conf := fmt.Sprintf(`logLevel: warn
rtsp: true
rtspTransports: [tcp]
rtspEncryption: %q
rtspAddress: %s
rtspsAddress: %s
rtspServerKey: %s
rtspServerCert: %s
rtmp: false
hls: false
webrtc: false
srt: false
moq: false
api: false
metrics: false
pprof: false
playback: false
paths:
  all_others:
`, encryption, rtspAddr, rtspsAddr, filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem"))
	confPath := filepath.Join(dir, "mediamtx.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.cmd = exec.Command(binary, confPath)
	p.cmd.Dir = dir
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, errors.New("the peer server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p, nil
}

// writeCert makes a CA in the peer's folder and a certificate of it for
// localhost, as files for the peer.
func (p *peer) writeCert() error {
	ca, err := pki.Open(filepath.Join(p.dir, "ca"), pki.Names{Cert: "ca.pem", Key: "ca-key.pem", CommonName: "camvault bench peer CA"})
	if err != nil {
		return err
	}
	cert, err := ca.ServerCertificate("localhost", []string{"localhost", "127.0.0.1"}, 24*time.Hour, time.Now())
	if err != nil {
		return err
	}
	p.ca = ca.Pool()
	return pki.WriteKeyPair(filepath.Join(p.dir, "cert.pem"), filepath.Join(p.dir, "key.pem"), cert)
}

func (p *peer) name() string {
	if p.plain {
		return "mediamtx-plain"
	}
	return "mediamtx"
}

func (p *peer) pid() int             { return p.cmd.Process.Pid }
func (p *peer) pool() *x509.CertPool { return p.ca }

// addCameras publishes the feed to n paths, all from one pacing loop.
func (p *peer) addCameras(ctx context.Context, n int) ([]string, error) {
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprint("cam", i)
		c := &gortsplib.Client{Scheme: p.scheme(), Host: p.addr, Protocol: ptr(gortsplib.ProtocolTCP),
			TLSConfig: &tls.Config{RootCAs: p.ca, ServerName: "localhost"}}
		desc := &description.Session{Medias: []*description.Media{p.feed.medi}}
		if err := c.StartRecording(p.scheme()+"://"+p.addr+"/"+names[i], desc); err != nil {
			return nil, fmt.Errorf("publish to the peer: %w", err)
		}
		p.pubMu.Lock()
		p.pubs = append(p.pubs, c)
		p.pubMu.Unlock()
	}
	go p.feed.play(ctx, func(pkts []*rtp.Packet) {
		p.pubMu.Lock()
		defer p.pubMu.Unlock()
		for _, c := range p.pubs {
			for _, pkt := range pkts {
				c.WritePacketRTP(p.feed.medi, pkt)
			}
		}
	})
	return names, nil
}

func (p *peer) streamURL(_ context.Context, camera, protocol string) (string, error) {
	if protocol != "rtsp" {
		return "", errors.New("the peer is measured over RTSP only")
	}
	return p.scheme() + "://" + p.addr + "/" + camera, nil
}

func (p *peer) scheme() string {
	if p.plain {
		return "rtsp"
	}
	return "rtsps"
}

func (p *peer) stop() {
	p.pubMu.Lock()
	for _, c := range p.pubs {
		c.Close()
	}
	p.pubs = nil
	p.pubMu.Unlock()
	if p.cmd.Process != nil {
		p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
		}
	}
	os.RemoveAll(p.dir)
}

func ptr[T any](v T) *T { return &v }
