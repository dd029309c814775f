package oauth

import (
	"context"
	"strings"

	"github.com/ory/fosite"
	foauth2 "github.com/ory/fosite/handler/oauth2"
)

// Token prefixes name what an OAuth token is, like every camvault token,
// so that one pasted in the wrong place is recognised at a glance and by
// secret scanners.
const (
	prefixAccess  = "cvat_"
	prefixRefresh = "cvrt_"
	prefixCode    = "cvac_"
)

// strategy is fosite's HMAC-SHA strategy with camvault's prefixes. The
// signature is computed over the part after the dot, so the prefix does
// not change it.
type strategy struct {
	*foauth2.HMACSHAStrategyUnPrefixed
}

var _ foauth2.CoreStrategy = strategy{}

func withPrefix(prefix, token, sig string, err error) (string, string, error) {
	if err != nil || token == "" {
		return "", "", err
	}
	return prefix + token, sig, nil
}

// trim removes prefix from token; a token without it cannot be valid, so
// it becomes one that fails validation.
func trim(prefix, token string) string {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok {
		return ""
	}
	return rest
}

func (s strategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	t, sig, err := s.HMACSHAStrategyUnPrefixed.GenerateAccessToken(ctx, r)
	return withPrefix(prefixAccess, t, sig, err)
}

func (s strategy) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	return s.HMACSHAStrategyUnPrefixed.ValidateAccessToken(ctx, r, trim(prefixAccess, token))
}

func (s strategy) GenerateRefreshToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	t, sig, err := s.HMACSHAStrategyUnPrefixed.GenerateRefreshToken(ctx, r)
	return withPrefix(prefixRefresh, t, sig, err)
}

func (s strategy) ValidateRefreshToken(ctx context.Context, r fosite.Requester, token string) error {
	return s.HMACSHAStrategyUnPrefixed.ValidateRefreshToken(ctx, r, trim(prefixRefresh, token))
}

func (s strategy) GenerateAuthorizeCode(ctx context.Context, r fosite.Requester) (string, string, error) {
	t, sig, err := s.HMACSHAStrategyUnPrefixed.GenerateAuthorizeCode(ctx, r)
	return withPrefix(prefixCode, t, sig, err)
}

func (s strategy) ValidateAuthorizeCode(ctx context.Context, r fosite.Requester, token string) error {
	return s.HMACSHAStrategyUnPrefixed.ValidateAuthorizeCode(ctx, r, trim(prefixCode, token))
}
