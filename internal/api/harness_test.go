package api_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/api"
	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/blob/localfs"
	"github.com/camvault/camvault/internal/deviceca"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/netguard"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/record/keys"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
	"github.com/camvault/camvault/internal/store/sqlite"
)

// testPassword passes the strength check.
const testPassword = "tulip-Harbor-97-kettle"

// clock is a settable time source.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a running API server over a fresh SQLite store.
type env struct {
	t     testing.TB
	svc   *service.Service
	st    store.Store
	srv   *httptest.Server
	clock *clock
	ar    *record.Archive
	hub   *media.Hub
	// blobDir holds the sealed recordings; serverKey wraps their keys.
	blobDir   string
	serverKey []byte
}

func newEnv(t testing.TB) *env {
	t.Helper()
	// Cheap hashing keeps fixtures fast; production parameters are tested
	// in package authn and in the enumeration test.
	return newEnvWith(t, authn.Params{Memory: 1024, Time: 1, Threads: 1})
}

var testNets, _ = netguard.Parse("192.0.2.0/24")

// newEnvWith is newEnv with password parameters, and edits applied to
// the service's configuration.
func newEnvWith(t testing.TB, params authn.Params, edits ...func(*service.Config)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "camvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	ca, err := deviceca.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blobDir, serverKey := t.TempDir(), bytes.Repeat([]byte{9}, 32)
	blobs, err := localfs.Open(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.New(st, serverKey)
	if err != nil {
		t.Fatal(err)
	}
	ar := record.NewArchive(blobs, st, ring, nil)
	hub := media.New(media.Config{})
	cfg := service.Config{
		Recordings: ar,
		Store:      st, Now: clk.Now, BaseURL: "http://camvault.test", SecretKey: bytes.Repeat([]byte{7}, 32),
		Password: params, Devices: service.DeviceConfig{CA: ca, URL: "wss://devices.camvault.test"},
		Video: true, Live: service.LiveConfig{RTSPURL: "rtsps://live.camvault.test"},
		PullNetworks: testNets, // the documentation range pulled cameras use here
	}
	for _, edit := range edits {
		edit(&cfg)
	}
	svc, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	routes := api.New(api.Config{Service: svc, SessionMax: time.Hour}).Routes()
	h, err := httpserver.New(httpserver.Config{Routes: routes, Auth: svc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, svc: svc, st: st, srv: srv, clock: clk, ar: ar, hub: hub, blobDir: blobDir, serverKey: serverKey}
}

// user is an account with a session token.
type user struct {
	name   string
	token  string
	caller service.Caller
}

// newUser creates an account and signs it in.
func (e *env) newUser(name string) *user {
	e.t.Helper()
	ctx := context.Background()
	email := fmt.Sprintf("%s-%d@example.org", name, time.Now().UnixNano())
	if _, err := e.svc.CreateAccount(ctx, email, testPassword, false); err != nil {
		e.t.Fatal(err)
	}
	tok, _, err := e.svc.Login(ctx, service.Caller{Addr: "192.0.2.1"}, service.LoginRequest{Email: email, Password: testPassword})
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := e.svc.Authenticate(ctx, tok, "192.0.2.1", "test")
	if err != nil {
		e.t.Fatal(err)
	}
	return &user{name: name, token: tok, caller: c}
}

// reauth re-authenticates u's session with its password, as a credential
// change needs, and refreshes u.caller.
func (e *env) reauth(u *user) {
	e.t.Helper()
	if code, b := e.do(u, "POST", "/api/v1/me/reauth", map[string]any{"password": testPassword}); code != http.StatusNoContent {
		e.t.Fatalf("reauth: %d %s", code, b)
	}
	c, err := e.svc.Authenticate(context.Background(), u.token, "192.0.2.1", "test")
	if err != nil {
		e.t.Fatal(err)
	}
	u.caller = c
}

// join invites u into home with req, made by inviter, and accepts it.
func (e *env) join(inviter, u *user, home domain.ID, req service.InviteRequest) {
	e.t.Helper()
	ctx := context.Background()
	link, err := e.svc.CreateInvite(ctx, inviter.caller, home, req)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, _, err := e.svc.AcceptInvite(ctx, u.caller, link.Token, "", ""); err != nil {
		e.t.Fatal(err)
	}
}

// do sends a request as u (nil for anonymous) and returns status and body.
func (e *env) do(u *user, method, path string, body any) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if u != nil {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// auditCount counts a home's audit events matching f.
func (e *env) auditCount(f domain.AuditFilter) int {
	e.t.Helper()
	f.Limit = 1000
	list, err := e.st.Audit(context.Background(), f)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(list)
}

// device is a simulated camera device: its key and the claim code the
// server gave it.
type device struct {
	key  *ecdsa.PrivateKey
	der  []byte
	code string
	id   domain.ID
}

// newDevice is a device with a fresh key, not enrolled.
func newDevice() *device {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	return &device{key: key, der: der}
}

// enrollDevice enrolls a fresh device key through the service, from addr.
func (e *env) enrollDevice(addr string) *device {
	e.t.Helper()
	d := newDevice()
	en, err := e.svc.Enroll(context.Background(), addr, d.proof(e, addr, authn.ProofEnroll))
	if err != nil {
		e.t.Fatal(err)
	}
	d.code, d.id = en.ClaimCode, en.CameraID
	return d
}

// proof answers a fresh challenge for purpose.
func (d *device) proof(e *env, addr, purpose string) service.DeviceProof {
	e.t.Helper()
	nonce, err := e.svc.DeviceChallenge(context.Background(), addr)
	if err != nil {
		e.t.Fatal(err)
	}
	sig, err := authn.SignProof(d.key, purpose, nonce)
	if err != nil {
		e.t.Fatal(err)
	}
	return service.DeviceProof{PublicKey: d.der, Nonce: nonce, Signature: sig}
}

var addrSeq atomic.Int64

// nextAddr returns a client address no other request used, so that
// per-address limits do not couple unrelated calls.
func (e *env) nextAddr() string { return fmt.Sprintf("2001:db8::%x", addrSeq.Add(1)) }
