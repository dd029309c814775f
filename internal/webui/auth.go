package webui

import (
	"net/http"
	"strings"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/service"
)

// credentialsForm is what the setup, sign-in and invitation forms post.
type credentialsForm struct {
	Email    string
	HomeName string
	TOTP     bool   // show the second-factor field
	Next     string // where to go after signing in
	Done     bool   // setup happened already
}

func (u *UI) setupPage(w http.ResponseWriter, r *http.Request, c service.Caller) {
	needed, err := u.svc.NeedsSetup(r.Context())
	if err != nil {
		u.fail(w, r, c, err, "setup", page{Title: "Set up camvault", Data: credentialsForm{}})
		return
	}
	u.render(w, c, http.StatusOK, "setup", page{Title: "Set up camvault", Data: credentialsForm{Done: !needed}})
}

func (u *UI) setup(w http.ResponseWriter, r *http.Request, c service.Caller) {
	p := page{Title: "Set up camvault", Data: credentialsForm{}}
	if err := form(r); err != nil {
		u.fail(w, r, c, err, "setup", p)
		return
	}
	f := credentialsForm{Email: r.PostFormValue("email"), HomeName: r.PostFormValue("home_name")}
	p.Data = f
	req := service.SetupRequest{
		Token:    strings.TrimSpace(r.PostFormValue("setup_token")),
		Email:    f.Email,
		Password: r.PostFormValue("password"),
		HomeName: f.HomeName,
	}
	acct, _, err := u.svc.Setup(r.Context(), c, req)
	if err != nil {
		u.fail(w, r, c, err, "setup", p)
		return
	}
	u.signIn(w, r, c, acct.Email, req.Password, "/homes")
}

// signIn starts a session with credentials just created or accepted and
// redirects to next; should that fail, the sign-in page explains.
func (u *UI) signIn(w http.ResponseWriter, r *http.Request, c service.Caller, email, password, next string) {
	tok, acct, err := u.svc.Login(r.Context(), c, service.LoginRequest{Email: email, Password: password, KnownDevice: httpserver.KnownDevice(r)})
	if err != nil {
		see(w, r, "/login")
		return
	}
	u.signedIn(w, tok, acct)
	see(w, r, next)
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request, c service.Caller) {
	next := localPath(r.URL.Query().Get("next"), "/homes")
	if !c.Anonymous() {
		see(w, r, next)
		return
	}
	if _, err := r.Cookie(httpserver.SessionCookie); err == nil {
		// A cookie that resolves to no one (expired or revoked): drop it.
		httpserver.ClearSessionCookie(w, u.cfg.TLS)
	}
	u.render(w, c, http.StatusOK, "login", page{Title: "Sign in", Data: credentialsForm{Next: next}})
}

func (u *UI) login(w http.ResponseWriter, r *http.Request, c service.Caller) {
	p := page{Title: "Sign in"}
	if err := form(r); err != nil {
		u.fail(w, r, c, err, "login", p)
		return
	}
	f := credentialsForm{Email: r.PostFormValue("email"), Next: localPath(r.PostFormValue("next"), "/homes")}
	f.TOTP = r.PostFormValue("totp_code") != ""
	p.Data = f
	tok, acct, err := u.svc.Login(r.Context(), c, service.LoginRequest{
		Email: f.Email, Password: r.PostFormValue("password"), TOTPCode: r.PostFormValue("totp_code"),
		KnownDevice: httpserver.KnownDevice(r),
	})
	if err != nil {
		if service.KindOf(err) == service.KindMFARequired {
			f.TOTP = true
			p.Data = f
		}
		u.fail(w, r, service.Caller{}, err, "login", p)
		return
	}
	u.signedIn(w, tok, acct)
	see(w, r, f.Next)
}

// signedIn sets the session cookie and marks the browser as a known
// device of the account.
func (u *UI) signedIn(w http.ResponseWriter, tok string, acct domain.Account) {
	httpserver.SetSessionCookie(w, tok, u.cfg.SessionMax, u.cfg.TLS)
	httpserver.SetKnownDeviceCookie(w, u.svc.KnownDeviceToken(acct), service.KnownDeviceTTL, u.cfg.TLS)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, c service.Caller) {
	if err := u.svc.Logout(r.Context(), c); err != nil {
		u.log.Warn("webui: logout", "err", err)
	}
	httpserver.ClearSessionCookie(w, u.cfg.TLS)
	see(w, r, "/login")
}

// inviteView is what the invitation page shows.
type inviteView struct {
	Info  service.InviteInfo
	Token string
	Form  credentialsForm
}

func (u *UI) invitePage(w http.ResponseWriter, r *http.Request, c service.Caller) {
	token := r.PathValue("token")
	info, err := u.svc.LookupInvite(r.Context(), token)
	if err != nil {
		u.fail(w, r, c, err, "invite", page{})
		return
	}
	u.render(w, c, http.StatusOK, "invite", page{Title: "Invitation to " + info.HomeName, Data: inviteView{Info: info, Token: token}})
}

func (u *UI) acceptInvite(w http.ResponseWriter, r *http.Request, c service.Caller) {
	token := r.PathValue("token")
	info, err := u.svc.LookupInvite(r.Context(), token)
	if err != nil {
		u.fail(w, r, c, err, "invite", page{})
		return
	}
	v := inviteView{Info: info, Token: token}
	p := page{Title: "Invitation to " + info.HomeName, Data: v}
	if err := form(r); err != nil {
		u.fail(w, r, c, err, "invite", p)
		return
	}
	v.Form.Email = r.PostFormValue("email")
	p.Data = v
	password := r.PostFormValue("password")
	m, acct, err := u.svc.AcceptInvite(r.Context(), c, token, v.Form.Email, password)
	if err != nil {
		u.fail(w, r, c, err, "invite", p)
		return
	}
	to := "/homes/" + string(m.HomeID)
	if c.Anonymous() {
		u.signIn(w, r, c, acct.Email, password, to)
		return
	}
	see(w, r, to)
}

// roleOptions lists roles for select boxes.
var roleOptions = []domain.Role{domain.RoleGuest, domain.RoleMember, domain.RoleAdmin, domain.RoleOwner}

func (u *UI) loginLinkPage(w http.ResponseWriter, r *http.Request, c service.Caller) {
	u.render(w, c, http.StatusOK, "loginlink", page{Title: "Sign in"})
}

func (u *UI) loginLink(w http.ResponseWriter, r *http.Request, c service.Caller) {
	if err := form(r); err != nil {
		u.fail(w, r, c, err, "loginlink", page{Title: "Sign in"})
		return
	}
	tok, _, err := u.svc.RedeemLoginLink(r.Context(), c, strings.TrimSpace(r.PostFormValue("login_token")))
	if err != nil {
		u.fail(w, r, c, err, "loginlink", page{Title: "Sign in"})
		return
	}
	httpserver.SetSessionCookie(w, tok, u.cfg.SessionMax, u.cfg.TLS)
	see(w, r, "/homes")
}
