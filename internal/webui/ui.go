// Package webui is camvault's web interface: server-rendered pages
// (html/template, embedded with go:embed, no build step) for setup, sign-in
// with a password, TOTP or a passkey, homes, cameras, members and
// invitations, the audit log and account security.
//
// Pages are classic HTML forms that post and redirect (post/redirect/get).
// The only script, static/app.js, fills the setup token from the URL
// fragment and drives the passkey ceremonies through the JSON API. The
// Content-Security-Policy set by package httpserver allows no inline script
// or style, which the templates respect.
//
// Like the JSON API, the package only adapts HTTP to package service.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/oauth"
	"github.com/camvault/camvault/internal/service"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// staticVersion maps each static file to a short hash of its content. Pages
// link to /static/{file}?v={hash}, so a response for the current version
// may be cached for a year: a new build links to a new URL.
var staticVersion = func() map[string]string {
	out := map[string]string{}
	entries, err := fs.ReadDir(staticFS, "static")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(staticFS, "static/"+e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		out[e.Name()] = hex.EncodeToString(sum[:6])
	}
	return out
}()

// asset is the versioned URL of a static file.
func asset(name string) string {
	if v, ok := staticVersion[name]; ok {
		return "/static/" + name + "?v=" + v
	}
	return "/static/" + name
}

// Config configures the UI.
type Config struct {
	Service *service.Service
	Logger  *slog.Logger
	// TLS marks cookies Secure.
	TLS bool
	// SessionMax is the session cookie's lifetime.
	SessionMax time.Duration
	// OAuth, when set, is the authorization server whose consent pages
	// the UI shows.
	OAuth *oauth.Server
}

// UI serves the web pages.
type UI struct {
	svc   *service.Service
	log   *slog.Logger
	cfg   Config
	pages map[string]*template.Template
}

// New parses the templates.
func New(cfg Config) (*UI, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	u := &UI{svc: cfg.Service, log: cfg.Logger, cfg: cfg, pages: map[string]*template.Template{}}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("webui: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, name)
		if err != nil {
			return nil, fmt.Errorf("webui: %w", err)
		}
		u.pages[strings.TrimSuffix(base, ".html")] = t
	}
	return u, nil
}

// recordingsBlock is what the "recordings" template (timeline, playback,
// export) needs: the camera, whether export is offered, and the day it
// opens on (RFC 3339; empty for today).
type recordingsBlock struct {
	Camera domain.ID
	Export bool
	Day    string
}

