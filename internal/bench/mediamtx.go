package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtp"
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

// writeCert makes a self-signed certificate for localhost.
func (p *peer) writeCert() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	cert, _ := x509.ParseCertificate(der)
	p.ca = x509.NewCertPool()
	p.ca.AddCert(cert)
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(p.dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
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
