package oauth

import (
	"errors"
	"net/url"
	"slices"
	"strings"
)

// Limits on authorization request parameters.
const (
	maxParamLen    = 1024
	minVerifierLen = 43 // RFC 7636: code_challenge is base64url of 32 bytes
	maxVerifierLen = 128
)

// oauthParams are the authorization request's own parameters; each may
// appear at most once (RFC 6749 §3.1).
var oauthParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state",
	"code_challenge", "code_challenge_method", "response_mode", "prompt", "nonce"}

// errBadClient is a request that must not be redirected anywhere: its
// client or redirect URI cannot be trusted. The page says so instead.
var errBadClient = errors.New("unknown client or redirect URI")

// authorizeParams are the checked parameters of an authorization request.
type authorizeParams struct {
	ClientID, RedirectURI, State, Challenge, Scope string
}

// requestError is a refusal to send back to the client's redirect URI.
type requestError struct {
	code, description string
}

func (e *requestError) Error() string { return e.code + ": " + e.description }

// parseAuthorize checks an authorization request's parameters before
// fosite sees them, stricter than RFC 6749 alone (RFC 9700): no parameter
// twice, a redirect URI always given and matched exactly, a state, and a
// PKCE S256 challenge. It returns errBadClient (wrapped) when the client
// or redirect URI is in doubt, else a *requestError.
func parseAuthorize(form url.Values, redirectURIs func(clientID string) ([]string, bool)) (authorizeParams, error) {
	if len(form["client_id"]) > 1 || len(form["redirect_uri"]) > 1 {
		return authorizeParams{}, errBadClient
	}
	for k, vs := range form {
		for _, v := range vs {
			if len(v) > maxParamLen || len(k) > 64 {
				return authorizeParams{}, errBadClient
			}
		}
	}
	p := authorizeParams{ClientID: form.Get("client_id"), RedirectURI: form.Get("redirect_uri"), State: form.Get("state"),
		Challenge: form.Get("code_challenge"), Scope: form.Get("scope")}
	uris, ok := redirectURIs(p.ClientID)
	if p.ClientID == "" || !ok || p.RedirectURI == "" || !slices.Contains(uris, p.RedirectURI) {
		return p, errBadClient
	}
	for _, k := range oauthParams {
		if len(form[k]) > 1 {
			if k == "state" {
				p.State = ""
			}
			return p, &requestError{"invalid_request", "the parameter " + k + " is repeated"}
		}
	}
	switch {
	case form.Get("response_type") != "code":
		return p, &requestError{"unsupported_response_type", "only the authorization code flow is supported"}
	case form.Get("response_mode") != "" && form.Get("response_mode") != "query":
		return p, &requestError{"invalid_request", "only response_mode=query is supported"}
	case p.State == "":
		return p, &requestError{"invalid_request", "state is required"}
	case p.Challenge == "":
		return p, &requestError{"invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256"}
	case form.Get("code_challenge_method") != "S256":
		return p, &requestError{"invalid_request", "code_challenge_method must be S256"}
	case len(p.Challenge) < minVerifierLen || len(p.Challenge) > maxVerifierLen || !unreserved(p.Challenge):
		return p, &requestError{"invalid_request", "code_challenge is malformed"}
	}
	for _, s := range strings.Fields(p.Scope) {
		if s != Scope {
			return p, &requestError{"invalid_scope", "the only scope is " + Scope}
		}
	}
	return p, nil
}

// unreserved reports whether s has only RFC 3986 unreserved characters.
func unreserved(s string) bool {
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// redirectError is the redirect URI with an error for the client.
func redirectError(redirectURI, state, issuer string, e *requestError) string {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("error", e.code)
	q.Set("error_description", e.description)
	q.Set("state", state)
	q.Set("iss", issuer)
	u.RawQuery = q.Encode()
	return u.String()
}
