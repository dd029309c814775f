package api_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/service"
)

// claim claims code into home as u from addr, through the service (the
// HTTP test server's clients all come from one address), and answers as
// the API would.
func (e *env) claim(u *user, home domain.ID, code, addr string) (int, []byte) {
	e.t.Helper()
	c := u.caller
	c.Addr = addr
	cam, err := e.svc.ClaimCamera(context.Background(), c, home, code, "Porch")
	if err != nil {
		var se *service.Error
		errors.As(err, &se)
		return httpserver.Status(service.KindOf(err)), []byte(se.Code + ": " + se.Message)
	}
	return http.StatusCreated, []byte(fmt.Sprintf(`{"id":%q,"generation":%d}`, cam.ID, cam.Generation))
}

// raw sends body as JSON without credentials.
func (e *env) raw(method, path, body string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestClaimCodeSingleUseAndExpiry(t *testing.T) {
	e := newEnv(t)
	ana := e.newUser("ana")
	home, _ := e.svc.CreateHome(context.Background(), ana.caller, "Casa")
	d := e.enrollDevice(e.nextAddr())
	if code, b := e.claim(ana, home.ID, strings.ToLower(d.code), e.nextAddr()); code != 201 || !strings.Contains(string(b), `"generation":1`) {
		t.Fatalf("claim: %d %s", code, b)
	}
	if code, b := e.claim(ana, home.ID, d.code, e.nextAddr()); code != 400 || !strings.Contains(string(b), "bad_claim_code") {
		t.Fatalf("second use: %d %s", code, b)
	}
	// A claimed device re-enrolling gets no new code.
	en, err := e.svc.Enroll(context.Background(), e.nextAddr(), d.proof(e, e.nextAddr(), authn.ProofEnroll))
	if err != nil || !en.Claimed || en.ClaimCode != "" {
		t.Fatalf("re-enrolment of a claimed device: %+v %v", en, err)
	}
	// Codes expire after 24 hours.
	late := e.enrollDevice(e.nextAddr())
	e.clock.Advance(24*time.Hour + time.Second)
	if code, b := e.claim(ana, home.ID, late.code, e.nextAddr()); code != 400 {
		t.Fatalf("expired code: %d %s", code, b)
	}
	// A device that asks again gets a fresh code, and the old one is dead.
	again, err := e.svc.Enroll(context.Background(), e.nextAddr(), late.proof(e, e.nextAddr(), authn.ProofEnroll))
	if err != nil || again.Claimed || again.ClaimCode == late.code || again.CameraID != late.id {
		t.Fatalf("re-enrolment: %+v %v", again, err)
	}
	if code, b := e.claim(ana, home.ID, again.ClaimCode, e.nextAddr()); code != 201 {
		t.Fatalf("fresh code: %d %s", code, b)
	}
}

// TestClaimBruteForce: guessing codes is throttled per home (from many
// addresses) and per address (across homes).
func TestClaimBruteForce(t *testing.T) {
	e := newEnv(t)
	ana := e.newUser("ana")
	home, _ := e.svc.CreateHome(context.Background(), ana.caller, "Casa")
	d := e.enrollDevice(e.nextAddr())
	guess := func(int) string {
		c, _ := authn.NewClaimCode()
		return c
	}
	// Per home: every guess from a new address.
	var last int
	for i := range 12 {
		last, _ = e.claim(ana, home.ID, guess(i), e.nextAddr())
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("12th wrong code for one home from many addresses: %d, want 429", last)
	}
	// Even the right code waits now: the throttle does not look at codes.
	if code, _ := e.claim(ana, home.ID, d.code, e.nextAddr()); code != http.StatusTooManyRequests {
		t.Fatalf("right code while throttled: %d", code)
	}
	e.clock.Advance(time.Hour)
	if code, b := e.claim(ana, home.ID, d.code, e.nextAddr()); code != 201 {
		t.Fatalf("right code after waiting: %d %s", code, b)
	}

	// Per address: one address guessing across many homes.
	const addr = "192.0.2.77"
	for i := range 12 {
		u := e.newUser(fmt.Sprint("owner", i))
		h, _ := e.svc.CreateHome(context.Background(), u.caller, "H")
		last, _ = e.claim(u, h.ID, guess(i), addr)
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("12th wrong code from one address across homes: %d, want 429", last)
	}
	// The home's audit log shows the failures.
	if n := e.auditCount(domain.AuditFilter{HomeID: home.ID, Action: "camera.claim"}); n < 12 {
		t.Fatalf("only %d claim events audited", n)
	}
}

// TestClaimRaceAcrossHomes: two homes racing with the same code; exactly
// one gets the camera.
func TestClaimRaceAcrossHomes(t *testing.T) {
	e := newEnv(t)
	for round := range 5 {
		a, b := e.newUser("a"), e.newUser("b")
		ha, _ := e.svc.CreateHome(context.Background(), a.caller, "A")
		hb, _ := e.svc.CreateHome(context.Background(), b.caller, "B")
		d := e.enrollDevice(e.nextAddr())
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i, x := range []struct {
			u *user
			h domain.ID
		}{{a, ha.ID}, {b, hb.ID}} {
			wg.Go(func() { codes[i], _ = e.claim(x.u, x.h, d.code, e.nextAddr()) })
		}
		wg.Wait()
		wins := 0
		for _, c := range codes {
			if c == 201 {
				wins++
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: statuses %v, want exactly one 201", round, codes)
		}
		cam, _ := e.st.Camera(context.Background(), d.id)
		if (cam.HomeID == ha.ID) == (codes[0] != 201) || cam.Generation != 1 {
			t.Fatalf("round %d: camera %+v after statuses %v", round, cam, codes)
		}
	}
}

func TestEnrollRefusesBadProofs(t *testing.T) {
	e := newEnv(t)
	d := e.enrollDevice(e.nextAddr())
	addr := e.nextAddr()
	p := d.proof(e, addr, authn.ProofCertificate) // wrong purpose
	if _, err := e.svc.Enroll(context.Background(), addr, p); err == nil {
		t.Fatal("a certificate proof enrolled")
	}
	p = d.proof(e, addr, authn.ProofEnroll)
	if _, err := e.svc.Enroll(context.Background(), addr, p); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Enroll(context.Background(), addr, p); err == nil {
		t.Fatal("a nonce worked twice")
	}
	// Over HTTP: malformed and unknown fields are 400, never 500.
	for _, body := range []string{`{"public_key":"!!","nonce":"x","signature":""}`, `{"public_key":"","nonce":"","signature":"","camera_id":"x"}`, `[]`} {
		code, b := e.raw("POST", "/api/v1/devices/enroll", body)
		if code != 400 {
			t.Errorf("enroll %s: %d %s", body, code, b)
		}
	}
	// Enrolment is rate-limited per address.
	var last int
	for range 100 {
		last, _ = e.raw("POST", "/api/v1/devices/challenge", `{}`)
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("100 challenges at once from one address: last %d, want 429", last)
	}
}

// FuzzDeviceRequests feeds arbitrary bodies to the enrolment and
// certificate endpoints: they answer 4xx, never 5xx, and never panic.
func FuzzDeviceRequests(f *testing.F) {
	f.Add([]byte(`{"public_key":"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE","nonce":"abc","signature":"MEUCIQ=="}`), true)
	f.Add([]byte(`{"public_key":"","nonce":"","signature":""}`), false)
	f.Add([]byte(`{"nonce":1}`), true)
	f.Add([]byte(`{}`), false)
	e := newEnv(f)
	h := e.srv.Config.Handler
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, body []byte, enroll bool) {
		path := "/api/v1/devices/certificate"
		if enroll {
			path = "/api/v1/devices/enroll"
		}
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = fmt.Sprintf("[2001:db8:f::%x]:1234", n.Add(1))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code < 400 {
			t.Fatalf("%s %q: status %d %s", path, body, rec.Code, rec.Body)
		}
	})
}

