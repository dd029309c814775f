package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"

	"github.com/camvault/camvault/internal/domain"
)

// Store is what the OAuth server keeps: integrations (its clients) and
// grants.
type Store interface {
	IntegrationByClientID(ctx context.Context, clientID string) (domain.Integration, error)
	CreateOAuthToken(ctx context.Context, t domain.OAuthToken) error
	OAuthToken(ctx context.Context, kind domain.OAuthTokenKind, signature string) (domain.OAuthToken, error)
	DeactivateOAuthTokens(ctx context.Context, f domain.OAuthTokenFilter) (int, error)
	DeleteOAuthTokens(ctx context.Context, f domain.OAuthTokenFilter) (int, error)
}

// Scope is the one scope camvault grants: which cameras and actions are
// decided per camera on the consent page and kept in the link.
const Scope = "cameras"

// client is an enabled integration as fosite sees it: a confidential
// client of the authorization-code grant with its exact redirect URIs.
type client struct {
	fosite.DefaultClient
	integration domain.Integration
}

func newClient(in domain.Integration) *client {
	return &client{
		integration: in,
		DefaultClient: fosite.DefaultClient{
			ID:            in.ClientID,
			Secret:        []byte(in.SecretHash),
			RedirectURIs:  in.RedirectURIs,
			GrantTypes:    []string{"authorization_code", "refresh_token"},
			ResponseTypes: []string{"code"},
			Scopes:        []string{Scope},
		},
	}
}

// Session is what a grant carries: the link it acts under and the
// account that gave it.
type Session struct {
	Link      domain.ID                      `json:"link"`
	Account   domain.ID                      `json:"account"`
	ExpiresAt map[fosite.TokenType]time.Time `json:"expires_at"`
}

var _ fosite.Session = (*Session)(nil)

// SetExpiresAt implements fosite.Session.
func (s *Session) SetExpiresAt(key fosite.TokenType, exp time.Time) {
	if s.ExpiresAt == nil {
		s.ExpiresAt = map[fosite.TokenType]time.Time{}
	}
	s.ExpiresAt[key] = exp
}

// GetExpiresAt implements fosite.Session.
func (s *Session) GetExpiresAt(key fosite.TokenType) time.Time { return s.ExpiresAt[key] }

// GetUsername implements fosite.Session.
func (s *Session) GetUsername() string { return "" }

// GetSubject implements fosite.Session.
func (s *Session) GetSubject() string { return string(s.Account) }

// Clone implements fosite.Session.
func (s *Session) Clone() fosite.Session {
	c := *s
	c.ExpiresAt = make(map[fosite.TokenType]time.Time, len(s.ExpiresAt))
	for k, v := range s.ExpiresAt {
		c.ExpiresAt[k] = v
	}
	return &c
}

// keptForm are the request parameters a grant keeps: what the code
// exchange must match (redirect URI, PKCE challenge). Nothing secret is
// kept — no code, verifier, refresh token or client secret.
var keptForm = []string{"redirect_uri", "code_challenge", "code_challenge_method", "scope"}

// record is a grant's request as stored.
type record struct {
	ID             string            `json:"id"`
	RequestedAt    time.Time         `json:"requested_at"`
	ClientID       string            `json:"client_id"`
	RequestedScope []string          `json:"requested_scope"`
	GrantedScope   []string          `json:"granted_scope"`
	Form           map[string]string `json:"form"`
	Session        *Session          `json:"session"`
}

// storage implements fosite's storage interfaces over the store.
type storage struct {
	st Store
}

// GetClient implements fosite.ClientManager: an enabled integration.
func (s *storage) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	in, err := s.st.IntegrationByClientID(ctx, id)
	if errors.Is(err, domain.ErrNotFound) || (err == nil && !in.Enabled) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return newClient(in), nil
}

// ClientAssertionJWTValid implements fosite.ClientManager; camvault's
// clients authenticate with their secret, never with a JWT.
func (s *storage) ClientAssertionJWTValid(context.Context, string) error { return nil }

// SetClientAssertionJWT implements fosite.ClientManager.
func (s *storage) SetClientAssertionJWT(context.Context, string, time.Time) error {
	return fosite.ErrServerError.WithHint("client assertions are not supported")
}

