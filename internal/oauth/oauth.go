// Package oauth is camvault's OAuth 2.0 authorization server for
// registered integrations (smart displays, assistants), built on
// github.com/ory/fosite: the authorization-code grant only, PKCE with S256
// required, redirect URIs matched exactly, state required, single-use
// short-lived codes whose reuse revokes everything issued from them,
// short-lived access tokens, refresh tokens rotated with reuse detection,
// revocation (RFC 7009) and throttled client authentication, after the
// OAuth 2.0 Security Best Current Practice (RFC 9700).
//
// What a grant may reach is not its scope but its link: every token
// carries the link the user's consent created, and package service asks
// the policy, at every use, for the intersection of that link and the
// account's own rights.
package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	foauth2 "github.com/ory/fosite/handler/oauth2"
	fhmac "github.com/ory/fosite/token/hmac"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/service"
)

// Default lifetimes.
const (
	DefaultAccessTokenTTL  = 10 * time.Minute
	DefaultRefreshTokenTTL = 30 * 24 * time.Hour
	DefaultCodeTTL         = time.Minute
)

// Config configures the server.
type Config struct {
	Store Store
	// Secret is the server key; the tokens' HMAC key is derived from it.
	Secret []byte
	// Lifetimes; zero means the default.
	AccessTokenTTL, RefreshTokenTTL, CodeTTL time.Duration
	// CheckLink reports whether a grant's link still stands (live, its
	// integration enabled, its account still a member). The token
	// endpoint refuses, and revokes, a grant whose link does not.
	CheckLink func(ctx context.Context, link, account domain.ID) error
	// Issuer is the server's issuer identifier: its public base URL
	// (https, or http for loopback), without a trailing slash. Every
	// authorization response carries it as iss (RFC 9207), so that a
	// client talking to several servers can tell which one answered and
	// a mix-up attack fails. Required.
	Issuer string
	Logger *slog.Logger
	// Throttle counts failed client authentications; nil counts in this
	// process only. A cluster passes one shared by every node.
	Throttle *authn.Throttle
}

// Server is the authorization server.
type Server struct {
	cfg      Config
	st       *storage
	provider fosite.OAuth2Provider
	throttle *authn.Throttle
	log      *slog.Logger
}

// New returns a server over cfg.Store.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || len(cfg.Secret) < 32 || cfg.CheckLink == nil {
		return nil, errors.New("oauth: a store, a 32-byte secret and CheckLink are required")
	}
	if u, err := url.Parse(cfg.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(cfg.Issuer, "/") {
		return nil, errors.New("oauth: the issuer must be the server's absolute base URL without a trailing slash, query or fragment")
	}
	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if cfg.RefreshTokenTTL <= 0 {
		cfg.RefreshTokenTTL = DefaultRefreshTokenTTL
	}
	if cfg.CodeTTL <= 0 {
		cfg.CodeTTL = DefaultCodeTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	mac := hmac.New(sha256.New, cfg.Secret)
	mac.Write([]byte("camvault oauth token signing v1"))
	fc := &fosite.Config{
		AccessTokenLifespan:            cfg.AccessTokenTTL,
		RefreshTokenLifespan:           cfg.RefreshTokenTTL,
		AuthorizeCodeLifespan:          cfg.CodeTTL,
		GlobalSecret:                   mac.Sum(nil),
		EnforcePKCE:                    true,
		EnablePKCEPlainChallengeMethod: false,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       fosite.DefaultAudienceMatchingStrategy,
		ClientSecretsHasher:            secretHasher{},
		RefreshTokenScopes:             []string{},
		SendDebugMessagesToClients:     false,
	}
	st := &storage{st: cfg.Store}
	strat := strategy{foauth2.NewHMACSHAStrategyUnPrefixed(&fhmac.HMACStrategy{Config: fc}, fc)}
	provider := compose.Compose(fc, st, strat,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2PKCEFactory,
	)
	th := cfg.Throttle
	if th == nil {
		th = authn.NewThrottle(nil)
	}
	return &Server{cfg: cfg, st: st, provider: provider, throttle: th, log: cfg.Logger}, nil
}

// secretHasher compares a presented client secret with the stored hex
// SHA-256 of it (secrets carry 256 random bits; see authn.HashToken).
type secretHasher struct{}

func (secretHasher) Compare(_ context.Context, hash, data []byte) error {
	got, err := authn.ParseToken(authn.KindClientSecret, string(data))
	if err != nil || subtle.ConstantTimeCompare([]byte(hex.EncodeToString(got)), hash) != 1 {
		return fosite.ErrNotFound
	}
	return nil
}

func (secretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	return []byte(hex.EncodeToString(authn.HashToken(string(data)))), nil
}

// ErrBadClient is an authorization request whose client or redirect URI
// cannot be trusted: it is answered with a page, never a redirect.
var ErrBadClient = errors.New("This app is not registered here, or it sent an unregistered redirect address.")

// Refusal is an authorization request refused with an error sent back to
// the client's (verified) redirect URI.
type Refusal struct {
	URL  string
	Code string
}

func (r *Refusal) Error() string { return "oauth: authorization refused: " + r.Code }

// Authorization is a checked authorization request awaiting the user's
// consent.
type Authorization struct {
	Integration domain.Integration
	// Params are the request's OAuth parameters, which the consent form
	// posts back.
	Params url.Values
	ar     fosite.AuthorizeRequester
	p      authorizeParams
}

// RedirectOrigin is the origin (scheme://host[:port]) of the request's
// redirect URI, which a consent form's Content-Security-Policy must allow
// as a form action: browsers apply form-action to the redirect that
// follows the form.
func (a *Authorization) RedirectOrigin() string {
	u, err := url.Parse(a.p.RedirectURI)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	for _, c := range u.Host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)) {
			return ""
		}
	}
	return u.Scheme + "://" + u.Host
}

