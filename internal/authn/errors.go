package authn

import "errors"

var (
	// ErrMalformedHash reports a stored hash that is not argon2id PHC text
	// within the accepted limits.
	ErrMalformedHash = errors.New("authn: malformed password hash")
	// ErrMalformedToken reports a string that is not a token of the kind
	// asked for.
	ErrMalformedToken = errors.New("authn: malformed token")
)
