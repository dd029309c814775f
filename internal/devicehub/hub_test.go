package devicehub

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/camvault/camvault/internal/control"
	"github.com/camvault/camvault/internal/deviceca"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
)

// fakeService is a Service of function fields; a nil field does nothing
// (or fails, for those that return an error).
type fakeService struct {
	authenticate func(ctx context.Context, cert *x509.Certificate) (domain.Camera, error)
	seen         func(cam domain.Camera, version string)
	event        func(cam domain.Camera, action string)
	reset        func(cam domain.Camera) error
}

func (f *fakeService) AuthenticateDevice(ctx context.Context, cert *x509.Certificate) (domain.Camera, error) {
	return f.authenticate(ctx, cert)
}

func (f *fakeService) DeviceSeen(_ context.Context, cam domain.Camera, version string) {
	if f.seen != nil {
		f.seen(cam, version)
	}
}

func (f *fakeService) DeviceEvent(_ context.Context, cam domain.Camera, _, action, _ string) {
	if f.event != nil {
		f.event(cam, action)
	}
}

func (f *fakeService) DeviceMotion(context.Context, domain.Camera, time.Time) {}

func (f *fakeService) DeviceSnapshot(context.Context, domain.Camera, []byte) error {
	return errors.New("no snapshots here")
}

func (f *fakeService) DeviceReset(_ context.Context, cam domain.Camera, _ string) error {
	if f.reset == nil {
		return errors.New("no resets here")
	}
	return f.reset(cam)
}

var _ Service = (*fakeService)(nil)

// listener serves hub's routes over mutual TLS on 127.0.0.1:0 and returns
// an HTTP client holding a device certificate of the same CA.
func listener(t *testing.T, hub *Hub) (*httptest.Server, *http.Client) {
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
	block, _ := pem.Decode(certPEM)
	mux := http.NewServeMux()
	for _, r := range hub.Routes() {
		mux.HandleFunc(r.Pattern, func(w http.ResponseWriter, req *http.Request) {
			r.Handler(w, req, service.Caller{Addr: "127.0.0.1"})
		})
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = hub.TLSConfig(cert, ca)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs:      ca.Pool(),
		Certificates: []tls.Certificate{{Certificate: [][]byte{block.Bytes}, PrivateKey: key}},
	}}}
	t.Cleanup(client.CloseIdleConnections)
	return srv, client
}

func TestRefusesRejectedDevice(t *testing.T) {
	fake := &fakeService{authenticate: func(context.Context, *x509.Certificate) (domain.Camera, error) {
		return domain.Camera{}, errors.New("not a current device certificate")
	}}
	hub := New(Config{Service: fake})
	defer hub.Close()
	srv, client := listener(t, hub)
	resp, err := client.Post(srv.URL+"/device/v1/reset", "", nil)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a device whose certificate the service refused got an answer: %s", resp.Status)
	}
}

func TestReset(t *testing.T) {
	cam := domain.Camera{ID: "cam1", Generation: 1}
	reset := make(chan domain.Camera, 1)
	fake := &fakeService{
		authenticate: func(context.Context, *x509.Certificate) (domain.Camera, error) { return cam, nil },
		reset:        func(c domain.Camera) error { reset <- c; return nil },
	}
	hub := New(Config{Service: fake})
	defer hub.Close()
	srv, client := listener(t, hub)
	resp, err := client.Post(srv.URL+"/device/v1/reset", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %s", resp.Status)
	}
	if got := <-reset; got.ID != cam.ID {
		t.Fatalf("reset %s, want %s", got.ID, cam.ID)
	}
}

// TestControlSession holds a control session: the hub hears the device's
// hello, answers a message it cannot read with a refusal, routes a command
// to the device, and ends the session on release.
func TestControlSession(t *testing.T) {
	cam := domain.Camera{ID: "cam1", Generation: 1}
	seen := make(chan string, 4)
	hello := make(chan domain.Camera, 1)
	fake := &fakeService{
		authenticate: func(context.Context, *x509.Certificate) (domain.Camera, error) { return cam, nil },
		seen:         func(_ domain.Camera, version string) { seen <- version },
	}
	hub := New(Config{Service: fake, Hello: func(c domain.Camera) { hello <- c }})
	defer hub.Close()
	srv, client := listener(t, hub)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(srv.URL, "https")+"/device/v1/control", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	send := func(m control.Message) {
		t.Helper()
		b, err := control.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	read := func() control.Message {
		t.Helper()
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m, err := control.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	send(control.Message{Type: control.TypeHello, ID: "h1", Hello: &control.Hello{AgentVersion: "1.2.3"}})
	if got := <-hello; got.ID != cam.ID {
		t.Fatalf("hello for %s", got.ID)
	}
	for v := range seen {
		if v == "1.2.3" {
			break // the connect itself is seen too, without a version
		}
	}
	if !hub.Online(cam.ID) {
		t.Fatal("the camera is not online")
	}

	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"v":1,"type":"launch","id":"x1"}`)); err != nil {
		t.Fatal(err)
	}
	if m := read(); m.Type != control.TypeError || m.ReplyTo != "x1" || m.Error.Code != control.CodeUnknownType {
		t.Fatalf("answer to an unknown message: %+v", m)
	}

	start := control.Message{Type: control.TypeStartStream, Stream: &control.Stream{Profile: "main", URL: "rtsps://ingest.test/cameras/cam1"}}
	if !hub.Send(cam.ID, start) {
		t.Fatal("Send to a connected device failed")
	}
	if hub.Send("other", start) {
		t.Fatal("Send to a camera with no session succeeded")
	}
	if m := read(); m.Type != control.TypeStartStream || m.Stream.URL != start.Stream.URL {
		t.Fatalf("the device got %+v", m)
	}

	hub.Released(cam.ID)
	if m := read(); m.Type != control.TypeUnclaim {
		t.Fatalf("the released device got %+v", m)
	}
	if hub.Online(cam.ID) {
		t.Fatal("a released camera is still online")
	}
}
