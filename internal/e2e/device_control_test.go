package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/camvault/camvault/internal/control"
)

// TestControlChannelRefusesBadMessages speaks to the device listener with
// a claimed device's identity: unknown types, other versions and
// malformed messages are answered with an error and the session goes on;
// oversized messages end it.
func TestControlChannelRefusesBadMessages(t *testing.T) {
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	dir := t.TempDir()
	ag, stop := runAgent(t, s, dir)
	cam := s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/claim", map[string]any{"claim_code": claimCode(t, ag), "name": "Porch"}, 201)["id"].(string)
	connected(t, ag)
	stop()

	keyPEM, _ := os.ReadFile(filepath.Join(dir, "device-key.pem"))
	certPEM, _ := os.ReadFile(filepath.Join(dir, "device-cert.pem"))
	serverJSON, _ := os.ReadFile(filepath.Join(dir, "server.json"))
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		CA        string `json:"ca"`
		DeviceURL string `json:"device_url"`
	}
	json.Unmarshal(serverJSON, &st)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(st.CA))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13}}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, st.DeviceURL+"/device/v1/control", &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()

	exchange := func(msg string) control.Message {
		t.Helper()
		if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("after %s: %v", msg, err)
		}
		m, err := control.Decode(b)
		if err != nil {
			t.Fatalf("server sent %s: %v", b, err)
		}
		return m
	}
	for msg, code := range map[string]string{
		`{"v":1,"type":"format_disk","id":"x1"}`: control.CodeUnknownType,
		`{"v":9,"type":"hello","id":"x2"}`:       control.CodeVersion,
		`{"v":1,"type":"status","id":"x3"}`:      control.CodeBadMessage,
		`{"v":1,"type":"ack","camera_id":"y"}`:   control.CodeBadMessage,
		`not json`:                               control.CodeBadMessage,
		// Devices may not send commands.
		`{"v":1,"type":"unclaim","id":"x4"}`: control.CodeUnknownType,
	} {
		m := exchange(msg)
		if m.Type != control.TypeError || m.Error.Code != code {
			t.Errorf("%s: got %+v, want error %s", msg, m, code)
		}
	}
	// The session survived all that: the device is online.
	hello, _ := control.Encode(control.Message{Type: control.TypeHello, ID: "h", Hello: &control.Hello{AgentVersion: "probe"}})
	if err := conn.Write(ctx, websocket.MessageText, hello); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "online", func() bool {
		_, c := s.call(o.token, "GET", "/api/v1/cameras/"+cam, nil)
		return c["online"] == true && c["agent_version"] == "probe"
	})
	// An oversized message ends the session.
	conn.Write(ctx, websocket.MessageText, []byte(`{"v":1,"type":"ack","id":"`+strings.Repeat("x", control.MaxMessageBytes)+`"}`))
	if _, _, err := conn.Read(ctx); err == nil {
		t.Fatal("the session went on after an oversized message")
	}
	waitFor(t, "offline", func() bool {
		_, c := s.call(o.token, "GET", "/api/v1/cameras/"+cam, nil)
		return c["online"] == false
	})
}
