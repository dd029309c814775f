package authn

import "errors"

var (
	// ErrMalformedHash reports a stored hash that is not argon2id PHC text
	// within the accepted limits.
	ErrMalformedHash = errors.New("authn: malformed password hash")
	// ErrMalformedToken reports a string that is not a token of the kind
	// asked for.
	ErrMalformedToken = errors.New("authn: malformed token")
	// ErrBadDeviceKey reports a device public key that is not PKIX DER of
	// an accepted type (ECDSA P-256 or Ed25519).
	ErrBadDeviceKey = errors.New("authn: unsupported or malformed device key")
	// ErrBadProof reports a device signature that does not verify.
	ErrBadProof = errors.New("authn: device proof does not verify")
	// ErrMalformedClaimCode reports text that cannot be a claim code.
	ErrMalformedClaimCode = errors.New("authn: malformed claim code")
)
