package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/agent"
	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// TestSecondHandCamera: home A claims a camera and holds sessions, an API
// token and a guest grant for it; the device is factory reset and home B
// claims it. Every home-A credential fails with 404, A's old device
// certificate is refused, B has full access, and both audit logs tell.
func TestSecondHandCamera(t *testing.T) {
	s := startServer(t, nil)
	a := s.setup("ana@example.org", "Casa Ana")
	b := s.signup("bo@example.org", "Bo's flat")
	stateDir := filepath.Join(t.TempDir(), "agent")

	ag, stop := runAgent(t, s, stateDir)
	code := claimCode(t, ag)
	cam := s.must(a.token, "POST", "/api/v1/homes/"+a.home+"/cameras/claim", map[string]any{"claim_code": code, "name": "Porch"}, 201)
	camX := cam["id"].(string)
	if cam["generation"].(float64) != 1 {
		t.Fatalf("claimed camera: %v", cam)
	}
	connected(t, ag)
	waitFor(t, "the camera to show online", func() bool {
		_, c := s.call(a.token, "GET", "/api/v1/cameras/"+camX, nil)
		return c["online"] == true
	})

	// Home A's credentials for the camera: the owner's session, a
	// personal API token, and a guest limited to this camera.
	s.must(a.token, "POST", "/api/v1/me/reauth", map[string]any{"password": password}, 204)
	apiToken := s.must(a.token, "POST", "/api/v1/me/tokens", map[string]any{"name": "script"}, 201)["token"].(string)
	inv := s.must(a.token, "POST", "/api/v1/homes/"+a.home+"/invites", map[string]any{"role": "guest", "cameras": []string{camX}, "actions": []string{"live"}}, 201)
	s.must("", "POST", "/api/v1/invites/"+inv["token"].(string)+"/accept", map[string]any{"email": "gina@example.org", "password": password}, 200)
	guest := s.login("gina@example.org")
	creds := map[string]string{"owner session": a.token, "API token": apiToken, "guest": guest}
	for name, tok := range creds {
		s.must(tok, "GET", "/api/v1/cameras/"+camX, nil, 200)
		_ = name
	}
	// Keep a copy of the old identity to try it later.
	oldKey, _ := os.ReadFile(filepath.Join(stateDir, "device-key.pem"))
	oldCert, _ := os.ReadFile(filepath.Join(stateDir, "device-cert.pem"))
	oldServer, _ := os.ReadFile(filepath.Join(stateDir, "server.json"))

	// Factory reset.
	stop()
	told, err := agent.Reset(context.Background(), stateDir, nil)
	if err != nil || !told {
		t.Fatalf("reset: told=%v err=%v", told, err)
	}
	for _, f := range []string{"device-key.pem", "device-cert.pem", "server.json"} {
		if _, err := os.Stat(filepath.Join(stateDir, f)); !os.IsNotExist(err) {
			t.Fatalf("%s survived the reset", f)
		}
	}

	// The reset device starts afresh; home B claims it.
	ag2, _ := runAgent(t, s, stateDir)
	code2 := claimCode(t, ag2)
	if code2 == code {
		t.Fatal("the reset device shows its old claim code")
	}
	camB := s.must(b.token, "POST", "/api/v1/homes/"+b.home+"/cameras/claim", map[string]any{"claim_code": code2, "name": "Hall"}, 201)
	camY := camB["id"].(string)
	connected(t, ag2)

	// Every home-A credential now fails, for the old camera and the new.
	for name, tok := range creds {
		for _, id := range []string{camX, camY} {
			if c, out := s.call(tok, "GET", "/api/v1/cameras/"+id, nil); c != 404 {
				t.Errorf("%s on camera %s after the reset: %d %v, want 404", name, id, c, out)
			}
		}
		if c, out := s.call(tok, "GET", "/api/v1/homes/"+a.home+"/cameras", nil); c == 200 {
			if list := out["cameras"].([]any); len(list) != 0 {
				t.Errorf("%s still lists cameras in home A: %v", name, list)
			}
		}
		if c, _ := s.call(tok, "GET", "/api/v1/homes/"+b.home+"/cameras", nil); c != 404 {
			t.Errorf("%s reads home B's cameras: %d", name, c)
		}
	}
	// B has full access.
	got := s.must(b.token, "GET", "/api/v1/cameras/"+camY, nil, 200)
	if acts, _ := json.Marshal(got["actions"]); !strings.Contains(string(acts), "manage") || got["online"] != true {
		t.Fatalf("B's view of its camera: %v", got)
	}

	// A's old device certificate is refused at the handshake.
	err = dialWithOldIdentity(t, oldKey, oldCert, oldServer)
	if err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("the old device certificate: %v, want a TLS refusal", err)
	}
	t.Logf("old certificate refused: %v", err)

	// Both audit logs tell what happened.
	auditHas := func(o owner, action string) bool {
		out := s.must(o.token, "GET", "/api/v1/homes/"+o.home+"/audit?action="+action, nil, 200)
		return len(out["events"].([]any)) > 0
	}
	for _, c := range []struct {
		o      owner
		action string
	}{{a, "camera.claim"}, {a, "camera.reset"}, {a, "device.connect"}, {b, "camera.claim"}, {b, "device.connect"}} {
		if !auditHas(c.o, c.action) {
			t.Errorf("audit of %s lacks %s", c.o.home, c.action)
		}
	}
	// Nothing of home B's camera is in home A's log after the reset.
	out := s.must(a.token, "GET", "/api/v1/homes/"+a.home+"/audit?camera="+camY, nil, 200)
	if n := len(out["events"].([]any)); n != 0 {
		t.Errorf("home A's log has %d events of home B's camera", n)
	}
}

