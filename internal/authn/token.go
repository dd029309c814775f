package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// TokenKind is the prefix that names what a bearer token is for, so that
// a token of one kind is never accepted as another and leaked tokens are
// recognisable by secret scanners.
type TokenKind string

// Token kinds.
const (
	KindSession  TokenKind = "cvs"
	KindAPIToken TokenKind = "cvt"
	KindInvite   TokenKind = "cvi"
	KindSetup    TokenKind = "cvsetup"
	KindStream   TokenKind = "cvl"
	KindLogin    TokenKind = "cvlogin"
	// KindClientSecret is an integration's OAuth client secret.
	KindClientSecret TokenKind = "cvcs"
)

// tokenBytes is the token's entropy: 256 bits.
const tokenBytes = 32

var tokenEnc = base64.RawURLEncoding

// encodedLen is the length of the random part of a token.
var encodedLen = tokenEnc.EncodedLen(tokenBytes)

// NewToken returns a fresh random token "kind_<43 chars>" and its hash,
// which is all the server stores.
func NewToken(kind TokenKind) (token string, hash []byte) {
	b := make([]byte, tokenBytes)
	rand.Read(b)
	token = string(kind) + "_" + tokenEnc.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken returns the SHA-256 of the whole token. Tokens carry 256 bits
// of entropy, so a fast hash is enough: the hash protects a leaked
// database, not a guessable secret.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// ParseToken checks that s is a well-formed token of kind and returns its
// hash for lookup.
func ParseToken(kind TokenKind, s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, string(kind)+"_")
	if !ok || len(rest) != encodedLen {
		return nil, ErrMalformedToken
	}
	b, err := tokenEnc.Strict().DecodeString(rest)
	if err != nil || len(b) != tokenBytes {
		return nil, ErrMalformedToken
	}
	return HashToken(s), nil
}
