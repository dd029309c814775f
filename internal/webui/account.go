package webui

import (
	"encoding/base64"
	"net/http"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/service"
)

// accountView is what the account page shows.
type accountView struct {
	Account       domain.Account
	Current       domain.ID
	Sessions      []domain.Session
	Passkeys      []passkeyView
	RecoveryLeft  int
	NewToken      string   // a personal API token just created, shown once
	TOTPSecret    string   // during TOTP enrolment
	TOTPURL       string   // during TOTP enrolment
	RecoveryCodes []string // just after TOTP is confirmed, shown once
	// Events are the account's own security events, newest first.
	Events []domain.AuditEvent
}

type passkeyView struct {
	ID string // base64url credential ID
	domain.Credential
}

func (u *UI) loadAccount(r *http.Request, c service.Caller) (accountView, error) {
	v := accountView{Current: c.SessionID}
	var err error
	if v.Account, err = u.svc.Me(r.Context(), c); err != nil {
		return v, err
	}
	if v.Sessions, err = u.svc.Sessions(r.Context(), c); err != nil {
		return v, err
	}
	creds, err := u.svc.Passkeys(r.Context(), c)
	if err != nil {
		return v, err
	}
	for _, cr := range creds {
		v.Passkeys = append(v.Passkeys, passkeyView{ID: base64.RawURLEncoding.EncodeToString(cr.ID), Credential: cr})
	}
	if v.Account.TOTPEnabled {
		if v.RecoveryLeft, err = u.svc.RecoveryCodesLeft(r.Context(), c); err != nil {
			return v, err
		}
	}
	if v.Events, err = u.svc.AccountEvents(r.Context(), c, 20); err != nil {
		return v, err
	}
	return v, nil
}

// accountResult renders the account page after an action: with err if it
// failed, else with notice and whatever edit fills in.
func (u *UI) accountResult(w http.ResponseWriter, r *http.Request, c service.Caller, err error, notice string, edit func(*accountView)) {
	v, lerr := u.loadAccount(r, c)
	if lerr != nil {
		u.fail(w, r, c, lerr, "account", page{Title: "Account"})
		return
	}
	if edit != nil {
		edit(&v)
	}
	p := page{Title: "Account", Data: v, Notice: notice}
	if err != nil {
		p.Notice = ""
		u.fail(w, r, c, err, "account", p)
		return
	}
	u.render(w, c, http.StatusOK, "account", p)
}

func (u *UI) account(w http.ResponseWriter, r *http.Request, c service.Caller) {
	u.accountResult(w, r, c, nil, "", nil)
}

// posted parses the form, answering the error itself; it reports whether
// the handler should go on.
func (u *UI) posted(w http.ResponseWriter, r *http.Request, c service.Caller) bool {
	if err := form(r); err != nil {
		u.accountResult(w, r, c, err, "", nil)
		return false
	}
	return true
}

// reauthed parses the form and re-authenticates the session with the
// password it carries, answering the error itself; it returns the caller
// as re-authenticated and whether the handler should go on. Every form
// that changes a credential asks for the password this way.
func (u *UI) reauthed(w http.ResponseWriter, r *http.Request, c service.Caller) (service.Caller, bool) {
	if !u.posted(w, r, c) {
		return c, false
	}
	c2, err := u.svc.Reauthenticate(r.Context(), c, service.ReauthRequest{Password: r.PostFormValue("password")})
	if err != nil {
		u.accountResult(w, r, c, err, "", nil)
		return c, false
	}
	return c2, true
}

func (u *UI) changePassword(w http.ResponseWriter, r *http.Request, c service.Caller) {
	if !u.posted(w, r, c) {
		return
	}
	err := u.svc.ChangePassword(r.Context(), c, r.PostFormValue("current_password"), r.PostFormValue("new_password"))
	u.accountResult(w, r, c, err, "Password changed. Your other sessions were signed out, and passkeys they added in the last 7 days were removed.", nil)
}

func (u *UI) revokeSession(w http.ResponseWriter, r *http.Request, c service.Caller) {
	sid := id(r, "session")
	if err := u.svc.RevokeSession(r.Context(), c, sid); err != nil {
		u.accountResult(w, r, c, err, "", nil)
		return
	}
	if sid == c.SessionID {
		see(w, r, "/login")
		return
	}
	see(w, r, "/account")
}

func (u *UI) createToken(w http.ResponseWriter, r *http.Request, c service.Caller) {
	c, ok := u.reauthed(w, r, c)
	if !ok {
		return
	}
	tok, _, err := u.svc.CreateAPIToken(r.Context(), c, r.PostFormValue("name"))
	u.accountResult(w, r, c, err, "API token created. Copy it now: it is shown only once.", func(v *accountView) { v.NewToken = tok })
}

func (u *UI) beginTOTP(w http.ResponseWriter, r *http.Request, c service.Caller) {
	c, ok := u.reauthed(w, r, c)
	if !ok {
		return
	}
	secret, url, err := u.svc.BeginTOTP(r.Context(), c)
	u.accountResult(w, r, c, err, "Add this key to your authenticator app, then enter the code it shows.", func(v *accountView) {
		v.TOTPSecret, v.TOTPURL = secret, url
	})
}

func (u *UI) confirmTOTP(w http.ResponseWriter, r *http.Request, c service.Caller) {
	c, ok := u.reauthed(w, r, c)
	if !ok {
		return
	}
	codes, err := u.svc.ConfirmTOTP(r.Context(), c, r.PostFormValue("code"))
	u.accountResult(w, r, c, err, "Two-factor sign-in is on. Keep these recovery codes somewhere safe: each works once, and they are shown only now.", func(v *accountView) {
		v.RecoveryCodes = codes
	})
}

func (u *UI) disableTOTP(w http.ResponseWriter, r *http.Request, c service.Caller) {
	if !u.posted(w, r, c) {
		return
	}
	err := u.svc.DisableTOTP(r.Context(), c, r.PostFormValue("password"))
	u.accountResult(w, r, c, err, "Two-factor sign-in is off.", nil)
}

func (u *UI) deletePasskey(w http.ResponseWriter, r *http.Request, c service.Caller) {
	raw, err := base64.RawURLEncoding.DecodeString(r.PathValue("passkey"))
	if err != nil {
		u.notFound(w, c)
		return
	}
	c, ok := u.reauthed(w, r, c)
	if !ok {
		return
	}
	if err := u.svc.DeletePasskey(r.Context(), c, raw); err != nil {
		u.accountResult(w, r, c, err, "", nil)
		return
	}
	see(w, r, "/account")
}

func (u *UI) deleteAccount(w http.ResponseWriter, r *http.Request, c service.Caller) {
	if !u.posted(w, r, c) {
		return
	}
	if err := u.svc.DeleteAccount(r.Context(), c, r.PostFormValue("password")); err != nil {
		u.accountResult(w, r, c, err, "", nil)
		return
	}
	httpserver.ClearSessionCookie(w, u.cfg.TLS)
	see(w, r, "/login")
}
