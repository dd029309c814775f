package api_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
)

// credentialChanges are the requests that change how the account signs
// in; each must need a recent re-authentication.
var credentialChanges = []struct {
	name, method, path string
	body               any
}{
	{"passkey begin", "POST", "/api/v1/me/passkeys/begin", nil},
	{"passkey finish", "POST", "/api/v1/me/passkeys/finish", map[string]any{"ceremony": "x", "name": "thief", "credential": map[string]any{}}},
	{"passkey delete", "DELETE", "/api/v1/me/passkeys/" + base64.RawURLEncoding.EncodeToString([]byte("some-key")), nil},
	{"totp begin", "POST", "/api/v1/me/totp", nil},
	{"totp confirm", "POST", "/api/v1/me/totp/confirm", map[string]any{"code": "123456"}},
	{"totp disable without password", "POST", "/api/v1/me/totp/disable", map[string]any{}},
	{"api token", "POST", "/api/v1/me/tokens", map[string]any{"name": "thief"}},
}

// TestCredentialChangesNeedReauth: a session token alone (a stolen one)
// cannot add a passkey, turn on an authenticator, or mint an API token:
// each answers 403 reauth_required until the session proves the password
// again, and again once the 5 minutes are over.
func TestCredentialChangesNeedReauth(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("ana")
	for _, tc := range credentialChanges {
		code, b := e.do(u, tc.method, tc.path, tc.body)
		if code != http.StatusForbidden || !strings.Contains(string(b), `"reauth_required"`) {
			t.Errorf("%s without reauth: %d %s, want 403 reauth_required", tc.name, code, b)
		}
	}
	// Bad re-authentications are refused with a reason.
	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"wrong password", map[string]any{"password": "not-the-password"}, "wrong_password"},
		{"nothing", map[string]any{}, "invalid"},
		{"both", map[string]any{"password": testPassword, "totp_code": "123456"}, "invalid"},
		{"code without an authenticator", map[string]any{"totp_code": "123456"}, "wrong_code"},
		{"unknown field", map[string]any{"password": testPassword, "remember": true}, "unknown_field"},
	} {
		if code, b := e.do(u, "POST", "/api/v1/me/reauth", tc.body); code != 400 || !strings.Contains(string(b), `"`+tc.want+`"`) {
			t.Errorf("reauth with %s: %d %s, want 400 %s", tc.name, code, b, tc.want)
		}
	}
	if code, _ := e.do(u, "POST", "/api/v1/me/tokens", map[string]any{"name": "x"}); code != http.StatusForbidden {
		t.Fatalf("a failed reauth opened the window: %d", code)
	}
	if code, _ := e.do(nil, "POST", "/api/v1/me/reauth", map[string]any{"password": testPassword}); code != 401 {
		t.Fatalf("anonymous reauth: %d", code)
	}

	e.reauth(u)
	if code, b := e.do(u, "POST", "/api/v1/me/tokens", map[string]any{"name": "script"}); code != 201 {
		t.Fatalf("api token after reauth: %d %s", code, b)
	}
	// The mark is the session's: another session of the account is not
	// re-authenticated by it.
	other, _, err := e.svc.Login(context.Background(), service.Caller{Addr: "192.0.2.9"}, service.LoginRequest{Email: u.caller.Account.Email, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := e.do(&user{token: other}, "POST", "/api/v1/me/totp", nil); code != http.StatusForbidden {
		t.Fatalf("another session rode on the reauth: %d", code)
	}
	e.clock.Advance(4*time.Minute + 59*time.Second)
	if code, b := e.do(u, "POST", "/api/v1/me/totp", nil); code != 200 {
		t.Fatalf("totp begin within 5 minutes of reauth: %d %s", code, b)
	}
	e.clock.Advance(2 * time.Second)
	for _, tc := range credentialChanges {
		if code, b := e.do(u, tc.method, tc.path, tc.body); code != http.StatusForbidden {
			t.Errorf("%s 5 minutes after reauth: %d %s, want 403", tc.name, code, b)
		}
	}
	if n := e.auditCount(domain.AuditFilter{Principal: u.caller.Account.ID, Action: "reauth"}); n != 1 {
		t.Fatalf("reauth audit events: %d, want 1", n)
	}
}

// TestReauthWithTOTP: a code from the authenticator re-authenticates too,
// once.
func TestReauthWithTOTP(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("ana")
	secret := e.enableTOTP(t, u)
	e.clock.Advance(6 * time.Minute)
	if code, _ := e.do(u, "POST", "/api/v1/me/totp/disable", map[string]any{}); code != http.StatusForbidden {
		t.Fatalf("disable after the window: %d", code)
	}
	code, _ := totp.GenerateCode(secret, e.clock.Now())
	if c, b := e.do(u, "POST", "/api/v1/me/reauth", map[string]any{"totp_code": code}); c != 204 {
		t.Fatalf("reauth with a code: %d %s", c, b)
	}
	if c, b := e.do(u, "POST", "/api/v1/me/reauth", map[string]any{"totp_code": code}); c != 400 {
		t.Fatalf("reauth with the same code again: %d %s", c, b)
	}
	if c, b := e.do(u, "POST", "/api/v1/me/totp/disable", map[string]any{}); c != 204 {
		t.Fatalf("disable after reauth with a code: %d %s", c, b)
	}
}

// TestPasswordChangeRemovesOtherSessionsPasskeys: after a password change,
// the passkeys other sessions added in the last 7 days are gone; older
// ones and the changing session's own stay.
func TestPasswordChangeRemovesOtherSessionsPasskeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.newUser("ana")
	thief, _, err := e.svc.Login(ctx, service.Caller{Addr: "203.0.113.5"}, service.LoginRequest{Email: u.caller.Account.Email, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := e.svc.Authenticate(ctx, thief, "203.0.113.5", "thief")
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	add := func(name string, by domain.ID, age time.Duration) {
		t.Helper()
		// The ceremony needs an authenticator; what matters here is
		// which session added the passkey, and when.
		if err := e.st.AddCredential(ctx, domain.Credential{ID: []byte(name), AccountID: u.caller.Account.ID, Name: name,
			Data: []byte("{}"), CreatedAt: now.Add(-age), AddedBy: by}); err != nil {
			t.Fatal(err)
		}
	}
	add("thief-yesterday", tc.SessionID, 24*time.Hour)
	add("thief-just-now", tc.SessionID, 0)
	add("unknown-session", "", time.Hour)
	add("phone-last-month", tc.SessionID, 30*24*time.Hour)
	add("this-laptop", u.caller.SessionID, time.Hour)

	code, b := e.do(u, "POST", "/api/v1/me/password", map[string]any{"current_password": testPassword, "new_password": "lantern-Meadow-42-orbit"})
	if code != 204 {
		t.Fatalf("password change: %d %s", code, b)
	}
	list, err := e.st.Credentials(ctx, u.caller.Account.ID)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, c := range list {
		left = append(left, c.Name)
	}
	if got := strings.Join(left, ","); got != "phone-last-month,this-laptop" {
		t.Fatalf("passkeys after the password change: %s", got)
	}
	if code, _ := e.do(&user{token: thief}, "GET", "/api/v1/me", nil); code != 401 {
		t.Fatalf("the other session survived the password change: %d", code)
	}
}
