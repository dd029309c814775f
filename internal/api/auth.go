package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/service"
)

func (a *API) setup(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		SetupToken string `json:"setup_token"`
		Email      string `json:"email"`
		Password   string `json:"password"`
		HomeName   string `json:"home_name"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	acct, home, err := a.svc.Setup(r.Context(), c, service.SetupRequest{Token: req.SetupToken, Email: req.Email, Password: req.Password, HomeName: req.HomeName})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusCreated, map[string]any{
		"account": map[string]any{"id": acct.ID, "email": acct.Email},
		"home":    map[string]any{"id": home.ID, "name": home.Name},
	})
}

func (a *API) loggedIn(w http.ResponseWriter, token string, acct domain.Account) {
	httpserver.SetSessionCookie(w, token, a.cfg.SessionMax, a.cfg.TLS)
	httpserver.SetKnownDeviceCookie(w, a.svc.KnownDeviceToken(acct), service.KnownDeviceTTL, a.cfg.TLS)
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"session_token": token, "account": accountView(acct)})
}

func (a *API) login(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		TOTPCode string `json:"totp_code"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	tok, acct, err := a.svc.Login(r.Context(), c, service.LoginRequest{
		Email: req.Email, Password: req.Password, TOTPCode: req.TOTPCode, KnownDevice: httpserver.KnownDevice(r),
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.loggedIn(w, tok, acct)
}

func (a *API) signup(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	acct, err := a.svc.Signup(r.Context(), c, req.Email, req.Password)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusCreated, map[string]any{"account": accountView(acct)})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request, c service.Caller) {
	if err := a.svc.Logout(r.Context(), c); err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.ClearSessionCookie(w, a.cfg.TLS)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) me(w http.ResponseWriter, r *http.Request, c service.Caller) {
	acct, err := a.svc.Me(r.Context(), c)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"account": accountView(acct)})
}

func (a *API) reauth(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Password string `json:"password"`
		TOTPCode string `json:"totp_code"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	if _, err := a.svc.Reauthenticate(r.Context(), c, service.ReauthRequest{Password: req.Password, TOTPCode: req.TOTPCode}); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	if err := a.svc.ChangePassword(r.Context(), c, req.Current, req.New); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) deleteAccount(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Password string `json:"password"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	if err := a.svc.DeleteAccount(r.Context(), c, req.Password); err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.ClearSessionCookie(w, a.cfg.TLS)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) sessions(w http.ResponseWriter, r *http.Request, c service.Caller) {
	list, err := a.svc.Sessions(r.Context(), c)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []sessionJSON{}
	for _, s := range list {
		out = append(out, sessionView(s, c.SessionID))
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func (a *API) accountEvents(w http.ResponseWriter, r *http.Request, c service.Caller) {
	list, err := a.svc.AccountEvents(r.Context(), c, 0)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []auditJSON{}
	for _, e := range list {
		out = append(out, auditView(e, service.AuditLog{}))
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"events": out})
}

func (a *API) revokeSession(w http.ResponseWriter, r *http.Request, c service.Caller) {
	if err := a.svc.RevokeSession(r.Context(), c, id(r, "session")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Name string `json:"name"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	tok, s, err := a.svc.CreateAPIToken(r.Context(), c, req.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusCreated, map[string]any{"token": tok, "session": sessionView(s, "")})
}

func (a *API) beginTOTP(w http.ResponseWriter, r *http.Request, c service.Caller) {
	secret, url, err := a.svc.BeginTOTP(r.Context(), c)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"secret": secret, "otpauth_url": url})
}

func (a *API) confirmTOTP(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Code string `json:"code"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	codes, err := a.svc.ConfirmTOTP(r.Context(), c, req.Code)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
}

func (a *API) disableTOTP(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Password string `json:"password"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	if err := a.svc.DisableTOTP(r.Context(), c, req.Password); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type passkeyJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
	LastUsed  string `json:"last_used,omitempty"`
}

func (a *API) passkeys(w http.ResponseWriter, r *http.Request, c service.Caller) {
	list, err := a.svc.Passkeys(r.Context(), c)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []passkeyJSON{}
	for _, p := range list {
		v := passkeyJSON{ID: base64.RawURLEncoding.EncodeToString(p.ID), Name: p.Name, CreatedAt: p.CreatedAt.Format("2006-01-02T15:04:05Z07:00")}
		if !p.LastUsed.IsZero() {
			v.LastUsed = p.LastUsed.Format("2006-01-02T15:04:05Z07:00")
		}
		out = append(out, v)
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"passkeys": out})
}

func (a *API) passkeyAddBegin(w http.ResponseWriter, r *http.Request, c service.Caller) {
	opts, cer, err := a.svc.BeginPasskeyRegistration(r.Context(), c)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"ceremony": cer, "options": opts})
}

// passkeyFinish is the body that completes a passkey ceremony.
type passkeyFinish struct {
	Ceremony   string          `json:"ceremony"`
	Name       string          `json:"name"`
	Credential json.RawMessage `json:"credential"`
}

func (a *API) passkeyAddFinish(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req passkeyFinish
	if !a.decode(w, r, &req) {
		return
	}
	if err := a.svc.FinishPasskeyRegistration(r.Context(), c, req.Ceremony, req.Name, req.Credential); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) deletePasskey(w http.ResponseWriter, r *http.Request, c service.Caller) {
	raw, err := base64.RawURLEncoding.DecodeString(r.PathValue("passkey"))
	if err != nil || len(raw) == 0 || len(raw) > 1023 {
		a.fail(w, r, badRequest("malformed passkey id"))
		return
	}
	if err := a.svc.DeletePasskey(r.Context(), c, raw); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) passkeyLoginBegin(w http.ResponseWriter, r *http.Request, c service.Caller) {
	opts, cer, err := a.svc.BeginPasskeyLogin(r.Context(), c)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"ceremony": cer, "options": opts})
}

func (a *API) passkeyLoginFinish(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req passkeyFinish
	if !a.decode(w, r, &req) {
		return
	}
	tok, acct, err := a.svc.FinishPasskeyLogin(r.Context(), c, req.Ceremony, req.Credential)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.loggedIn(w, tok, acct)
}
