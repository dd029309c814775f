package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/camvault/camvault/internal/domain"
)

func decodeBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return m
}

func TestInviteFlow(t *testing.T) {
	e := newEnv(t)
	owner := e.newUser("owner")
	code, b := e.do(owner, "POST", "/api/v1/homes", map[string]any{"name": "Casa"})
	if code != 201 {
		t.Fatalf("create home: %d %s", code, b)
	}
	home := decodeBody(t, b)["id"].(string)
	code, b = e.do(owner, "POST", "/api/v1/homes/"+home+"/cameras", map[string]any{"name": "Porch"})
	if code != 201 {
		t.Fatalf("create camera: %d %s", code, b)
	}
	cam := decodeBody(t, b)["id"].(string)

	until := e.clock.Now().Add(48 * time.Hour).Format(time.RFC3339)
	code, b = e.do(owner, "POST", "/api/v1/homes/"+home+"/invites", map[string]any{
		"role": "guest", "cameras": []string{cam}, "actions": []string{"live"}, "access_until": until, "no_history": true,
	})
	if code != 201 {
		t.Fatalf("invite: %d %s", code, b)
	}
	inv := decodeBody(t, b)
	token := inv["token"].(string)
	if !strings.HasSuffix(inv["url"].(string), "/invite/"+token) || inv["expires_at"] == nil {
		t.Fatalf("invite body: %v", inv)
	}
	// Anyone holding the link sees what it offers.
	if code, b = e.do(nil, "GET", "/api/v1/invites/"+token, nil); code != 200 || !strings.Contains(string(b), "Casa") {
		t.Fatalf("lookup: %d %s", code, b)
	}
	// Weak password refused with a reason; nothing is used up.
	code, b = e.do(nil, "POST", "/api/v1/invites/"+token+"/accept", map[string]any{"email": "gina@example.org", "password": "password123"})
	if code != 400 || !strings.Contains(string(b), "weak_password") {
		t.Fatalf("weak password: %d %s", code, b)
	}
	code, b = e.do(nil, "POST", "/api/v1/invites/"+token+"/accept", map[string]any{"email": "gina@example.org", "password": testPassword})
	if code != 200 {
		t.Fatalf("accept: %d %s", code, b)
	}
	m := decodeBody(t, b)["membership"].(map[string]any)
	if m["role"] != "guest" || m["history_from"] == nil || m["access_until"] == nil {
		t.Fatalf("membership: %v", m)
	}
	// Single use.
	if code, _ = e.do(nil, "POST", "/api/v1/invites/"+token+"/accept", map[string]any{"email": "eve@example.org", "password": testPassword}); code != 404 {
		t.Fatalf("second accept: %d, want 404", code)
	}
	// The guest signs in and sees exactly its camera, with exactly live.
	code, lb := e.loginFrom("192.0.2.50", "gina@example.org", testPassword)
	if code != 200 {
		t.Fatalf("guest login: %d %s", code, lb)
	}
	guest := &user{token: decodeBody(t, []byte(lb))["session_token"].(string)}
	code, b = e.do(guest, "GET", "/api/v1/homes/"+home+"/cameras", nil)
	if code != 200 || !strings.Contains(string(b), `"actions":["live"]`) {
		t.Fatalf("guest cameras: %d %s", code, b)
	}
	// The window ends: the next request is refused.
	e.clock.Advance(49 * time.Hour)
	if code, _ = e.do(guest, "GET", "/api/v1/cameras/"+cam, nil); code != 404 {
		t.Fatalf("expired guest: %d, want 404", code)
	}
	if code, b = e.do(guest, "GET", "/api/v1/homes", nil); code != 200 || strings.Contains(string(b), "Casa") {
		t.Fatalf("expired guest still lists the home: %d %s", code, b)
	}
	// Expired invitation links fail.
	code, b = e.do(owner, "POST", "/api/v1/homes/"+home+"/invites", map[string]any{"role": "member", "expires_at": e.clock.Now().Add(time.Hour).Format(time.RFC3339)})
	if code != 201 {
		t.Fatalf("invite: %d %s", code, b)
	}
	late := decodeBody(t, b)["token"].(string)
	e.clock.Advance(2 * time.Hour)
	if code, _ = e.do(e.newUser("late"), "POST", "/api/v1/invites/"+late+"/accept", nil); code != 404 {
		t.Fatalf("expired invite: %d, want 404", code)
	}
}