var funcs = template.FuncMap{
	"asset": asset,
	"recordings": func(camera domain.ID, export bool, day string) recordingsBlock {
		return recordingsBlock{Camera: camera, Export: export, Day: day}
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"has": func(list []domain.Action, a string) bool {
		for _, x := range list {
			if string(x) == a {
				return true
			}
		}
		return false
	},
}

// Routes returns the UI's entries for the route table.
func (u *UI) Routes() []httpserver.Route {
	const (
		signIn = "sign-in pages and forms: the submitted credentials are checked, throttled and audited"
		invite = "the single-use invitation token in the path is the credential"
	)
	self := domain.ActionAccountSelf
	routes := []httpserver.Route{
		{Pattern: "GET /{$}", Public: "the front page only redirects to the homes or the sign-in page", Handler: u.index},
		{Pattern: "GET /static/{file}", Public: "static assets (style sheet, script)", Handler: u.static},
		{Pattern: "GET /setup", Public: "first-run setup: the one-time setup token printed by the server is the credential", Handler: u.setupPage},
		{Pattern: "POST /setup", Public: "first-run setup: the one-time setup token printed by the server is the credential", Handler: u.setup},
		{Pattern: "GET /login", Public: signIn, Handler: u.loginPage},
		{Pattern: "POST /login", Public: signIn, Handler: u.login},
		{Pattern: "POST /logout", Action: self, Handler: u.logout},
		{Pattern: "GET /login/link", Public: "one-time sign-in link: the token in the URL fragment is the credential", Handler: u.loginLinkPage},
		{Pattern: "POST /login/link", Public: "one-time sign-in link: the token in the URL fragment is the credential", Handler: u.loginLink},
		{Pattern: "GET /invite/{token}", Public: invite, Handler: u.invitePage},
		{Pattern: "POST /invite/{token}", Public: invite + "; a signed-in caller joins, an anonymous one creates its account", Handler: u.acceptInvite},

		{Pattern: "GET /homes", Action: domain.ActionHomeView, Handler: u.homes},
		{Pattern: "POST /homes", Action: domain.ActionHomeCreate, Handler: u.createHome},
		{Pattern: "GET /homes/{home}", Action: domain.ActionHomeView, Handler: u.home},
		{Pattern: "POST /homes/{home}/cameras", Action: domain.ActionCameraCreate, Handler: u.createCamera},
		{Pattern: "POST /homes/{home}/delete", Action: domain.ActionHomeDelete, Handler: u.deleteHome},
		{Pattern: "POST /homes/{home}/recording", Action: domain.ActionHomeRecording, Handler: u.setHomeRecording},
		{Pattern: "GET /homes/{home}/former/{camera}/{generation}", Action: domain.ActionHomeRecording, Handler: u.formerCamera},
		{Pattern: "GET /cameras/{camera}", Action: domain.ActionCameraList, Handler: u.camera},
		{Pattern: "POST /cameras/{camera}/rename", Action: domain.ActionManage, Handler: u.renameCamera},
		{Pattern: "POST /cameras/{camera}/delete", Action: domain.ActionManage, Handler: u.deleteCamera},
		{Pattern: "POST /cameras/{camera}/transfer", Action: domain.ActionTransfer, Handler: u.transferCamera},
		{Pattern: "POST /cameras/{camera}/recording", Action: domain.ActionManage, Handler: u.setRecording},
		{Pattern: "POST /cameras/{camera}/recordings/delete", Action: domain.ActionRecordingDelete, Handler: u.deleteRecordings},
		{Pattern: "GET /claim", Action: domain.ActionHomeView, Handler: u.claimPage},
		{Pattern: "POST /homes/{home}/cameras/claim", Action: domain.ActionCameraCreate, Handler: u.claimCamera},
		{Pattern: "POST /homes/{home}/cameras/pull", Action: domain.ActionCameraCreate, Handler: u.pullCamera},
		{Pattern: "GET /homes/{home}/members", Action: domain.ActionMemberList, Handler: u.members},
		{Pattern: "POST /homes/{home}/invites", Action: domain.ActionInviteCreate, Handler: u.createInvite},
		{Pattern: "POST /homes/{home}/members/{account}/role", Action: domain.ActionMemberManage, Handler: u.changeRole},
		{Pattern: "POST /homes/{home}/members/{account}/remove", Action: domain.ActionMemberManage, Handler: u.removeMember},
		{Pattern: "GET /homes/{home}/audit", Action: domain.ActionAuditRead, Handler: u.audit},

		{Pattern: "GET /account", Action: self, Handler: u.account},
		{Pattern: "POST /account/password", Action: self, Handler: u.changePassword},
		{Pattern: "POST /account/delete", Action: self, Handler: u.deleteAccount},
		{Pattern: "POST /account/sessions/{session}/revoke", Action: self, Handler: u.revokeSession},
		{Pattern: "POST /account/tokens", Action: self, Handler: u.createToken},
		{Pattern: "POST /account/totp", Action: self, Handler: u.beginTOTP},
		{Pattern: "POST /account/totp/confirm", Action: self, Handler: u.confirmTOTP},
		{Pattern: "POST /account/totp/disable", Action: self, Handler: u.disableTOTP},
		{Pattern: "POST /account/passkeys/{passkey}/delete", Action: self, Handler: u.deletePasskey},

		{Pattern: "GET /oauth2/authorize", Action: self, Handler: u.consentPage},
		{Pattern: "POST /oauth2/authorize", Action: self, Handler: u.consent},
		{Pattern: "GET /account/links", Action: self, Handler: u.links},
		{Pattern: "POST /account/links/{link}/revoke", Action: self, Handler: u.revokeLink},
		{Pattern: "POST /homes/{home}/links/disconnect", Action: domain.ActionLinkManage, Handler: u.disconnectHome},
		{Pattern: "GET /admin/integrations", Action: domain.ActionInstanceAdmin, Handler: u.integrations},
		{Pattern: "POST /admin/integrations/{integration}/disable", Action: domain.ActionInstanceAdmin, Handler: u.setIntegration(false)},
		{Pattern: "POST /admin/integrations/{integration}/enable", Action: domain.ActionInstanceAdmin, Handler: u.setIntegration(true)},
	}
	for i := range routes {
		routes[i].Browser = true
		routes[i].Handler = u.validIDs(routes[i].Pattern, routes[i].Handler)
	}
	return routes
}

// idParams are the path wildcards that hold IDs.
var idParams = []string{"home", "camera", "account", "session", "link", "integration"}

// validIDs answers the not-found page, before any use case runs, when a
// path ID of the route is malformed.
func (u *UI) validIDs(pattern string, h httpserver.Handler) httpserver.Handler {
	var names []string
	for _, n := range idParams {
		if strings.Contains(pattern, "{"+n+"}") {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request, c service.Caller) {
		for _, n := range names {
			if !domain.ValidID(r.PathValue(n)) {
				u.notFound(w, c)
				return
			}
		}
		h(w, r, c)
	}
}

// page is what every template receives.
type page struct {
	Title    string
	SignedIn bool
	Admin    bool // an instance administrator
	Email    string
	Notice   string // a success message
	Error    string // a client-safe error message
	Data     any
}

// render writes a page with status.
func (u *UI) render(w http.ResponseWriter, c service.Caller, status int, name string, p page) {
	t, ok := u.pages[name]
	if !ok {
		u.log.Error("webui: no such template", "template", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p.SignedIn = !c.Anonymous()
	p.Admin = p.SignedIn && c.Account.InstanceAdmin && !c.Account.Disabled
	p.Email = c.Account.Email
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", p); err != nil {
		u.log.Error("webui: render", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// fail answers a failed use case: unauthenticated callers go to the
// sign-in page; other errors re-render name with the client-safe message.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, c service.Caller, err error, name string, p page) {
	kind := service.KindOf(err)
	if kind == service.KindUnauthenticated && !c.Anonymous() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	p.Error = message(err)
	if kind == service.KindInternal {
		u.log.Error("webui: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if kind == service.KindNotFound {
		name, p = "notfound", page{Title: "Not found", Error: p.Error}
	}
	var e *service.Error
	if errors.As(err, &e) && e.Kind == service.KindThrottled && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(e.RetryAfter.Seconds())+1))
	}
	u.render(w, c, httpserver.Status(kind), name, p)
}

// message is the text a person sees for err.
func message(err error) string {
	var e *service.Error
	if errors.As(err, &e) && e.Kind != service.KindInternal {
		return e.Message
	}
	return "Something went wrong on our side. Please try again."
}

// notFound renders the not-found page, exactly as for a resource of another
// home.
func (u *UI) notFound(w http.ResponseWriter, c service.Caller) {
	u.render(w, c, http.StatusNotFound, "notfound", page{Title: "Not found"})
}

// see redirects after a successful form post.
func see(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// form parses the posted form; the body is already size-limited.
func form(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return &service.Error{Kind: service.KindInvalid, Code: "invalid", Message: "the form could not be read"}
	}
	return nil
}

// id reads a path ID.
func id(r *http.Request, name string) domain.ID { return domain.ID(r.PathValue(name)) }

// localPath returns next if it is a path on this site, else fallback.
func localPath(next, fallback string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return fallback
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return fallback
	}
	return next
}

func (u *UI) index(w http.ResponseWriter, r *http.Request, c service.Caller) {
	if c.Anonymous() {
		see(w, r, "/login")
		return
	}
	see(w, r, "/homes")
}

func (u *UI) static(w http.ResponseWriter, r *http.Request, c service.Caller) {
	name := r.PathValue("file")
	version, ok := staticVersion[name]
	if !ok || strings.ContainsAny(name, "/\\") {
		u.notFound(w, c)
		return
	}
	b, err := fs.ReadFile(staticFS, "static/"+name)
	if err != nil {
		u.notFound(w, c)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("ETag", `"`+version+`"`)
	if r.URL.Query().Get("v") == version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// An unversioned or stale link: cache briefly, revalidate by ETag.
		h.Set("Cache-Control", "public, max-age=300")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}
