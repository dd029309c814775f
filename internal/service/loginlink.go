package service

import (
	"context"
	"time"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/domain"
)

// LoginLinkTTL is how long a one-time login link works.
const LoginLinkTTL = time.Hour

// One-time sign-in links are made by the operator (camvault demo) and kept
// only as hashes, in the store (kind onceLogin) with the account as owner.

// CreateLoginLink makes a one-time sign-in link for an account. It is for
// the operator's own tools run beside the server (the demo), never exposed
// over HTTP.
func (s *Service) CreateLoginLink(ctx context.Context, account domain.ID) (string, error) {
	if _, err := s.st.Account(ctx, account); err != nil {
		return "", internal("login link", err)
	}
	tok, hash := authn.NewToken(authn.KindLogin)
	if err := s.putOnce(ctx, onceLogin, hash, account, nil, s.now().Add(LoginLinkTTL)); err != nil {
		return "", internal("login link", err)
	}
	return s.cfg.BaseURL + "/login/link#" + tok, nil
}

// RedeemLoginLink signs in with a one-time link: it works once, within its
// hour, for an enabled account.
func (s *Service) RedeemLoginLink(ctx context.Context, c Caller, token string) (string, domain.Account, error) {
	deny := &Error{Kind: KindNotFound, Code: "not_found", Message: "this sign-in link is not valid (it works once, for an hour)"}
	hash, err := authn.ParseToken(authn.KindLogin, token)
	if err != nil {
		return "", domain.Account{}, deny
	}
	l, ok, err := s.takeOnce(ctx, onceLogin, hash, nil)
	if err != nil {
		return "", domain.Account{}, internal("login link", err)
	}
	if !ok {
		return "", domain.Account{}, deny
	}
	a, err := s.st.Account(ctx, l.Owner)
	if err != nil || a.Disabled {
		return "", domain.Account{}, deny
	}
	return s.startSession(ctx, c, a, "login link")
}
