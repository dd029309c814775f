package ingest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/camvault/camvault/internal/deviceca"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/media"
)

// fakeService is a Service of function fields.
type fakeService struct {
	authenticate func(ctx context.Context, cert *x509.Certificate) (domain.Camera, error)
}

func (f *fakeService) AuthenticateDevice(ctx context.Context, cert *x509.Certificate) (domain.Camera, error) {
	return f.authenticate(ctx, cert)
}

var _ Service = (*fakeService)(nil)

// ingestServer starts an ingest server on 127.0.0.1:0 for the fake and
// returns its address and a client TLS configuration holding a device
// certificate of the same CA, whose key the device's camera enrolled.
func ingestServer(t *testing.T, svc Service, hub *media.Hub) (string, *tls.Config, []byte) {
	t.Helper()
	ca, err := deviceca.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := ca.IssueDevice(&key.PublicKey, deviceca.Identity{Camera: "cam1", Generation: 1}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(Config{Service: svc, Hub: hub, TLS: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}}, l)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1",
		Certificates: []tls.Certificate{{Certificate: [][]byte{block.Bytes}, PrivateKey: key}}}
	return l.Addr().String(), client, pub
}

// publish announces an H.264 stream at path and reports the outcome.
func publish(addr string, conf *tls.Config, path string) error {
	forma := &format.H264{PayloadTyp: 96, PacketizationMode: 1,
		SPS: []byte{0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0xa0, 0x3d, 0xa1, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x18, 0x32, 0xa0},
		PPS: []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}}
	desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}}}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: "rtsps", Host: addr, TLSConfig: conf, Protocol: &tcp}
	err := c.StartRecording("rtsps://"+addr+path, desc)
	if err == nil {
		c.Close()
	}
	return err
}

func TestPublish(t *testing.T) {
	hub := media.New(media.Config{})
	fake := &fakeService{}
	addr, conf, key := ingestServer(t, fake, hub)
	for _, tc := range []struct {
		name   string
		auth   func() (domain.Camera, error)
		path   string
		accept bool
	}{
		{"own camera", func() (domain.Camera, error) { return domain.Camera{ID: "cam1", Generation: 1, DeviceKey: key}, nil }, "/cameras/cam1", true},
		{"another camera", func() (domain.Camera, error) { return domain.Camera{ID: "cam1", Generation: 1, DeviceKey: key}, nil }, "/cameras/cam2", false},
		{"no camera path", func() (domain.Camera, error) { return domain.Camera{ID: "cam1", Generation: 1, DeviceKey: key}, nil }, "/cam1", false},
		{"certificate refused", func() (domain.Camera, error) { return domain.Camera{}, errors.New("released") }, "/cameras/cam1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake.authenticate = func(context.Context, *x509.Certificate) (domain.Camera, error) { return tc.auth() }
			err := publish(addr, conf, tc.path)
			if tc.accept && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.accept && err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