// TestLeavingHomeRetiresDeviceKey: when a device-backed camera leaves its
// home — transferred, removed, or with its home deleted — its device key
// is retired: whoever copied it gets no certificate, and it never enrols
// again (a former owner's copy must not come back as a camera it could
// claim).
func TestLeavingHomeRetiresDeviceKey(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		leave func(e *env, u *user, home, cam domain.ID) error
	}{
		{"transfer", func(e *env, u *user, _, cam domain.ID) error { return e.svc.TransferCamera(ctx, u.caller, cam) }},
		{"remove", func(e *env, u *user, _, cam domain.ID) error { return e.svc.DeleteCamera(ctx, u.caller, cam) }},
		{"delete home", func(e *env, u *user, home, _ domain.ID) error { return e.svc.DeleteHome(ctx, u.caller, home) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ana := e.newUser("ana")
			home, _ := e.svc.CreateHome(ctx, ana.caller, "Casa")
			d := e.enrollDevice(e.nextAddr())
			if code, b := e.claim(ana, home.ID, d.code, e.nextAddr()); code != 201 {
				t.Fatalf("claim: %d %s", code, b)
			}
			addr := e.nextAddr()
			if dc, err := e.svc.IssueDeviceCertificate(ctx, addr, d.proof(e, addr, authn.ProofCertificate)); err != nil || !dc.Claimed {
				t.Fatalf("certificate before leaving: %+v %v", dc, err)
			}
			if err := tc.leave(e, ana, home.ID, d.id); err != nil {
				t.Fatal(err)
			}
			dc, err := e.svc.IssueDeviceCertificate(ctx, addr, d.proof(e, addr, authn.ProofCertificate))
			if service.KindOf(err) != service.KindNotFound || dc.Claimed || dc.CertPEM != nil {
				t.Fatalf("certificate for the retired key: claimed=%v err=%v, want not enrolled", dc.Claimed, err)
			}
			en, err := e.svc.Enroll(ctx, addr, d.proof(e, addr, authn.ProofEnroll))
			var se *service.Error
			if !errors.As(err, &se) || se.Code != "key_retired" || en.ClaimCode != "" {
				t.Fatalf("enrolling the retired key again: %+v %v, want key_retired", en, err)
			}
		})
	}
}

