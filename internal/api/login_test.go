package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/service"
)

// loginFrom posts a login from the given client address.
func (e *env) loginFrom(addr, email, password string) (int, string) {
	e.t.Helper()
	body := `{"email":"` + email + `","password":"` + password + `"}`
	req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(body))
	req.RemoteAddr = addr + ":40000"
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestLoginThrottling(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("victim")
	email := u.caller.Account.Email
	const attacker, owner = "203.0.113.9", "198.51.100.7"

	var codes []int
	for range 6 {
		code, _ := e.loginFrom(attacker, email, "wrong-password-guess")
		codes = append(codes, code)
	}
	// Three free failures, a fourth that starts the delay, then refusal.
	if want := []int{401, 401, 401, 401, 429, 429}; !slices.Equal(codes, want) {
		t.Fatalf("attacker codes %v, want %v", codes, want)
	}
	// The right password from the locked address is refused too...
	if code, _ := e.loginFrom(attacker, email, testPassword); code != http.StatusTooManyRequests {
		t.Fatalf("right password from the throttled address: %d, want 429", code)
	}
	// ...but the owner at another address gets in.
	if code, body := e.loginFrom(owner, email, testPassword); code != http.StatusOK {
		t.Fatalf("owner from another address: %d %s", code, body)
	}
	// Delays grow: after the wait the attacker gets one more try, fails,
	// and must wait twice as long.
	e.clock.Advance(1100 * time.Millisecond)
	if code, _ := e.loginFrom(attacker, email, "wrong-again-guess"); code != http.StatusUnauthorized {
		t.Fatalf("after the delay: %d, want 401", code)
	}
	e.clock.Advance(1100 * time.Millisecond)
	if code, _ := e.loginFrom(attacker, email, "wrong-again-guess"); code != http.StatusTooManyRequests {
		t.Fatalf("delay did not grow: %d, want 429", code)
	}
	// Throttled answers say when to come back.
	req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"email":"`+email+`","password":"x"}`))
	req.RemoteAddr = attacker + ":1"
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, req)
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("throttled answer %d without Retry-After", rec.Code)
	}
}

// TestLoginEnumeration: an unknown email and a wrong password answer with
// the same status and body, in roughly the same time (production
// password-hashing parameters).
func TestLoginEnumeration(t *testing.T) {
	e := newEnvWith(t, authn.DefaultParams())
	email := "known@example.org"
	if _, err := e.svc.CreateAccount(context.Background(), email, testPassword, false); err != nil {
		t.Fatal(err)
	}
	var unknown, wrong []time.Duration
	for i := range 6 {
		// Fresh addresses and emails keep the throttle out of the way.
		addr := "198.51.100." + string(rune('1'+i))
		start := time.Now()
		c1, b1 := e.loginFrom(addr, "nobody-"+string(rune('a'+i))+"@example.org", "wrong-password-guess")
		unknown = append(unknown, time.Since(start))
		start = time.Now()
		c2, b2 := e.loginFrom("192.0.2."+string(rune('1'+i)), email, "wrong-password-guess")
		wrong = append(wrong, time.Since(start))
		if c1 != c2 || b1 != b2 || c1 != http.StatusUnauthorized {
			t.Fatalf("unknown email: %d %s; wrong password: %d %s", c1, b1, c2, b2)
		}
		e.clock.Advance(time.Hour) // let the per-account key cool down
	}
	mu, mw := median(unknown), median(wrong)
	t.Logf("median time: unknown email %v, wrong password %v", mu, mw)
	if ratio := float64(mu) / float64(mw); ratio < 0.4 || ratio > 2.5 {
		t.Errorf("timing differs: unknown %v vs wrong %v (ratio %.2f)", mu, mw, ratio)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestSessionsAndPasswordChange(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("ana")
	ctx := context.Background()
	other, _, err := e.svc.Login(ctx, service.Caller{Addr: "192.0.2.2"}, service.LoginRequest{Email: u.caller.Account.Email, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	e.reauth(u)
	apiTok, _, err := e.svc.CreateAPIToken(ctx, u.caller, "script")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := e.do(&user{token: apiTok}, "GET", "/api/v1/me", nil); code != 200 {
		t.Fatalf("API token: %d", code)
	}
	code, body := e.do(u, "POST", "/api/v1/me/password", map[string]any{"current_password": testPassword, "new_password": "password123"})
	if code != 400 || !strings.Contains(string(body), "weak_password") {
		t.Fatalf("weak new password: %d %s", code, body)
	}
	code, body = e.do(u, "POST", "/api/v1/me/password", map[string]any{"current_password": testPassword, "new_password": "lantern-Meadow-42-orbit"})
	if code != 204 {
		t.Fatalf("password change: %d %s", code, body)
	}
	for name, tok := range map[string]string{"other session": other, "api token": apiTok} {
		if code, _ := e.do(&user{token: tok}, "GET", "/api/v1/me", nil); code != 401 {
			t.Errorf("%s survived the password change: %d", name, code)
		}
	}
	if code, _ := e.do(u, "GET", "/api/v1/me", nil); code != 200 {
		t.Fatalf("current session ended by its own password change: %d", code)
	}
	// Logout ends the session.
	if code, _ := e.do(u, "POST", "/api/v1/logout", nil); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	if code, _ := e.do(u, "GET", "/api/v1/me", nil); code != 401 {
		t.Fatalf("session alive after logout: %d", code)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("ana")
	e.clock.Advance(8 * 24 * time.Hour) // past the 7-day idle limit
	if code, _ := e.do(u, "GET", "/api/v1/me", nil); code != 401 {
		t.Fatalf("idle session still works: %d", code)
	}
}