func (s *storage) create(ctx context.Context, kind domain.OAuthTokenKind, sig string, r fosite.Requester, exp fosite.TokenType) error {
	sess, ok := r.GetSession().(*Session)
	if !ok || sess.Link == "" {
		return fmt.Errorf("oauth: grant without a link session")
	}
	rec := record{ID: r.GetID(), RequestedAt: r.GetRequestedAt(), ClientID: r.GetClient().GetID(),
		RequestedScope: r.GetRequestedScopes(), GrantedScope: r.GetGrantedScopes(), Form: map[string]string{}, Session: sess}
	for _, k := range keptForm {
		if v := r.GetRequestForm().Get(k); v != "" {
			rec.Form[k] = v
		}
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	expires := sess.GetExpiresAt(exp)
	if kind == domain.OAuthPKCE {
		expires = sess.GetExpiresAt(fosite.AuthorizeCode)
	}
	return s.st.CreateOAuthToken(ctx, domain.OAuthToken{Kind: kind, Signature: sig, RequestID: r.GetID(), LinkID: sess.Link,
		Active: true, ExpiresAt: expires, Data: data})
}

// get loads a grant. An inactive one is returned with inactive set, so
// that fosite can revoke its family; a grant of a client that is gone or
// disabled is not found.
func (s *storage) get(ctx context.Context, kind domain.OAuthTokenKind, sig string, into fosite.Session) (req fosite.Requester, inactive bool, err error) {
	t, err := s.st.OAuthToken(ctx, kind, sig)
	if errors.Is(err, domain.ErrNotFound) {
		return nil, false, fosite.ErrNotFound
	}
	if err != nil {
		return nil, false, err
	}
	sess, ok := into.(*Session)
	if !ok || sess == nil {
		sess = &Session{}
	}
	rec := record{Session: sess}
	if err := json.Unmarshal(t.Data, &rec); err != nil {
		return nil, false, fmt.Errorf("oauth: decode grant: %w", err)
	}
	cl, err := s.GetClient(ctx, rec.ClientID)
	if err != nil {
		return nil, false, err
	}
	form := url.Values{}
	for k, v := range rec.Form {
		form.Set(k, v)
	}
	r := &fosite.Request{ID: rec.ID, RequestedAt: rec.RequestedAt, Client: cl, RequestedScope: rec.RequestedScope,
		GrantedScope: rec.GrantedScope, Form: form, Session: rec.Session}
	return r, !t.Active, nil
}

func (s *storage) deactivate(ctx context.Context, kind domain.OAuthTokenKind, sig string) error {
	_, err := s.st.DeactivateOAuthTokens(ctx, domain.OAuthTokenFilter{Kind: kind, Signature: sig})
	return err
}

func (s *storage) delete(ctx context.Context, kind domain.OAuthTokenKind, sig string) error {
	_, err := s.st.DeleteOAuthTokens(ctx, domain.OAuthTokenFilter{Kind: kind, Signature: sig})
	return err
}

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (s *storage) CreateAuthorizeCodeSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.create(ctx, domain.OAuthCode, code, r, fosite.AuthorizeCode)
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage; a used
// code answers fosite.ErrInvalidatedAuthorizeCode with its request, and
// fosite then revokes every token issued from it.
func (s *storage) GetAuthorizeCodeSession(ctx context.Context, code string, sess fosite.Session) (fosite.Requester, error) {
	r, inactive, err := s.get(ctx, domain.OAuthCode, code, sess)
	if err != nil {
		return nil, err
	}
	if inactive {
		return r, fosite.ErrInvalidatedAuthorizeCode
	}
	return r, nil
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (s *storage) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	return s.deactivate(ctx, domain.OAuthCode, code)
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage.
func (s *storage) CreatePKCERequestSession(ctx context.Context, sig string, r fosite.Requester) error {
	return s.create(ctx, domain.OAuthPKCE, sig, r, fosite.AuthorizeCode)
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (s *storage) GetPKCERequestSession(ctx context.Context, sig string, sess fosite.Session) (fosite.Requester, error) {
	r, _, err := s.get(ctx, domain.OAuthPKCE, sig, sess)
	return r, err
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage.
func (s *storage) DeletePKCERequestSession(ctx context.Context, sig string) error {
	return s.delete(ctx, domain.OAuthPKCE, sig)
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *storage) CreateAccessTokenSession(ctx context.Context, sig string, r fosite.Requester) error {
	return s.create(ctx, domain.OAuthAccess, sig, r, fosite.AccessToken)
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *storage) GetAccessTokenSession(ctx context.Context, sig string, sess fosite.Session) (fosite.Requester, error) {
	r, inactive, err := s.get(ctx, domain.OAuthAccess, sig, sess)
	if err != nil {
		return nil, err
	}
	if inactive {
		return nil, fosite.ErrNotFound
	}
	return r, nil
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *storage) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	return s.delete(ctx, domain.OAuthAccess, sig)
}

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *storage) CreateRefreshTokenSession(ctx context.Context, sig, _ string, r fosite.Requester) error {
	return s.create(ctx, domain.OAuthRefresh, sig, r, fosite.RefreshToken)
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage; a rotated
// refresh token answers fosite.ErrInactiveToken with its request, and
// fosite then revokes the whole family.
func (s *storage) GetRefreshTokenSession(ctx context.Context, sig string, sess fosite.Session) (fosite.Requester, error) {
	r, inactive, err := s.get(ctx, domain.OAuthRefresh, sig, sess)
	if err != nil {
		return nil, err
	}
	if inactive {
		return r, fosite.ErrInactiveToken
	}
	return r, nil
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage. The
// record stays, inactive: a deleted refresh token could not be
// recognised when it is presented again.
func (s *storage) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	return s.deactivate(ctx, domain.OAuthRefresh, sig)
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage: the family's
// refresh tokens become inactive (kept for reuse detection) and its access
// tokens are deleted, before the new pair is stored.
func (s *storage) RotateRefreshToken(ctx context.Context, requestID, _ string) error {
	if err := s.RevokeRefreshToken(ctx, requestID); err != nil {
		return err
	}
	return s.RevokeAccessToken(ctx, requestID)
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage.
func (s *storage) RevokeRefreshToken(ctx context.Context, requestID string) error {
	_, err := s.st.DeactivateOAuthTokens(ctx, domain.OAuthTokenFilter{Kind: domain.OAuthRefresh, RequestID: requestID})
	return err
}

// RevokeRefreshTokenMaybeGracePeriod revokes at once: camvault allows no
// grace period for a rotated refresh token.
func (s *storage) RevokeRefreshTokenMaybeGracePeriod(ctx context.Context, requestID, _ string) error {
	return s.RevokeRefreshToken(ctx, requestID)
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage.
func (s *storage) RevokeAccessToken(ctx context.Context, requestID string) error {
	_, err := s.st.DeleteOAuthTokens(ctx, domain.OAuthTokenFilter{Kind: domain.OAuthAccess, RequestID: requestID})
	return err
}
