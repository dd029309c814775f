package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"strings"
)

// Devices prove they hold their key by signing a server nonce with it.
// The signed message names its purpose so that a signature for one
// request is never valid for another.

// Proof purposes.
const (
	ProofEnroll      = "enroll"
	ProofCertificate = "certificate"
)

// MaxDeviceKeyBytes bounds an encoded device public key.
const MaxDeviceKeyBytes = 512

// ParseDeviceKey parses a device's public key (PKIX DER). Only ECDSA P-256
// and Ed25519 keys are accepted.
func ParseDeviceKey(der []byte) (crypto.PublicKey, error) {
	if len(der) == 0 || len(der) > MaxDeviceKeyBytes {
		return nil, ErrBadDeviceKey
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, ErrBadDeviceKey
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, ErrBadDeviceKey
		}
	case ed25519.PublicKey:
	default:
		return nil, ErrBadDeviceKey
	}
	return pub, nil
}

// ProofMessage is what a device signs to prove it holds the private key of
// keyDER, for purpose, against the server's nonce.
func ProofMessage(purpose, nonce string, keyDER []byte) []byte {
	return []byte("camvault device proof v1\x00" + purpose + "\x00" + nonce + "\x00" + base64.RawStdEncoding.EncodeToString(keyDER))
}

// SignProof signs the proof message with the device's key (ECDSA P-256
// over SHA-256, or Ed25519).
func SignProof(key crypto.Signer, purpose, nonce string) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	msg := ProofMessage(purpose, nonce, der)
	if _, ok := key.(ed25519.PrivateKey); ok {
		return key.Sign(nil, msg, crypto.Hash(0))
	}
	sum := sha256.Sum256(msg)
	return key.Sign(nil, sum[:], crypto.SHA256)
}

// VerifyProof checks a device's proof of possession.
func VerifyProof(keyDER []byte, purpose, nonce string, sig []byte) error {
	pub, err := ParseDeviceKey(keyDER)
	if err != nil {
		return err
	}
	if len(sig) == 0 || len(sig) > 256 {
		return ErrBadProof
	}
	msg := ProofMessage(purpose, nonce, keyDER)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		sum := sha256.Sum256(msg)
		if ecdsa.VerifyASN1(k, sum[:], sig) {
			return nil
		}
	case ed25519.PublicKey:
		if ed25519.Verify(k, msg, sig) {
			return nil
		}
	}
	return ErrBadProof
}

// claimAlphabet has no characters that are easily confused (no 0/O,
// 1/I/L); 12 of them carry 59 bits.
const claimAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// claimLen is the number of code characters, printed in groups of four.
const claimLen = 12

// NewClaimCode returns a fresh claim code "XXXX-XXXX-XXXX" and its hash.
func NewClaimCode() (code string, hash []byte) {
	var b strings.Builder
	for i := range claimLen {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(claimAlphabet[randIndex(len(claimAlphabet))])
	}
	code = b.String()
	h, _ := ParseClaimCode(code)
	return code, h
}

// ParseClaimCode normalises a code as a person typed it (any case, spaces
// and dashes anywhere) and returns its hash. Codes carry enough entropy
// (59 bits) that a fast hash suffices, with attempts throttled per home and
// per address.
func ParseClaimCode(s string) ([]byte, error) {
	if len(s) > 64 {
		return nil, ErrMalformedClaimCode
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(claimAlphabet, r):
			b.WriteRune(r)
		default:
			return nil, ErrMalformedClaimCode
		}
	}
	if b.Len() != claimLen {
		return nil, ErrMalformedClaimCode
	}
	sum := sha256.Sum256([]byte("camvault claim code\x00" + b.String()))
	return sum[:], nil
}