// dialWithOldIdentity tries the device listener with a saved identity.
func dialWithOldIdentity(t *testing.T, keyPEM, certPEM, serverJSON []byte) error {
	t.Helper()
	hc, deviceURL, _ := deviceHTTP(t, keyPEM, certPEM, serverJSON)
	resp, err := hc.Post(deviceURL+"/device/v1/reset", "application/json", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil
	}
	return &statusError{resp.StatusCode}
}

// deviceHTTP is an HTTPS client of the device listener with a device's
// identity, the listener's https:// URL, and the device key.
func deviceHTTP(t *testing.T, keyPEM, certPEM, serverJSON []byte) (*http.Client, string, crypto.Signer) {
	t.Helper()
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
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13}}}
	return hc, strings.Replace(st.DeviceURL, "wss://", "https://", 1), pair.PrivateKey.(crypto.Signer)
}

type statusError struct{ code int }

func (e *statusError) Error() string { return http.StatusText(e.code) }

// TestTransferRetiresDeviceKey: a seller copies the agent's device key,
// then transfers the camera. The agent makes a new key, enrols afresh as a
// new camera and shows a new claim code; the buyer claims it and streams
// video signed with the new key. The copied key gets no certificate, for
// the old camera or the buyer's. An agent that was off while its camera
// left its home finds its key retired when it returns, and starts over
// the same way.
func TestTransferRetiresDeviceKey(t *testing.T) {
	s := startServer(t, nil)
	seller := s.setup("ana@example.org", "Casa")
	buyer := s.signup("bo@example.org", "Flat")
	dir := filepath.Join(t.TempDir(), "agent")
	ag, stop := runAgentSource(t, s, dir, "builtin:porch")
	first := claimCode(t, ag)
	camX := s.must(seller.token, "POST", "/api/v1/homes/"+seller.home+"/cameras/claim", map[string]any{"claim_code": first, "name": "Porch"}, 201)["id"].(string)
	connected(t, ag)
	copied, _ := os.ReadFile(filepath.Join(dir, "device-key.pem"))
	if code, out := deviceCertificate(t, s, copied); code != 200 || out["claimed"] != true {
		t.Fatalf("the key before the transfer: %d %v, want a certificate", code, out)
	}

	s.must(seller.token, "POST", "/api/v1/cameras/"+camX+"/transfer", nil, 204)
	waitFor(t, "a new claim code", func() bool { c := ag.Status().ClaimCode; return c != "" && c != first })
	if id := ag.Status().CameraID; id == "" || id == camX {
		t.Fatalf("the agent enrolled again as camera %q, want a new camera", id)
	}
	got := s.must(buyer.token, "POST", "/api/v1/homes/"+buyer.home+"/cameras/claim", map[string]any{"claim_code": ag.Status().ClaimCode, "name": "Hall"}, 201)
	camY := got["id"].(string)
	if camY == camX || got["generation"].(float64) != 1 {
		t.Fatalf("the buyer's camera: %v (want a new camera at generation 1)", got)
	}
	connected(t, ag)

	// The copied key gets nothing.
	if code, out := deviceCertificate(t, s, copied); code == 200 || out["certificate"] != nil || out["claimed"] == true {
		t.Fatalf("the copied key after the buyer's claim: %d %v, want no certificate", code, out)
	}
	now, _ := os.ReadFile(filepath.Join(dir, "device-key.pem"))
	if len(now) == 0 || bytes.Equal(now, copied) {
		t.Fatal("the agent kept its device key after the transfer")
	}

	// The buyer streams, signed with the new key, at generation 1.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	caller, err := s.parts.Service.Authenticate(ctx, buyer.token, "127.0.0.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.openLive(ctx, caller, domain.ID(camY))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(now)
	k, _ := x509.ParsePKCS8PrivateKey(blk.Bytes)
	der, _ := x509.MarshalPKIXPublicKey(k.(crypto.Signer).Public())
	v, err := videosig.NewVerifier(videosig.H264, der, domain.ID(camY), 1)
	if err != nil {
		t.Fatal(err)
	}
	for v.Verified() < 2 {
		au, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("buyer's stream: %v\n%s", err, s.logs.String())
		}
		if au.Origin != (domain.CameraRef{Camera: domain.ID(camY), Generation: 1}) {
			t.Fatalf("frame of %+v", au.Origin)
		}
		if _, err := v.Push(au.NALUs); err != nil {
			t.Fatalf("the buyer's stream does not verify against the new key: %v", err)
		}
	}
	r.Close()

	// Removed while the agent is off: on its return the old key is
	// refused and it starts over with another.
	stop()
	s.must(buyer.token, "DELETE", "/api/v1/cameras/"+camY, nil, 204)
	ag2, _ := runAgentSource(t, s, dir, "builtin:porch")
	waitFor(t, "a claim code after the removal", func() bool {
		st := ag2.Status()
		return st.ClaimCode != "" && st.CameraID != "" && st.CameraID != camY
	})
	third, _ := os.ReadFile(filepath.Join(dir, "device-key.pem"))
	if bytes.Equal(third, now) {
		t.Fatal("the agent kept its device key after the removal")
	}
	if code, out := deviceCertificate(t, s, now); code == 200 {
		t.Fatalf("the removed camera's key: %d %v, want no certificate", code, out)
	}
}

