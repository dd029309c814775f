package service

import (
	"context"
	"encoding/hex"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/domain"
)

// LoginLinkTTL is how long a one-time login link works.
const LoginLinkTTL = time.Hour

// loginLinks are one-time sign-in links made by the operator (camvault
// demo), kept only as hashes and only in memory.
type loginLinks struct {
	mu sync.Mutex // guards m
	m  map[string]loginLink
}

type loginLink struct {
	account domain.ID
	expires time.Time
}

// CreateLoginLink makes a one-time sign-in link for an account. It is for
// the operator's own tools run beside the server (the demo), never exposed
// over HTTP.
func (s *Service) CreateLoginLink(ctx context.Context, account domain.ID) (string, error) {
	if _, err := s.st.Account(ctx, account); err != nil {
		return "", internal("login link", err)
	}
	tok, hash := authn.NewToken(authn.KindLogin)
	s.links.mu.Lock()
	defer s.links.mu.Unlock()
	if s.links.m == nil {
		s.links.m = map[string]loginLink{}
	}
	s.links.m[hex.EncodeToString(hash)] = loginLink{account: account, expires: s.now().Add(LoginLinkTTL)}
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
	key := hex.EncodeToString(hash)
	s.links.mu.Lock()
	l, ok := s.links.m[key]
	delete(s.links.m, key)
	s.links.mu.Unlock()
	if !ok || !s.now().Before(l.expires) {
		return "", domain.Account{}, deny
	}
	a, err := s.st.Account(ctx, l.account)
	if err != nil || a.Disabled {
		return "", domain.Account{}, deny
	}
	return s.startSession(ctx, c, a, "login link")
}