// ParseAuthorize checks an authorization request (GET query or posted
// consent form). It returns ErrBadClient or a *Refusal on failure.
func (s *Server) ParseAuthorize(r *http.Request) (*Authorization, error) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		return nil, ErrBadClient
	}
	var in domain.Integration
	p, err := parseAuthorize(r.Form, func(clientID string) ([]string, bool) {
		var err error
		in, err = s.cfg.Store.IntegrationByClientID(ctx, clientID)
		return in.RedirectURIs, err == nil && in.Enabled
	})
	var re *requestError
	switch {
	case errors.Is(err, errBadClient):
		return nil, ErrBadClient
	case errors.As(err, &re):
		return nil, &Refusal{URL: redirectError(p.RedirectURI, p.State, s.cfg.Issuer, re), Code: re.code}
	case err != nil:
		return nil, ErrBadClient
	}
	ar, err := s.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		if !ar.IsRedirectURIValid() {
			return nil, ErrBadClient
		}
		return nil, &Refusal{URL: redirectError(p.RedirectURI, p.State, s.cfg.Issuer, &requestError{rfc.ErrorField, rfc.DescriptionField}), Code: rfc.ErrorField}
	}
	params := url.Values{}
	for _, k := range oauthParams {
		if v := r.Form.Get(k); v != "" {
			params.Set(k, v)
		}
	}
	return &Authorization{Integration: in, Params: params, ar: ar, p: p}, nil
}

// Grant answers the authorization with a code for link, given by account,
// redirecting the browser to the client.
func (s *Server) Grant(w http.ResponseWriter, r *http.Request, a *Authorization, link domain.Link) {
	ctx := r.Context()
	if a.ar.GetRequestedScopes().Has(Scope) {
		a.ar.GrantScope(Scope)
	}
	resp, err := s.provider.NewAuthorizeResponse(ctx, a.ar, &Session{Link: link.ID, Account: link.AccountID})
	if err != nil {
		s.log.Warn("oauth: authorize response", "client", a.p.ClientID, "err", err)
		s.provider.WriteAuthorizeError(ctx, w, a.ar, err)
		return
	}
	resp.AddParameter("iss", s.cfg.Issuer)
	s.provider.WriteAuthorizeResponse(ctx, w, a.ar, resp)
}

