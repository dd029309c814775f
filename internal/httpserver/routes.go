// Package httpserver serves camvault over HTTP(S): one route table in which
// every route declares the action it authorizes or a written reason to be
// public, the middleware every request passes (panic recovery, metrics,
// security headers, body limits, cross-origin protection, caller
// resolution), error mapping, and graceful shutdown.
//
// Adapters (api, webui) contribute Routes; New refuses a table with a route
// that declares neither an action nor a public reason.
package httpserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
)

// Handler serves a request for a resolved caller (anonymous on public
// routes when no one is signed in).
type Handler func(w http.ResponseWriter, r *http.Request, c service.Caller)

// Anyone adapts a handler that needs no caller, for adapters whose
// credential is in the request itself (stream URLs) and that do not
// import the service.
func Anyone(h http.HandlerFunc) Handler {
	return func(w http.ResponseWriter, r *http.Request, _ service.Caller) { h(w, r) }
}

// Route is one entry of the route table.
type Route struct {
	// Pattern is a net/http ServeMux pattern with a method:
	// "GET /api/v1/homes/{home}".
	Pattern string
	// Action is what the route authorizes. The handler's use case asks the
	// policy about this action on the route's resource; the server
	// refuses anonymous callers before the handler runs.
	Action domain.Action
	// Public, when Action is empty, says why anyone may call the route.
	Public string
	// Browser marks routes for people rather than programs: an
	// unauthenticated caller is sent to the sign-in page instead of
	// getting a JSON error.
	Browser bool
	Handler Handler
}

// Method returns the route's HTTP method.
func (r Route) Method() string { m, _, _ := strings.Cut(r.Pattern, " "); return m }

// Path returns the route's path pattern.
func (r Route) Path() string { _, p, _ := strings.Cut(r.Pattern, " "); return p }

// Check returns an error if the route does not declare exactly one of an
// action or a public reason, or has no method or handler.
func (r Route) Check() error {
	switch {
	case r.Handler == nil:
		return fmt.Errorf("route %q: no handler", r.Pattern)
	case !strings.Contains(r.Pattern, " "):
		return fmt.Errorf("route %q: pattern has no method", r.Pattern)
	case r.Action == "" && strings.TrimSpace(r.Public) == "":
		return fmt.Errorf("route %q: declares neither the action it authorizes nor why it is public", r.Pattern)
	case r.Action != "" && r.Public != "":
		return fmt.Errorf("route %q: declares both an action and a public reason", r.Pattern)
	}
	return nil
}

// Authenticator resolves credentials to a caller.
type Authenticator interface {
	Authenticate(ctx context.Context, token, addr, userAgent string) (service.Caller, error)
	RecordDenied(ctx context.Context, c service.Caller, action domain.Action, detail string)
}