// deviceCertificate asks the server for a certificate with a device key,
// as anyone holding a copy of the key could.
func deviceCertificate(t *testing.T, s *server, keyPEM []byte) (int, map[string]any) {
	t.Helper()
	return deviceRequest(t, s, keyPEM, authn.ProofCertificate, "/api/v1/devices/certificate")
}

// deviceRequest proves keyPEM for purpose and posts the proof to path.
func deviceRequest(t *testing.T, s *server, keyPEM []byte, purpose, path string) (int, map[string]any) {
	t.Helper()
	blk, _ := pem.Decode(keyPEM)
	if blk == nil {
		t.Fatal("device key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key := k.(*ecdsa.PrivateKey)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	ch := s.must("", "POST", "/api/v1/devices/challenge", map[string]any{}, 200)
	nonce, _ := ch["nonce"].(string)
	sig, err := authn.SignProof(key, purpose, nonce)
	if err != nil {
		t.Fatal(err)
	}
	return s.call("", "POST", path, map[string]any{"public_key": der, "nonce": nonce, "signature": sig})
}

// TestCopiedKeyCannotReenrol: a seller who kept a copy of the device key
// transfers the camera while it is unplugged and enrols the copy again the
// moment its key is retired, hoping to claim it into a home of its own and
// have the real device, back at the buyer's, take that home's certificate.
// The retired key never enrols again; the device makes a new key.
func TestCopiedKeyCannotReenrol(t *testing.T) {
	s := startServer(t, nil)
	seller := s.setup("ana@example.org", "Casa")
	dir := filepath.Join(t.TempDir(), "agent")
	ag, stop := runAgentSource(t, s, dir, "builtin:porch")
	camX := s.must(seller.token, "POST", "/api/v1/homes/"+seller.home+"/cameras/claim", map[string]any{"claim_code": claimCode(t, ag), "name": "Porch"}, 201)["id"].(string)
	connected(t, ag)
	copied, _ := os.ReadFile(filepath.Join(dir, "device-key.pem"))
	stop()

	s.must(seller.token, "POST", "/api/v1/cameras/"+camX+"/transfer", nil, 204)
	code, out := deviceRequest(t, s, copied, authn.ProofEnroll, "/api/v1/devices/enroll")
	if code != 409 || out["claim_code"] != nil {
		t.Fatalf("the retired key enrolled again: %d %v", code, out)
	}
	if code, out := deviceCertificate(t, s, copied); code == 200 {
		t.Fatalf("the retired key got an answer: %d %v", code, out)
	}

	// Back at the buyer's, the device makes a new key and a new camera.
	ag2, _ := runAgentSource(t, s, dir, "builtin:porch")
	waitFor(t, "a claim code for a new camera", func() bool {
		st := ag2.Status()
		return st.ClaimCode != "" && st.CameraID != "" && st.CameraID != camX
	})
	if now, _ := os.ReadFile(filepath.Join(dir, "device-key.pem")); bytes.Equal(now, copied) {
		t.Fatal("the device kept its retired key")
	}
}
