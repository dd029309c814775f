package service

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"strings"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/store"
)

// Redirect URI limits.
const (
	maxRedirectURIs   = 10
	maxRedirectURILen = 512
)

// IntegrationSpec is what registering an integration takes.
type IntegrationSpec struct {
	Name         string
	RedirectURIs []string
	// NotifyURL, optional, is where the platform takes change
	// notifications; https, or http to the local machine.
	NotifyURL string
}

// RegisterIntegration registers a third-party client (a smart-display
// platform) under its name with its exact redirect URIs, and returns it
// with its client secret, which is shown this once and stored only as its
// SHA-256 (it carries 256 random bits, like every camvault token). It
// is an instance administrator's action, run on the server's machine.
func (s *Service) RegisterIntegration(ctx context.Context, spec IntegrationSpec) (domain.Integration, string, error) {
	name, redirectURIs := spec.Name, spec.RedirectURIs
	name, err := cleanName(name, "integration name")
	if err != nil {
		return domain.Integration{}, "", err
	}
	if len(redirectURIs) == 0 || len(redirectURIs) > maxRedirectURIs {
		return domain.Integration{}, "", invalid("give 1 to 10 redirect URIs")
	}
	seen := map[string]bool{}
	for _, u := range redirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return domain.Integration{}, "", err
		}
		if seen[u] {
			return domain.Integration{}, "", invalid("redirect URI listed twice: " + u)
		}
		seen[u] = true
	}
	if spec.NotifyURL != "" {
		if err := checkRedirectURI(spec.NotifyURL); err != nil {
			return domain.Integration{}, "", invalid("notify URL: " + strings.TrimPrefix(err.Error(), "redirect URI "))
		}
	}
	secret, hash := authn.NewToken(authn.KindClientSecret)
	now := s.now()
	in := domain.Integration{ID: domain.NewID(), Name: name, ClientID: "cvc_" + string(domain.NewID()), SecretHash: hex.EncodeToString(hash),
		RedirectURIs: redirectURIs, NotifyURL: spec.NotifyURL, Enabled: true, CreatedAt: now, ChangedAt: now}
	if err := s.st.CreateIntegration(ctx, in); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return domain.Integration{}, "", conflict("an integration named " + name + " exists")
		}
		return domain.Integration{}, "", internal("create integration", err)
	}
	s.audit(ctx, Caller{}, domain.AuditEvent{Action: "integration.register", Result: domain.ResultOK, Detail: name})
	return in, secret, nil
}

// checkRedirectURI accepts absolute https URIs without fragments, and http
// only to the local machine (for development); they are matched exactly.
func checkRedirectURI(raw string) error {
	bad := func(why string) error { return invalid("redirect URI " + raw + ": " + why) }
	if len(raw) > maxRedirectURILen {
		return invalid("a redirect URI is at most 512 characters")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return bad("not an absolute URL")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("must not have a fragment")
	case u.User != nil:
		return bad("must not carry credentials")
	case strings.ContainsAny(raw, "*\\ "):
		return bad("no wildcards or spaces")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopbackHost(u.Hostname()):
		return nil
	}
	return bad("must be https (http only to localhost)")
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// SetIntegrationEnabled turns the named integration on or off. Turning it
// off revokes every link of it at once — their tokens stop working and
// their streams end — and turning it back on revives none: people link
// again. It returns how many links it revoked.
func (s *Service) SetIntegrationEnabled(ctx context.Context, name string, enabled bool) (int, error) {
	in, err := s.st.IntegrationByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, &Error{Kind: KindNotFound, Code: "not_found", Message: "no integration named " + name}
	}
	if err != nil {
		return 0, internal("integration", err)
	}
	return s.setIntegrationEnabled(ctx, Caller{}, in, enabled)
}

func (s *Service) setIntegrationEnabled(ctx context.Context, c Caller, in domain.Integration, enabled bool) (int, error) {
	var revoked []domain.Link
	err := s.withdrawing(ctx, func(ctx context.Context) ([]events.Event, error) {
		var err error
		if revoked, err = s.st.SetIntegrationEnabled(ctx, in.ID, enabled, s.now()); err != nil {
			return nil, internal("set integration", err)
		}
		return linksRevoked(revoked), nil
	})
	if err != nil {
		return 0, err
	}
	action := "integration.enable"
	if !enabled {
		action = "integration.disable"
	}
	s.audit(ctx, c, domain.AuditEvent{Action: action, Result: domain.ResultOK, Detail: in.Name})
	for _, l := range revoked {
		s.audit(ctx, c, domain.AuditEvent{HomeID: l.HomeID, Principal: l.AccountID, Action: "link.revoke", Result: domain.ResultOK,
			Detail: "integration " + in.Name + " disabled"})
	}
	return len(revoked), nil
}

// instanceAdmin refuses callers that are not instance administrators.
func (s *Service) instanceAdmin(c Caller) error {
	if c.Link != "" {
		return forbidden()
	}
	d := authz.Decide(c.principal(), domain.ActionInstanceAdmin, authz.Resource{}, authz.Facts{Now: s.now()})
	if !d.Allowed {
		return denial(c, d)
	}
	return nil
}

// AdminIntegrations lists the integrations for an instance administrator.
func (s *Service) AdminIntegrations(ctx context.Context, c Caller) ([]domain.Integration, error) {
	if err := s.instanceAdmin(c); err != nil {
		return nil, err
	}
	return s.Integrations(ctx)
}

// AdminSetIntegrationEnabled is SetIntegrationEnabled for an instance
// administrator in the web UI, by integration ID.
func (s *Service) AdminSetIntegrationEnabled(ctx context.Context, c Caller, id domain.ID, enabled bool) (int, error) {
	if err := s.instanceAdmin(c); err != nil {
		return 0, err
	}
	in, err := s.st.Integration(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, notFound()
	}
	if err != nil {
		return 0, internal("integration", err)
	}
	return s.setIntegrationEnabled(ctx, c, in, enabled)
}

// Integrations lists the registered integrations.
func (s *Service) Integrations(ctx context.Context) ([]domain.Integration, error) {
	all, err := s.st.Integrations(ctx)
	if err != nil {
		return nil, internal("integrations", err)
	}
	return all, nil
}
