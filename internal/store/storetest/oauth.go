package storetest

import (
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

func testOAuthTokens(t *testing.T, s store.Store) {
	link := domain.NewID()
	tok := func(kind domain.OAuthTokenKind, sig, req string, exp time.Duration) domain.OAuthToken {
		t := domain.OAuthToken{Kind: kind, Signature: sig, RequestID: req, LinkID: link, Active: true, ExpiresAt: at(exp), Data: []byte(`{"id":"` + req + `"}`)}
		return t
	}
	code := tok(domain.OAuthCode, "sig-code", "req-1", time.Minute)
	access := tok(domain.OAuthAccess, "sig-a1", "req-1", 10*time.Minute)
	refresh := tok(domain.OAuthRefresh, "sig-r1", "req-1", 24*time.Hour)
	other := tok(domain.OAuthAccess, "sig-a2", "req-2", 10*time.Minute)
	other.LinkID = domain.NewID()
	for _, x := range []domain.OAuthToken{code, access, refresh, other} {
		must(t, "create "+x.Signature, s.CreateOAuthToken(ctx, x))
	}
	mustErr(t, "same kind and signature", s.CreateOAuthToken(ctx, code), store.ErrConflict)
	// The same signature under another kind is another grant.
	sameSig := tok(domain.OAuthPKCE, "sig-code", "req-1", time.Minute)
	must(t, "pkce beside its code", s.CreateOAuthToken(ctx, sameSig))

	got, err := s.OAuthToken(ctx, domain.OAuthCode, "sig-code")
	must(t, "get code", err)
	equal(t, "code", got, code)
	_, err = s.OAuthToken(ctx, domain.OAuthAccess, "sig-code")
	mustErr(t, "kind is part of the key", err, store.ErrNotFound)

	// A used code stays, inactive, so that its reuse is recognised.
	n, err := s.DeactivateOAuthTokens(ctx, store.OAuthTokenFilter{Kind: domain.OAuthCode, Signature: "sig-code"})
	must(t, "deactivate code", err)
	equal(t, "deactivated", n, 1)
	n, err = s.DeactivateOAuthTokens(ctx, store.OAuthTokenFilter{Kind: domain.OAuthCode, Signature: "sig-code"})
	must(t, "deactivate again", err)
	equal(t, "deactivated twice", n, 0)
	got, err = s.OAuthToken(ctx, domain.OAuthCode, "sig-code")
	must(t, "get used code", err)
	code.Active = false
	equal(t, "used code", got, code)

	// A family is revoked by request; other families stay.
	n, err = s.DeleteOAuthTokens(ctx, store.OAuthTokenFilter{Kind: domain.OAuthAccess, RequestID: "req-1"})
	must(t, "delete family's access tokens", err)
	equal(t, "deleted", n, 1)
	_, err = s.OAuthToken(ctx, domain.OAuthAccess, "sig-a1")
	mustErr(t, "deleted access token", err, store.ErrNotFound)
	_, err = s.OAuthToken(ctx, domain.OAuthAccess, "sig-a2")
	must(t, "other family untouched", err)

	// By link, every kind.
	n, err = s.DeleteOAuthTokens(ctx, store.OAuthTokenFilter{LinkID: link})
	must(t, "delete link's grants", err)
	equal(t, "deleted by link", n, 3)
	_, err = s.OAuthToken(ctx, domain.OAuthRefresh, "sig-r1")
	mustErr(t, "link's refresh token", err, store.ErrNotFound)

	// Expired grants are purged.
	n, err = s.DeleteOAuthTokens(ctx, store.OAuthTokenFilter{ExpiredBefore: at(time.Hour)})
	must(t, "purge", err)
	equal(t, "purged", n, 1)

	_, err = s.DeleteOAuthTokens(ctx, store.OAuthTokenFilter{Kind: domain.OAuthAccess})
	if err == nil {
		t.Fatal("deleting with only a kind must be refused")
	}
}