// TestCameraPublicKey: the camera JSON carries the enrolled device's public
// key as PEM, for `camvault verify --key`; a camera without a device has
// none, and a stranger learns nothing.
func TestCameraPublicKey(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ana, eve := e.newUser("ana"), e.newUser("eve")
	home, _ := e.svc.CreateHome(ctx, ana.caller, "Casa")
	d := e.enrollDevice(e.nextAddr())
	if code, b := e.claim(ana, home.ID, d.code, e.nextAddr()); code != 201 {
		t.Fatalf("claim: %d %s", code, b)
	}
	code, body := e.do(ana, "GET", "/api/v1/cameras/"+string(d.id), nil)
	var cam struct {
		PublicKeyPEM *string `json:"public_key_pem"`
	}
	if err := json.Unmarshal(body, &cam); code != 200 || err != nil || cam.PublicKeyPEM == nil {
		t.Fatalf("camera: %d %s", code, body)
	}
	blk, rest := pem.Decode([]byte(*cam.PublicKeyPEM))
	if blk == nil || blk.Type != "PUBLIC KEY" || !bytes.Equal(blk.Bytes, d.der) || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("public_key_pem %q is not the device's key", *cam.PublicKeyPEM)
	}
	if _, err := x509.ParsePKIXPublicKey(blk.Bytes); err != nil {
		t.Fatal(err)
	}
	_, body = e.do(ana, "GET", "/api/v1/homes/"+string(home.ID)+"/cameras", nil)
	if !strings.Contains(string(body), `"public_key_pem":"-----BEGIN PUBLIC KEY-----`) {
		t.Fatalf("camera list lacks the key: %s", body)
	}
	reg, _ := e.svc.CreateCamera(ctx, ana.caller, home.ID, "Shed")
	if _, body := e.do(ana, "GET", "/api/v1/cameras/"+string(reg.ID), nil); strings.Contains(string(body), "public_key_pem") {
		t.Fatalf("a camera without a device has a key: %s", body)
	}
	if code, body := e.do(eve, "GET", "/api/v1/cameras/"+string(d.id), nil); code != 404 || strings.Contains(string(body), "PUBLIC KEY") {
		t.Fatalf("stranger: %d %s", code, body)
	}
}