func TestInviteRules(t *testing.T) {
	e := newEnv(t)
	owner := e.newUser("owner")
	_, b := e.do(owner, "POST", "/api/v1/homes", map[string]any{"name": "Casa"})
	home := decodeBody(t, b)["id"].(string)
	tests := []struct {
		name string
		body map[string]any
		want int
		says string // in the error body, when set
	}{
		{"bad role", map[string]any{"role": "superuser"}, 400, ""},
		{"scope for a member", map[string]any{"role": "member", "actions": []string{"live"}}, 400, ""},
		{"export for a guest", map[string]any{"role": "guest", "actions": []string{"export"}}, 400, ""},
		// A guest with no camera ticked would see every camera if an
		// empty scope meant "all": it is refused instead.
		{"guest without cameras", map[string]any{"role": "guest", "actions": []string{"live"}}, 400, "at least one camera"},
		{"guest with an empty camera list", map[string]any{"role": "guest", "cameras": []string{}}, 400, "at least one camera"},
		{"unknown camera", map[string]any{"role": "guest", "cameras": []string{string(domain.NewID())}}, 400, ""},
		{"link too long", map[string]any{"role": "member", "expires_at": e.clock.Now().Add(90 * 24 * time.Hour).Format(time.RFC3339)}, 400, ""},
		{"unknown field", map[string]any{"role": "member", "superpowers": true}, 400, ""},
		{"owner invite", map[string]any{"role": "owner"}, 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := e.do(owner, "POST", "/api/v1/homes/"+home+"/invites", tt.body)
			if code != tt.want || !strings.Contains(string(b), tt.says) {
				t.Fatalf("%d %s, want %d saying %q", code, b, tt.want, tt.says)
			}
		})
	}
}

func TestLastOwner(t *testing.T) {
	e := newEnv(t)
	owner := e.newUser("owner")
	_, b := e.do(owner, "POST", "/api/v1/homes", map[string]any{"name": "Casa"})
	home := decodeBody(t, b)["id"].(string)
	me := string(owner.caller.Account.ID)
	if code, b := e.do(owner, "DELETE", "/api/v1/homes/"+home+"/members/"+me, nil); code != 409 {
		t.Fatalf("last owner left: %d %s", code, b)
	}
	if code, b := e.do(owner, "PATCH", "/api/v1/homes/"+home+"/members/"+me, map[string]any{"role": "member"}); code != 409 {
		t.Fatalf("last owner demoted: %d %s", code, b)
	}
	// With a second owner, the first may leave.
	second := e.newUser("second")
	_, b = e.do(owner, "POST", "/api/v1/homes/"+home+"/invites", map[string]any{"role": "owner"})
	if code, b := e.do(second, "POST", "/api/v1/invites/"+decodeBody(t, b)["token"].(string)+"/accept", nil); code != 200 {
		t.Fatalf("accept: %d %s", code, b)
	}
	if code, b := e.do(owner, "DELETE", "/api/v1/homes/"+home+"/members/"+me, nil); code != 204 {
		t.Fatalf("leave with another owner: %d %s", code, b)
	}
	if code, _ := e.do(owner, "GET", "/api/v1/homes/"+home, nil); code != 404 {
		t.Fatalf("left owner still sees the home: %d", code)
	}
}

