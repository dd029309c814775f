package webui

import (
	"errors"
	"net/http"
	"strings"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/oauth"
	"github.com/camvault/camvault/internal/service"
)

// consentView is what the consent page shows.
type consentView struct {
	Integration string
	Params      map[string][]string
	Homes       []service.ConsentHome
}

// authorization checks the OAuth request of a consent page or form,
// answering itself when it fails: a request whose client or redirect URI
// cannot be trusted gets a page, any other is sent back to the client
// with its error.
func (u *UI) authorization(w http.ResponseWriter, r *http.Request, c service.Caller) (*oauth.Authorization, bool) {
	if u.cfg.OAuth == nil {
		u.notFound(w, c)
		return nil, false
	}
	a, err := u.cfg.OAuth.ParseAuthorize(r)
	var ref *oauth.Refusal
	switch {
	case err == nil:
		// The consent form's answer redirects to the client, which
		// the page's form-action must allow.
		if o := a.RedirectOrigin(); o != "" {
			h := w.Header()
			h.Set("Content-Security-Policy", strings.Replace(h.Get("Content-Security-Policy"), "form-action 'self'", "form-action 'self' "+o, 1))
		}
		return a, true
	case errors.As(err, &ref):
		http.Redirect(w, r, ref.URL, http.StatusSeeOther)
	default:
		u.render(w, c, http.StatusBadRequest, "oautherror", page{Title: "Link refused"})
	}
	return nil, false
}

func (u *UI) consentPage(w http.ResponseWriter, r *http.Request, c service.Caller) {
	a, ok := u.authorization(w, r, c)
	if !ok {
		return
	}
	homes, err := u.svc.ConsentChoices(r.Context(), c)
	if err != nil {
		u.fail(w, r, c, err, "oautherror", page{Title: "Link refused"})
		return
	}
	u.render(w, c, http.StatusOK, "consent", page{Title: "Link " + a.Integration.Name,
		Data: consentView{Integration: a.Integration.Name, Params: a.Params, Homes: homes}})
}

func (u *UI) consent(w http.ResponseWriter, r *http.Request, c service.Caller) {
	a, ok := u.authorization(w, r, c)
	if !ok {
		return
	}
	if r.PostForm.Get("decision") != "allow" {
		u.cfg.OAuth.Deny(w, r, a)
		return
	}
	var cams []domain.ID
	for _, id := range r.PostForm["camera"] {
		if !domain.ValidID(id) {
			u.notFound(w, c)
			return
		}
		cams = append(cams, domain.ID(id))
	}
	var acts []domain.Action
	for _, x := range r.PostForm["action"] {
		acts = append(acts, domain.Action(x))
	}
	home := r.PostForm.Get("home")
	if !domain.ValidID(home) {
		u.notFound(w, c)
		return
	}
	c2, err := u.svc.Reauthenticate(r.Context(), c, service.ReauthRequest{Password: r.PostForm.Get("password")})
	var link domain.Link
	if err == nil {
		link, err = u.svc.CreateLink(r.Context(), c2, a.Integration.ID, domain.ID(home), cams, acts)
	}
	if err != nil {
		homes, herr := u.svc.ConsentChoices(r.Context(), c)
		if herr != nil {
			err = herr
		}
		u.fail(w, r, c, err, "consent", page{Title: "Link " + a.Integration.Name,
			Data: consentView{Integration: a.Integration.Name, Params: a.Params, Homes: homes}})
		return
	}
	u.cfg.OAuth.Grant(w, r, a, link)
}

// linksView is what the Linked services page shows.
type linksView struct {
	Links []service.LinkView
	Owned []domain.HomeView
}

func (u *UI) linksResult(w http.ResponseWriter, r *http.Request, c service.Caller, err error, notice string) {
	v := linksView{}
	links, lerr := u.svc.Links(r.Context(), c)
	if lerr == nil {
		v.Links = links
		var homes []domain.HomeView
		if homes, lerr = u.svc.Homes(r.Context(), c); lerr == nil {
			for _, h := range homes {
				if h.Role == domain.RoleOwner {
					v.Owned = append(v.Owned, h)
				}
			}
		}
	}
	if lerr != nil {
		u.fail(w, r, c, lerr, "links", page{Title: "Linked services"})
		return
	}
	p := page{Title: "Linked services", Data: v, Notice: notice}
	if err != nil {
		p.Notice = ""
		u.fail(w, r, c, err, "links", p)
		return
	}
	u.render(w, c, http.StatusOK, "links", p)
}

func (u *UI) links(w http.ResponseWriter, r *http.Request, c service.Caller) {
	u.linksResult(w, r, c, nil, "")
}

func (u *UI) revokeLink(w http.ResponseWriter, r *http.Request, c service.Caller) {
	if err := u.svc.RevokeLink(r.Context(), c, id(r, "link")); err != nil {
		u.linksResult(w, r, c, err, "")
		return
	}
	see(w, r, "/account/links")
}

func (u *UI) disconnectHome(w http.ResponseWriter, r *http.Request, c service.Caller) {
	n, err := u.svc.DisconnectHome(r.Context(), c, id(r, "home"))
	if err != nil {
		u.linksResult(w, r, c, err, "")
		return
	}
	u.linksResult(w, r, c, nil, "Disconnected "+itoa(n)+" linked service(s).")
}

func (u *UI) integrationsResult(w http.ResponseWriter, r *http.Request, c service.Caller, notice string) {
	all, err := u.svc.AdminIntegrations(r.Context(), c)
	if err != nil {
		u.fail(w, r, c, err, "integrations", page{Title: "Integrations"})
		return
	}
	u.render(w, c, http.StatusOK, "integrations", page{Title: "Integrations", Data: all, Notice: notice})
}

func (u *UI) integrations(w http.ResponseWriter, r *http.Request, c service.Caller) {
	u.integrationsResult(w, r, c, "")
}

func (u *UI) setIntegration(enabled bool) func(w http.ResponseWriter, r *http.Request, c service.Caller) {
	return func(w http.ResponseWriter, r *http.Request, c service.Caller) {
		n, err := u.svc.AdminSetIntegrationEnabled(r.Context(), c, id(r, "integration"), enabled)
		if err != nil {
			u.fail(w, r, c, err, "integrations", page{Title: "Integrations"})
			return
		}
		notice := "Enabled. Old links stay revoked: people link again."
		if !enabled {
			notice = "Disabled; " + itoa(n) + " link(s) revoked."
		}
		u.integrationsResult(w, r, c, notice)
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
