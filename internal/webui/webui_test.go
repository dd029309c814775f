package webui_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/api"
	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/blob/localfs"
	"github.com/camvault/camvault/internal/deviceca"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/record/keys"
	"github.com/camvault/camvault/internal/record/recordtest"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
	"github.com/camvault/camvault/internal/store/sqlite"
	"github.com/camvault/camvault/internal/webui"
)

const password = "tulip-Harbor-97-kettle"

// site is the UI and API over a fresh store.
type site struct {
	t   *testing.T
	svc *service.Service
	srv *httptest.Server
}

func newSite(t *testing.T) *site { return newSiteWith(t, nil) }

// newSiteWith is newSite with cfg's fields changed by mod first.
func newSiteWith(t *testing.T, mod func(cfg *service.Config)) *site {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "camvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ca, err := deviceca.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := service.Config{
		Store: st, BaseURL: "http://camvault.test", SecretKey: bytes.Repeat([]byte{9}, 32),
		Password: authn.Params{Memory: 1024, Time: 1, Threads: 1},
		Devices:  service.DeviceConfig{CA: ca, URL: "wss://devices.camvault.test"},
	}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ui, err := webui.New(webui.Config{Service: svc, SessionMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	routes := append(ui.Routes(), api.New(api.Config{Service: svc, SessionMax: time.Hour}).Routes()...)
	h, err := httpserver.New(httpserver.Config{Routes: routes, Auth: svc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &site{t: t, svc: svc, srv: srv}
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t *testing.T
	s *site
	c *http.Client
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: s.t, s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get fetches path and returns status, Location and body.
func (b *browser) get(path string) (int, string, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.s.srv.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// post submits a form as a same-origin browser would.
func (b *browser) post(path string, form url.Values) (int, string, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.s.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

func expect(t *testing.T, what string, status int, loc, body string, wantStatus int, wantIn string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("%s: status %d (Location %q), want %d\n%s", what, status, loc, wantStatus, body)
	}
	if wantIn != "" && !strings.Contains(body, wantIn) && !strings.Contains(loc, wantIn) {
		t.Fatalf("%s: %q not in the answer (Location %q)\n%s", what, wantIn, loc, body)
	}
}

var (
	homeLinkRE = regexp.MustCompile(`href="/homes/([a-z2-7]{26})"`)
	cameraRE   = regexp.MustCompile(`href="/cameras/([a-z2-7]{26})">([^<]*)<`)
	inviteRE   = regexp.MustCompile(`value="http://camvault.test/invite/(cvi_[A-Za-z0-9_-]+)"`)
)

func TestFlow(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	setupURL, ok, err := s.svc.PrepareSetup(ctx)
	if err != nil || !ok {
		t.Fatalf("prepare setup: %v %v", ok, err)
	}
	token := setupURL[strings.Index(setupURL, "#")+1:]

	owner := s.browser()
	st, loc, body := owner.get("/homes")
	expect(t, "anonymous homes", st, loc, body, http.StatusSeeOther, "/login?next=%2Fhomes")
	st, loc, body = owner.get("/setup")
	expect(t, "setup page", st, loc, body, http.StatusOK, `id="setup-submit"`)

	// A wrong token and a weak password are refused with a reason.
	st, loc, body = owner.post("/setup", url.Values{"setup_token": {"cvsetup_nope"}, "email": {"ana@example.org"}, "password": {password}, "home_name": {"Casa"}})
	if st < 400 || st >= 500 {
		t.Fatalf("setup with a wrong token: %d %s", st, body)
	}
	st, loc, body = owner.post("/setup", url.Values{"setup_token": {token}, "email": {"ana@example.org"}, "password": {"password1"}, "home_name": {"Casa"}})
	expect(t, "setup with a weak password", st, loc, body, http.StatusBadRequest, "at least 10 characters")

	st, loc, body = owner.post("/setup", url.Values{"setup_token": {token}, "email": {"ana@example.org"}, "password": {password}, "home_name": {"Casa Ana"}})
	expect(t, "setup", st, loc, body, http.StatusSeeOther, "/homes")
	st, loc, body = owner.get("/homes")
	expect(t, "homes", st, loc, body, http.StatusOK, `class="home-link"`)
	home := homeLinkRE.FindStringSubmatch(body)[1]

	// Two cameras; the guest will see only the first.
	for _, name := range []string{"Porch", "Bedroom"} {
		st, loc, body = owner.post("/homes/"+home+"/cameras", url.Values{"name": {name}})
		expect(t, "add camera", st, loc, body, http.StatusSeeOther, "/homes/"+home)
	}
	st, loc, body = owner.get("/homes/" + home)
	expect(t, "home page", st, loc, body, http.StatusOK, "Porch")
	cams := map[string]string{}
	for _, m := range cameraRE.FindAllStringSubmatch(body, -1) {
		cams[m[2]] = m[1]
	}
	if len(cams) != 2 {
		t.Fatalf("cameras on the home page: %v", cams)
	}

	st, loc, body = owner.post("/homes/"+home+"/invites", url.Values{"role": {"guest"}, "cameras": {cams["Porch"]}, "actions": {"live"}, "no_history": {"1"}})
	expect(t, "invite", st, loc, body, http.StatusOK, "shown only once")
	invite := inviteRE.FindStringSubmatch(body)[1]

	guest := s.browser()
	st, loc, body = guest.get("/invite/" + invite)
	expect(t, "invite page", st, loc, body, http.StatusOK, "Casa Ana")
	st, loc, body = guest.post("/invite/"+invite, url.Values{"email": {"gus@example.org"}, "password": {password}})
	expect(t, "accept", st, loc, body, http.StatusSeeOther, "/homes/"+home)
	st, loc, body = guest.get("/homes/" + home)
	expect(t, "guest home page", st, loc, body, http.StatusOK, "Porch")
	if strings.Contains(body, "Bedroom") {
		t.Fatalf("the guest sees a camera outside its scope:\n%s", body)
	}
	st, loc, body = guest.get("/cameras/" + cams["Bedroom"])
	expect(t, "guest on an out-of-scope camera", st, loc, body, http.StatusNotFound, "Not found")
	st, loc, body = guest.get("/cameras/" + cams["Porch"])
	expect(t, "guest on its camera", st, loc, body, http.StatusOK, "Porch")
	if strings.Contains(body, "/rename") {
		t.Fatal("the guest is offered to rename a camera")
	}
	st, loc, body = guest.post("/cameras/"+cams["Porch"]+"/delete", nil)
	expect(t, "guest deletes a camera", st, loc, body, http.StatusForbidden, "")
	st, loc, body = guest.get("/homes/" + home + "/audit")
	expect(t, "guest reads the audit log", st, loc, body, http.StatusForbidden, "")
	st, loc, body = guest.post("/invite/"+invite, url.Values{"email": {"eve@example.org"}, "password": {password}})
	expect(t, "second use of the invitation", st, loc, body, http.StatusNotFound, "")

	st, loc, body = owner.get("/homes/" + home + "/audit")
	expect(t, "audit", st, loc, body, http.StatusOK, "invite.accept")
	if !strings.Contains(body, "denied") {
		t.Fatalf("the guest's denied delete is not in the audit log:\n%s", body)
	}
	st, loc, body = owner.get("/homes/" + home + "/members")
	expect(t, "members", st, loc, body, http.StatusOK, "gus@example.org")

	// A guest is given its cameras by name: an invitation or a change into
	// a guest with none ticked is refused, never read as "all cameras".
	st, loc, body = owner.post("/homes/"+home+"/invites", url.Values{"role": {"guest"}, "actions": {"live"}})
	expect(t, "guest invitation without cameras", st, loc, body, http.StatusBadRequest, "choose at least one camera for a guest")
	gus := regexp.MustCompile(`(?s)gus@example\.org</td>.*?/members/([a-z0-9]+)/role`).FindStringSubmatch(body)
	if gus == nil {
		t.Fatalf("no role form for the guest:\n%s", body)
	}
	role := "/homes/" + home + "/members/" + gus[1] + "/role"
	st, loc, body = owner.post(role, url.Values{"role": {"member"}})
	expect(t, "guest made member", st, loc, body, http.StatusSeeOther, "/members")
	st, loc, body = owner.post(role, url.Values{"role": {"guest"}})
	expect(t, "member made guest without cameras", st, loc, body, http.StatusBadRequest, "choose at least one camera for a guest")
	st, loc, body = owner.post(role, url.Values{"role": {"guest"}, "cameras": {cams["Porch"]}})
	expect(t, "member made guest of the porch", st, loc, body, http.StatusSeeOther, "/members")
	st, loc, body = guest.get("/homes/" + home)
	expect(t, "guest again, home page", st, loc, body, http.StatusOK, "Porch")
	if strings.Contains(body, "Bedroom") {
		t.Fatalf("the guest made member and guest again sees a camera outside its scope:\n%s", body)
	}
	st, loc, body = owner.get("/homes/" + home + "/members")
	expect(t, "members after the role changes", st, loc, body, http.StatusOK, "no history before")

	// Another home's owner sees none of it.
	stranger := s.browser()
	if _, err := s.svc.CreateAccount(ctx, "sam@example.org", password, false); err != nil {
		t.Fatal(err)
	}
	st, loc, body = stranger.post("/login", url.Values{"email": {"sam@example.org"}, "password": {password}})
	expect(t, "stranger login", st, loc, body, http.StatusSeeOther, "/homes")
	for _, path := range []string{"/homes/" + home, "/homes/" + home + "/members", "/homes/" + home + "/audit", "/cameras/" + cams["Porch"]} {
		st, loc, body = stranger.get(path)
		expect(t, "stranger "+path, st, loc, body, http.StatusNotFound, "")
		if strings.Contains(body, "Casa Ana") || strings.Contains(body, "Porch") {
			t.Fatalf("stranger %s leaks names:\n%s", path, body)
		}
	}

	// Sign out ends the session.
	st, loc, body = owner.post("/logout", nil)
	expect(t, "logout", st, loc, body, http.StatusSeeOther, "/login")
	st, loc, body = owner.get("/homes")
	expect(t, "after logout", st, loc, body, http.StatusSeeOther, "/login")
}

func TestLoginErrors(t *testing.T) {
	s := newSite(t)
	if _, err := s.svc.CreateAccount(context.Background(), "ana@example.org", password, false); err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	st, loc, body := b.post("/login", url.Values{"email": {"ana@example.org"}, "password": {"wrong-password-123"}})
	expect(t, "wrong password", st, loc, body, http.StatusUnauthorized, "")
	wrong := body
	st, loc, body = b.post("/login", url.Values{"email": {"nobody@example.org"}, "password": {"wrong-password-123"}})
	expect(t, "unknown email", st, loc, body, http.StatusUnauthorized, "")
	if strings.ReplaceAll(body, "nobody@example.org", "ana@example.org") != wrong {
		t.Fatal("the pages for a wrong password and an unknown email differ")
	}
	// An off-site next is ignored.
	st, loc, body = b.post("/login", url.Values{"email": {"ana@example.org"}, "password": {password}, "next": {"//evil.example/x"}})
	expect(t, "login", st, loc, body, http.StatusSeeOther, "")
	if loc != "/homes" {
		t.Fatalf("login with an off-site next went to %q", loc)
	}
}

// TestStaleCookieCleared: the sign-in page drops a session cookie that no
// longer signs anyone in.
func TestStaleCookieCleared(t *testing.T) {
	s := newSite(t)
	req, _ := http.NewRequest("GET", s.srv.URL+"/login", nil)
	req.AddCookie(&http.Cookie{Name: httpserver.SessionCookie, Value: "cvs_revoked"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cleared := false
	for _, ck := range resp.Cookies() {
		if ck.Name == httpserver.SessionCookie && ck.MaxAge < 0 {
			cleared = true
		}
	}
	if resp.StatusCode != http.StatusOK || !cleared {
		t.Fatalf("sign-in page with a stale cookie: %d, cookies %v", resp.StatusCode, resp.Header["Set-Cookie"])
	}
}

func TestCrossSitePostRefused(t *testing.T) {
	s := newSite(t)
	if _, err := s.svc.CreateAccount(context.Background(), "ana@example.org", password, false); err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	b.post("/login", url.Values{"email": {"ana@example.org"}, "password": {password}})
	req, _ := http.NewRequest("POST", s.srv.URL+"/homes", strings.NewReader("name=Evil"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site form post: %d, want 403", resp.StatusCode)
	}
}

func TestRoutes(t *testing.T) {
	ui, err := webui.New(webui.Config{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range ui.Routes() {
		if !r.Browser {
			t.Errorf("%s is not marked as a browser route", r.Pattern)
		}
		if err := r.Check(); err != nil {
			t.Error(err)
		}
		if (r.Action == "") == (strings.TrimSpace(r.Public) == "") {
			t.Errorf("%s: needs exactly one of an action or a public reason", r.Pattern)
		}
		if seen[r.Pattern] {
			t.Errorf("%s registered twice", r.Pattern)
		}
		seen[r.Pattern] = true
		if m := r.Method(); m != "GET" && m != "POST" {
			t.Errorf("%s: HTML forms only GET and POST", r.Pattern)
		}
	}
	// The whole table (UI and API) must be accepted by the server.
	if _, err := httpserver.New(httpserver.Config{Routes: append(ui.Routes(), api.New(api.Config{}).Routes()...)}); err != nil {
		t.Fatal(err)
	}
}

// TestMalformedIDs: a path ID that is not an ID is the not-found page,
// before any use case runs.
func TestMalformedIDs(t *testing.T) {
	s := newSite(t)
	if _, err := s.svc.CreateAccount(context.Background(), "ana@example.org", password, false); err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	b.post("/login", url.Values{"email": {"ana@example.org"}, "password": {password}})
	for _, path := range []string{"/homes/nope", "/homes/NOPE/members", "/homes/x/audit", "/cameras/abc"} {
		st, loc, body := b.get(path)
		expect(t, "get "+path, st, loc, body, http.StatusNotFound, "Not found")
	}
	for _, path := range []string{"/cameras/abc/rename", "/homes/x/members/y/remove", "/account/sessions/zz/revoke", "/account/passkeys/!!/delete"} {
		st, loc, body := b.post(path, url.Values{"name": {"x"}})
		expect(t, "post "+path, st, loc, body, http.StatusNotFound, "Not found")
	}
}

// TestNoInlineCode: the CSP forbids inline script and style, so the
// templates must not rely on them.
func TestNoInlineCode(t *testing.T) {
	inline := []*regexp.Regexp{
		regexp.MustCompile(`<script(?:[^>]*)>\s*[^<\s]`), // a script with a body
		regexp.MustCompile(`\sstyle\s*=`),
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\son[a-z]+\s*=`),
		regexp.MustCompile(`javascript:`),
	}
	err := fs.WalkDir(os.DirFS("templates"), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join("templates", path))
		if err != nil {
			return err
		}
		text := string(b)
		for _, re := range inline {
			if loc := re.FindStringIndex(text); loc != nil {
				t.Errorf("%s: inline code %q", path, text[loc[0]:min(loc[1]+20, len(text))])
			}
		}
		for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(text, -1) {
			if !strings.Contains(tag, "src=") {
				t.Errorf("%s: script without src: %s", path, tag)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStatic(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	_, _, page := b.get("/login")
	for file, ctype := range map[string]string{"app.css": "text/css", "app.js": "text/javascript"} {
		m := regexp.MustCompile(`"(/static/` + regexp.QuoteMeta(file) + `\?v=[0-9a-f]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("the layout does not link a versioned %s:\n%s", file, page)
		}
		for _, path := range []string{m[1], "/static/" + file} {
			resp, err := b.c.Get(s.srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) == 0 {
				t.Errorf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			cc := resp.Header.Get("Cache-Control")
			if path == m[1] && !strings.Contains(cc, "max-age=31536000") {
				t.Errorf("%s: Cache-Control %q, want a long max-age", path, cc)
			}
			if !strings.HasPrefix(cc, "public") {
				t.Errorf("%s: Cache-Control %q", path, cc)
			}
			req, _ := http.NewRequest("GET", s.srv.URL+path, nil)
			req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
			resp, err = b.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotModified {
				t.Errorf("%s with its ETag: %d, want 304", path, resp.StatusCode)
			}
		}
	}
	for _, path := range []string{"/static/nope.js", "/static/..%2fui.go", "/static/", "/static/%5capp.js"} {
		if st, _, _ := b.get(path); st != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, st)
		}
	}
}

// enroll enrolls a fresh device key and returns its claim code.
func (s *site) enroll() string {
	s.t.Helper()
	code, _ := s.enrollKey()
	return code
}

// enrollKey enrols a fresh device and returns its claim code and public
// key (PKIX DER).
func (s *site) enrollKey() (string, []byte) {
	s.t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	ctx := context.Background()
	nonce, err := s.svc.DeviceChallenge(ctx, "192.0.2.9")
	if err != nil {
		s.t.Fatal(err)
	}
	sig, _ := authn.SignProof(key, authn.ProofEnroll, nonce)
	e, err := s.svc.Enroll(ctx, "192.0.2.9", service.DeviceProof{PublicKey: der, Nonce: nonce, Signature: sig})
	if err != nil {
		s.t.Fatal(err)
	}
	return e.ClaimCode, der
}

func TestClaimAndTransfer(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	if _, err := s.svc.CreateAccount(ctx, "ana@example.org", password, false); err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	b.post("/login", url.Values{"email": {"ana@example.org"}, "password": {password}})
	st, loc, body := b.post("/homes", url.Values{"name": {"Casa"}})
	expect(t, "create home", st, loc, body, http.StatusSeeOther, "/homes/")
	home := strings.TrimPrefix(loc, "/homes/")

	st, loc, body = b.get("/claim")
	expect(t, "claim page", st, loc, body, http.StatusOK, `action="/homes/`+home+`/cameras/claim"`)
	st, loc, body = b.post("/homes/"+home+"/cameras/claim", url.Values{"claim_code": {"AAAA-BBBB-CCCC"}, "name": {"Porch"}})
	expect(t, "wrong code", st, loc, body, http.StatusBadRequest, "not valid")
	code, der := s.enrollKey()
	st, loc, body = b.post("/homes/"+home+"/cameras/claim", url.Values{"claim_code": {strings.ToLower(code)}, "name": {"Porch"}})
	expect(t, "claim", st, loc, body, http.StatusSeeOther, "/cameras/")
	cam := loc
	st, loc, body = b.get(cam)
	expect(t, "camera page", st, loc, body, http.StatusOK, `id="transfer"`)
	if !strings.Contains(body, "offline") {
		t.Fatalf("camera page does not show the device offline:\n%s", body)
	}
	// The device's public key, to check its video with camvault verify.
	_, shown, _ := strings.Cut(body, `<pre id="device-key" class="key">`)
	shown, _, _ = strings.Cut(shown, `</pre>`)
	if html.UnescapeString(shown) != string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})) || !strings.Contains(body, "camvault verify --key") {
		t.Fatalf("camera page does not show the device's public key:\n%s", body)
	}
	st, loc, body = b.post(cam+"/transfer", nil)
	expect(t, "transfer", st, loc, body, http.StatusSeeOther, "/homes/"+home)
	st, loc, body = b.get(cam)
	expect(t, "camera after transfer", st, loc, body, http.StatusNotFound, "")
}

// TestAccountFormsAskForPassword: the account page's forms that change a
// credential carry a password field, and without the right password
// nothing changes.
func TestAccountFormsAskForPassword(t *testing.T) {
	s := newSite(t)
	if _, err := s.svc.CreateAccount(context.Background(), "ana@example.org", password, false); err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	b.post("/login", url.Values{"email": {"ana@example.org"}, "password": {password}})
	_, _, page := b.get("/account")
	for _, id := range []string{`id="totp-password"`, `id="token-password"`, `id="passkey-password"`} {
		if !strings.Contains(page, id) {
			t.Errorf("account page lacks %s", id)
		}
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"no password", url.Values{"name": {"script"}}, "enter your password"},
		{"wrong password", url.Values{"name": {"script"}, "password": {"not-my-password"}}, "current password is wrong"},
	} {
		st, loc, body := b.post("/account/tokens", tc.form)
		expect(t, "token with "+tc.name, st, loc, body, http.StatusBadRequest, tc.want)
		if strings.Contains(body, "cvt_") {
			t.Fatalf("token with %s was created", tc.name)
		}
		st, loc, body = b.post("/account/totp", tc.form)
		expect(t, "totp with "+tc.name, st, loc, body, http.StatusBadRequest, tc.want)
		if strings.Contains(body, `id="totp-secret"`) {
			t.Fatalf("totp enrolment with %s started", tc.name)
		}
	}
	st, loc, body := b.post("/account/tokens", url.Values{"name": {"script"}, "password": {password}})
	expect(t, "token with the password", st, loc, body, http.StatusOK, "cvt_")
	st, loc, body = b.post("/account/totp", url.Values{"password": {password}})
	expect(t, "totp with the password", st, loc, body, http.StatusOK, `id="totp-secret"`)
	if !strings.Contains(body, `id="totp-confirm-password"`) {
		t.Fatalf("the confirm form does not ask for the password")
	}
}

// TestFormerCameraPage: after a camera leaves the home, its owners find
// it under "Former cameras" on the home page and open a page with its
// kept recordings (timeline, playback, export); an admin or a member of
// the home sees neither, and the page answers them "not found".
func TestFormerCameraPage(t *testing.T) {
	var ar *record.Archive
	var st store.Store
	s := newSiteWith(t, func(cfg *service.Config) {
		st = cfg.Store
		blobs, err := localfs.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		ring, err := keys.New(cfg.Store, bytes.Repeat([]byte{7}, 32))
		if err != nil {
			t.Fatal(err)
		}
		ar = record.NewArchive(blobs, cfg.Store, ring, nil)
		cfg.Recordings = ar
	})
	ctx := context.Background()
	signIn := func(email string) (*browser, service.Caller) {
		acct, err := s.svc.CreateAccount(ctx, email, password, false)
		if err != nil {
			t.Fatal(err)
		}
		b := s.browser()
		b.post("/login", url.Values{"email": {email}, "password": {password}})
		return b, service.Caller{Account: acct}
	}
	owner, oc := signIn("ana@example.org")
	admin, ac := signIn("bea@example.org")
	h, err := s.svc.CreateHome(ctx, oc, "Casa")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := s.svc.CreateInvite(ctx, oc, h.ID, service.InviteRequest{Role: domain.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.svc.AcceptInvite(ctx, ac, inv.Token, "", ""); err != nil {
		t.Fatal(err)
	}
	cv, err := s.svc.ClaimCamera(ctx, oc, h.ID, s.enroll(), "Porch")
	if err != nil {
		t.Fatal(err)
	}
	cam, _ := st.Camera(ctx, cv.ID)
	for _, p := range recordtest.Segments(time.Now().Add(-time.Hour), 8*time.Second, record.DefaultSegment) {
		if _, err := ar.Write(ctx, cam.Ref(), h.ID, p); err != nil {
			t.Fatal(err)
		}
	}
	home := "/homes/" + string(h.ID)
	if _, _, body := owner.get(home); strings.Contains(body, "Former cameras") {
		t.Fatal("a camera still in the home is listed as a former camera")
	}
	if err := s.svc.DeviceReset(ctx, cam, "192.0.2.9"); err != nil {
		t.Fatal(err)
	}

	code, loc, body := owner.get(home)
	formerPage := home + "/former/" + string(cv.ID) + "/" + strconv.FormatInt(cam.Generation, 10)
	expect(t, "owner's home page", code, loc, body, http.StatusOK, `href="`+formerPage+`"`)
	code, loc, body = owner.get(formerPage)
	expect(t, "owner's former camera page", code, loc, body, http.StatusOK, `data-recordings="`+string(cv.ID)+`"`)
	for _, want := range []string{`id="timeline"`, `id="playback"`, `id="export-button"`} {
		if !strings.Contains(body, want) {
			t.Fatalf("former camera page lacks %s:\n%s", want, body)
		}
	}
	code, loc, body = owner.get(home + "/former/" + string(cv.ID) + "/" + strconv.FormatInt(cam.Generation+1, 10))
	expect(t, "a generation that did not leave", code, loc, body, http.StatusNotFound, "Not found")
	code, loc, body = owner.get(home + "/former/" + string(cv.ID) + "/x")
	expect(t, "a malformed generation", code, loc, body, http.StatusNotFound, "Not found")

	if _, _, body := admin.get(home); strings.Contains(body, "Former cameras") || strings.Contains(body, formerPage) {
		t.Fatalf("an admin sees the former cameras:\n%s", body)
	}
	code, loc, body = admin.get(formerPage)
	expect(t, "an admin's former camera page", code, loc, body, http.StatusNotFound, "Not found")
	stranger, _ := signIn("cy@example.org")
	code, loc, body = stranger.get(formerPage)
	expect(t, "a stranger's former camera page", code, loc, body, http.StatusNotFound, "Not found")
}