func TestTOTPLogin(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("ana")
	e.reauth(u)
	code, b := e.do(u, "POST", "/api/v1/me/totp", nil)
	if code != 200 {
		t.Fatalf("begin: %d %s", code, b)
	}
	secret := decodeBody(t, b)["secret"].(string)
	if code, _ := e.do(u, "POST", "/api/v1/me/totp/confirm", map[string]any{"code": "000000"}); code != 400 {
		t.Fatalf("wrong confirm code: %d", code)
	}
	now, _ := totp.GenerateCode(secret, e.clock.Now())
	code, b = e.do(u, "POST", "/api/v1/me/totp/confirm", map[string]any{"code": now})
	if code != 200 {
		t.Fatalf("confirm: %d %s", code, b)
	}
	recovery := decodeBody(t, b)["recovery_codes"].([]any)
	if len(recovery) != 10 {
		t.Fatalf("recovery codes: %v", recovery)
	}
	email := u.caller.Account.Email
	// The password alone is no longer enough.
	code, lb := e.loginFrom("192.0.2.60", email, testPassword)
	if code != 401 || !strings.Contains(lb, "mfa_required") {
		t.Fatalf("password only: %d %s", code, lb)
	}
	login := func(extra string) int {
		body := `{"email":"` + email + `","password":"` + testPassword + `","totp_code":"` + extra + `"}`
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := login("123456"); c != 401 {
		t.Fatalf("wrong code: %d", c)
	}
	// The confirming code's step is used up; the next step's code works.
	e.clock.Advance(30 * time.Second)
	code2, _ := totp.GenerateCode(secret, e.clock.Now())
	if c := login(code2); c != 200 {
		t.Fatalf("right code: %d", c)
	}
	rc := recovery[0].(string)
	if c := login(rc); c != 200 {
		t.Fatalf("recovery code: %d", c)
	}
	if c := login(rc); c != 401 {
		t.Fatalf("recovery code reused: %d", c)
	}
	// The stored seed is sealed, not the plain secret.
	acct, err := e.st.Account(t.Context(), u.caller.Account.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(acct.TOTPSecret, secret) || !strings.HasPrefix(acct.TOTPSecret, "v1:") {
		t.Fatalf("TOTP seed stored in the clear")
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("ana")
	big := strings.Repeat("x", 2<<20)
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"too large", "POST", "/api/v1/homes", `{"name":"` + big + `"}`, 413},
		{"unknown field", "POST", "/api/v1/homes", `{"name":"x","owner":"me"}`, 400},
		{"not json", "POST", "/api/v1/homes", `name=x`, 400},
		{"trailing data", "POST", "/api/v1/homes", `{"name":"x"}{"name":"y"}`, 400},
		{"wrong type", "POST", "/api/v1/homes", `{"name":5}`, 400},
		{"empty name", "POST", "/api/v1/homes", `{"name":"  "}`, 400},
		{"malformed id", "GET", "/api/v1/cameras/..%2f..%2fetc", ``, 404},
		{"unknown route", "GET", "/api/v1/nope", ``, 404},
		{"bad audit time", "GET", "/api/v1/homes/" + string(domain.NewID()) + "/audit?since=yesterday", ``, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.srv.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+u.token)
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error.Code == "" {
				t.Errorf("no error body: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("%d (%s), want %d", resp.StatusCode, body.Error.Code, tt.want)
			}
		})
	}
}

// FuzzInviteToken: any token in the invitation paths answers 404 (or a
// client error), never a server error.
func FuzzInviteToken(f *testing.F) {
	for _, s := range []string{"cvi_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "cvi_", "cvs_x", "", "%00", "cvi_" + strings.Repeat("-", 43), "../../etc/passwd"} {
		f.Add(s)
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, token string) {
		req, err := http.NewRequest("GET", e.srv.URL+"/api/v1/invites/"+url.PathEscape(token), nil)
		if err != nil {
			return
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 || resp.StatusCode == 200 {
			t.Fatalf("token %q: status %d", token, resp.StatusCode)
		}
	})
}

// enableTOTP turns on an authenticator for u and returns its secret; the
// clock then moves to the next step, so the confirming code is spent.
func (e *env) enableTOTP(t *testing.T, u *user) string {
	t.Helper()
	e.reauth(u)
	code, b := e.do(u, "POST", "/api/v1/me/totp", nil)
	if code != 200 {
		t.Fatalf("begin totp: %d %s", code, b)
	}
	secret := decodeBody(t, b)["secret"].(string)
	now, _ := totp.GenerateCode(secret, e.clock.Now())
	if code, b := e.do(u, "POST", "/api/v1/me/totp/confirm", map[string]any{"code": now}); code != 200 {
		t.Fatalf("confirm totp: %d %s", code, b)
	}
	e.clock.Advance(30 * time.Second)
	return secret
}

// TestTOTPCodeSingleUse: a TOTP code signs in once; the same code again,
// and a code of an earlier step still inside the drift window, are
// refused.
func TestTOTPCodeSingleUse(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("ana")
	secret := e.enableTOTP(t, u)
	email := u.caller.Account.Email
	login := func(addr, code string) int {
		t.Helper()
		body := `{"email":"` + email + `","password":"` + testPassword + `","totp_code":"` + code + `"}`
		req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(body))
		req.RemoteAddr = addr + ":40000"
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.srv.Config.Handler.ServeHTTP(rec, req)
		return rec.Code
	}
	earlier, _ := totp.GenerateCode(secret, e.clock.Now().Add(-30*time.Second))
	now, _ := totp.GenerateCode(secret, e.clock.Now())
	if c := login("192.0.2.71", now); c != 200 {
		t.Fatalf("first use of the code: %d", c)
	}
	// Another address, so that no throttle explains the refusal.
	if c := login("192.0.2.72", now); c != 401 {
		t.Fatalf("the same code replayed: %d, want 401", c)
	}
	if c := login("192.0.2.73", earlier); c != 401 {
		t.Fatalf("an earlier step's code after a later one: %d, want 401", c)
	}
	e.clock.Advance(30 * time.Second)
	next, _ := totp.GenerateCode(secret, e.clock.Now())
	if c := login("192.0.2.74", next); c != 200 {
		t.Fatalf("the next step's code: %d", c)
	}
}
