package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/httpserver"
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

// loginWith signs in from addr with an optional TOTP code and
// known-device cookie, and returns the status and the known-device
// cookie set, if any.
func (e *env) loginWith(addr, email, password, code, device string) (int, string) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password, "totp_code": code})
	req := httptest.NewRequest("POST", "/api/v1/login", bytes.NewReader(body))
	req.RemoteAddr = addr + ":40000"
	req.Header.Set("Content-Type", "application/json")
	if device != "" {
		req.AddCookie(&http.Cookie{Name: httpserver.KnownDeviceCookie, Value: device})
	}
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, req)
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == httpserver.KnownDeviceCookie {
			return rec.Code, ck.Value
		}
	}
	return rec.Code, ""
}

// TestOwnerNotLockedOut: wrong passwords for one account from many
// addresses trip the account-wide throttle, but the owner still gets in
// with the right password from a browser that signed in before, or with
// the right password and a TOTP code; a stranger's own known-device
// cookie does not help, and each guessing address stays throttled.
func TestOwnerNotLockedOut(t *testing.T) {
	e := newEnv(t)
	ana, bob := e.newUser("ana"), e.newUser("bob")
	email := ana.caller.Account.Email
	code, device := e.loginWith("198.51.100.7", email, testPassword, "", "")
	if code != 200 || device == "" {
		t.Fatalf("first sign-in: %d, device cookie %q", code, device)
	}
	_, bobsDevice := e.loginWith("203.0.113.200", bob.caller.Account.Email, testPassword, "", "")

	// 51 wrong passwords from 38 addresses: no address is past its own
	// limit, the account is past its own.
	for i := range 51 {
		addr := fmt.Sprintf("203.0.113.%d", i%38+1)
		if c, _ := e.loginWith(addr, email, "wrong-password-guess", "", ""); c != 401 {
			t.Fatalf("guess %d from %s: %d, want 401", i, addr, c)
		}
	}
	if c, _ := e.loginWith("192.0.2.50", email, testPassword, "", ""); c != http.StatusTooManyRequests {
		t.Fatalf("right password from an unknown browser: %d, want 429", c)
	}
	if c, _ := e.loginWith("192.0.2.51", email, testPassword, "", bobsDevice); c != http.StatusTooManyRequests {
		t.Fatalf("right password with another account's device cookie: %d, want 429", c)
	}
	if c, _ := e.loginWith("192.0.2.52", email, testPassword, "", device+"x"); c != http.StatusTooManyRequests {
		t.Fatalf("right password with a forged device cookie: %d, want 429", c)
	}
	if c, _ := e.loginWith("192.0.2.53", email, testPassword, "", device); c != 200 {
		t.Fatalf("the owner's known browser with the right password: %d, want 200", c)
	}
	// A known browser does not make a wrong password right, and the
	// owner's success does not reset the strangers' count.
	if c, _ := e.loginWith("192.0.2.53", email, "wrong-password-guess", "", device); c != 401 {
		t.Fatalf("known browser, wrong password: %d, want 401", c)
	}
	if c, _ := e.loginWith("192.0.2.54", email, testPassword, "", ""); c != http.StatusTooManyRequests {
		t.Fatalf("after the owner's sign-in, an unknown browser: %d, want 429", c)
	}
	// Each guessing address is held per pair: the fourth guess starts the
	// delay, the fifth waits, whatever cookie it brings.
	for i := range 4 {
		if c, _ := e.loginWith("203.0.113.99", email, "wrong-password-guess", "", device); c != 401 {
			t.Fatalf("pair guess %d: %d, want 401", i, c)
		}
	}
	if c, _ := e.loginWith("203.0.113.99", email, testPassword, "", device); c != http.StatusTooManyRequests {
		t.Fatalf("a throttled pair with the right password: %d, want 429", c)
	}
	// The cookie expires.
	e.clock.Advance(366 * 24 * time.Hour)
	for i := range 51 {
		e.loginWith(fmt.Sprintf("203.0.114.%d", i%38+1), email, "wrong-password-guess", "", "")
	}
	if c, _ := e.loginWith("192.0.2.55", email, testPassword, "", device); c != http.StatusTooManyRequests {
		t.Fatalf("an expired device cookie: %d, want 429", c)
	}
}

// TestOwnerWithTOTPNotLockedOut: with the account-wide throttle tripped,
// the right password with a right TOTP code still signs in; a wrong code
// is a failure like a wrong password.
func TestOwnerWithTOTPNotLockedOut(t *testing.T) {
	e := newEnv(t)
	ana := e.newUser("ana")
	secret := e.enableTOTP(t, ana)
	email := ana.caller.Account.Email
	for i := range 51 {
		e.loginWith(fmt.Sprintf("203.0.113.%d", i%38+1), email, "wrong-password-guess", "", "")
	}
	if c, _ := e.loginWith("192.0.2.60", email, testPassword, "", ""); c != http.StatusTooManyRequests {
		t.Fatalf("right password without a code: %d, want 429", c)
	}
	if c, _ := e.loginWith("192.0.2.61", email, testPassword, "000000", ""); c != 401 {
		t.Fatalf("right password, wrong code: %d, want 401", c)
	}
	now, _ := totp.GenerateCode(secret, e.clock.Now())
	if c, _ := e.loginWith("192.0.2.62", email, testPassword, now, ""); c != 200 {
		t.Fatalf("right password and code: %d, want 200", c)
	}
}

// TestPasswordChangeForgetsKnownDevices: a browser known from before a
// password change no longer spares the account-wide throttle, so a copied
// device cookie dies with the password it was issued under.
func TestPasswordChangeForgetsKnownDevices(t *testing.T) {
	e := newEnv(t)
	ana := e.newUser("ana")
	email := ana.caller.Account.Email
	code, device := e.loginWith("198.51.100.7", email, testPassword, "", "")
	if code != 200 || device == "" {
		t.Fatalf("first sign-in: %d, device cookie %q", code, device)
	}
	const newPassword = "a-completely-new-Passphrase-42"
	if c, b := e.do(ana, "POST", "/api/v1/me/password", map[string]any{"current_password": testPassword, "new_password": newPassword}); c != 204 {
		t.Fatalf("change password: %d %s", c, b)
	}
	for i := range 51 {
		e.loginWith(fmt.Sprintf("203.0.113.%d", i%38+1), email, "wrong-password-guess", "", "")
	}
	if c, _ := e.loginWith("192.0.2.53", email, newPassword, "", device); c != http.StatusTooManyRequests {
		t.Fatalf("a device cookie from before the password change: %d, want 429", c)
	}
}