// Deny answers the authorization with access_denied.
func (s *Server) Deny(w http.ResponseWriter, r *http.Request, a *Authorization) {
	to := redirectError(a.p.RedirectURI, a.p.State, s.cfg.Issuer, &requestError{"access_denied", "the user did not allow access"})
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// Routes returns the token and revocation endpoints.
func (s *Server) Routes() []httpserver.Route {
	const why = "OAuth client endpoint: the client authenticates with its secret (throttled) and presents a code or token"
	return []httpserver.Route{
		{Pattern: "POST /oauth2/token", Public: why, Handler: s.token},
		{Pattern: "POST /oauth2/revoke", Public: why, Handler: s.revoke},
	}
}

// Client authentication throttle policies: the address and client pair
// (PairPolicy) slows down first; an address trying many clients next. A
// client is not throttled on its own, so that nobody can lock an
// integration out.
var (
	PairPolicy = authn.Policy{Free: 5, Base: time.Second, Max: 5 * time.Minute}
	addrPolicy = authn.Policy{Free: 20, Base: time.Second, Max: 15 * time.Minute}
)

func clientKeys(r *http.Request, addr string) []authn.Key {
	id, _, ok := r.BasicAuth()
	if !ok {
		id = r.PostFormValue("client_id")
	}
	if len(id) > 128 {
		id = id[:128]
	}
	return []authn.Key{
		{Name: "oauth-pair\x00" + id + "\x00" + addr, Policy: PairPolicy},
		{Name: "oauth-addr\x00" + addr, Policy: addrPolicy},
	}
}

// throttled answers 429 when the caller must wait, and reports whether it
// did.
func (s *Server) throttled(ctx context.Context, w http.ResponseWriter, keys []authn.Key) bool {
	wait := s.throttle.Wait(ctx, keys...)
	if wait <= 0 {
		return false
	}
	w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusTooManyRequests)
	w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"too many failed client authentications; retry later"}`))
	return true
}

// clientFailed records a failed client authentication.
func (s *Server) clientFailed(ctx context.Context, err error, keys []authn.Key) {
	if errors.Is(err, fosite.ErrInvalidClient) {
		s.throttle.Fail(ctx, keys...)
	}
}

func (s *Server) token(w http.ResponseWriter, r *http.Request, c service.Caller) {
	ctx := r.Context()
	keys := clientKeys(r, c.Addr)
	if s.throttled(ctx, w, keys) {
		return
	}
	ar, err := s.provider.NewAccessRequest(ctx, r, &Session{})
	if err != nil {
		s.clientFailed(ctx, err, keys)
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	// A refresh grants what the authorization granted, never more
	// (RFC 6749 §6): a wider scope is refused, not quietly narrowed.
	if ar.GetGrantTypes().ExactOne("refresh_token") {
		for _, sc := range strings.Fields(ar.GetRequestForm().Get("scope")) {
			if !ar.GetGrantedScopes().Has(sc) {
				s.provider.WriteAccessError(ctx, w, ar, fosite.ErrInvalidScope.WithHint("A refresh cannot widen the granted scope."))
				return
			}
		}
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok || sess.Link == "" {
		s.provider.WriteAccessError(ctx, w, ar, fosite.ErrInvalidGrant)
		return
	}
	if err := s.cfg.CheckLink(ctx, sess.Link, sess.Account); err != nil {
		// The link is gone: nothing issued under it may be used again.
		s.ForgetLink(ctx, sess.Link)
		s.provider.WriteAccessError(ctx, w, ar, fosite.ErrInvalidGrant.WithHint("The link to this account was revoked; link again."))
		return
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		if rfc := fosite.ErrorToRFC6749Error(err); rfc.CodeField >= 500 {
			s.log.Error("oauth: token", "client", ar.GetClient().GetID(), "err", err)
		}
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	s.throttle.Reset(ctx, keys[0])
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request, c service.Caller) {
	ctx := r.Context()
	keys := clientKeys(r, c.Addr)
	if s.throttled(ctx, w, keys) {
		return
	}
	err := s.provider.NewRevocationRequest(ctx, r)
	s.clientFailed(ctx, err, keys)
	s.provider.WriteRevocationResponse(ctx, w, err)
}

// Grant is what a valid access token stands for.
type Grant struct {
	Link     domain.ID
	Account  domain.ID
	ClientID string
}

// ErrInvalidToken is an access token that is unknown, expired, revoked, or
// of a disabled integration.
var ErrInvalidToken = errors.New("oauth: invalid access token")

// Verify checks an access token. Whether its link still stands is the
// service's to decide, at every use.
func (s *Server) Verify(ctx context.Context, token string) (Grant, error) {
	if !strings.HasPrefix(token, prefixAccess) || len(token) > 512 {
		return Grant{}, ErrInvalidToken
	}
	use, ar, err := s.provider.IntrospectToken(ctx, token, fosite.AccessToken, &Session{})
	if err != nil || use != fosite.AccessToken {
		return Grant{}, ErrInvalidToken
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok || sess.Link == "" {
		return Grant{}, ErrInvalidToken
	}
	return Grant{Link: sess.Link, Account: sess.Account, ClientID: ar.GetClient().GetID()}, nil
}

// ForgetLink deletes every grant issued under a link (after it was
// revoked: they could not be used anyway).
func (s *Server) ForgetLink(ctx context.Context, link domain.ID) {
	if _, err := s.cfg.Store.DeleteOAuthTokens(ctx, domain.OAuthTokenFilter{LinkID: link}); err != nil {
		s.log.Warn("oauth: forget link's grants", "link", link, "err", err)
	}
}

// Purge deletes grants that expired before cutoff.
func (s *Server) Purge(ctx context.Context, cutoff time.Time) (int, error) {
	return s.cfg.Store.DeleteOAuthTokens(ctx, domain.OAuthTokenFilter{ExpiredBefore: cutoff})
}
