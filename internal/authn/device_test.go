package authn

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
)

func TestDeviceProof(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name string
		key  any
	}{{"ecdsa", ec}, {"ed25519", ed}} {
		var der []byte
		var sig []byte
		var err error
		switch k := tc.key.(type) {
		case *ecdsa.PrivateKey:
			der, _ = x509.MarshalPKIXPublicKey(&k.PublicKey)
			sig, err = SignProof(k, ProofEnroll, "nonce-1")
		case ed25519.PrivateKey:
			der, _ = x509.MarshalPKIXPublicKey(k.Public())
			sig, err = SignProof(k, ProofEnroll, "nonce-1")
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyProof(der, ProofEnroll, "nonce-1", sig); err != nil {
			t.Errorf("%s: valid proof refused: %v", tc.name, err)
		}
		if err := VerifyProof(der, ProofCertificate, "nonce-1", sig); !errors.Is(err, ErrBadProof) {
			t.Errorf("%s: proof for another purpose accepted: %v", tc.name, err)
		}
		if err := VerifyProof(der, ProofEnroll, "nonce-2", sig); !errors.Is(err, ErrBadProof) {
			t.Errorf("%s: proof for another nonce accepted: %v", tc.name, err)
		}
	}
	// Another key's proof does not verify for this key.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	sig, _ := SignProof(other, ProofEnroll, "n")
	if err := VerifyProof(der, ProofEnroll, "n", sig); !errors.Is(err, ErrBadProof) {
		t.Errorf("another key's proof accepted: %v", err)
	}
	// Unsupported keys are refused.
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	for name, pub := range map[string]any{"p384": &p384.PublicKey, "rsa": &rk.PublicKey} {
		der, _ := x509.MarshalPKIXPublicKey(pub)
		if _, err := ParseDeviceKey(der); !errors.Is(err, ErrBadDeviceKey) {
			t.Errorf("%s key accepted: %v", name, err)
		}
	}
	if _, err := ParseDeviceKey([]byte("garbage")); !errors.Is(err, ErrBadDeviceKey) {
		t.Errorf("garbage key accepted: %v", err)
	}
}

func TestClaimCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		code, hash := NewClaimCode()
		if len(code) != 14 || code[4] != '-' || code[9] != '-' || seen[code] {
			t.Fatalf("code %q", code)
		}
		seen[code] = true
		for _, typed := range []string{code, strings.ToLower(code), strings.ReplaceAll(code, "-", ""), strings.ReplaceAll(code, "-", " ")} {
			h, err := ParseClaimCode(typed)
			if err != nil || string(h) != string(hash) {
				t.Fatalf("code %q typed as %q: %x %v", code, typed, h, err)
			}
		}
	}
	for _, bad := range []string{"", "7KQ4-M2XH-9TP", "7KQ4-M2XH-9TPC-7", "0KQ4-M2XH-9TPC", "IKQ4-M2XH-9TPC", "7KQ4_M2XH_9TPC", strings.Repeat("A", 100)} {
		if _, err := ParseClaimCode(bad); !errors.Is(err, ErrMalformedClaimCode) {
			t.Errorf("ParseClaimCode(%q) = %v", bad, err)
		}
	}
}

func FuzzParseClaimCode(f *testing.F) {
	code, _ := NewClaimCode()
	f.Add(code)
	f.Add("7kq4 m2xh 9tpc")
	f.Add("----")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseClaimCode(s)
		if err == nil && len(h) != 32 {
			t.Fatalf("hash of %d bytes", len(h))
		}
	})
}

func FuzzVerifyProof(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	sig, _ := SignProof(ec, ProofEnroll, "n")
	f.Add(der, "n", sig)
	f.Add([]byte{0x30, 0x00}, "", []byte{})
	f.Fuzz(func(t *testing.T, key []byte, nonce string, sig []byte) {
		VerifyProof(key, ProofEnroll, nonce, sig)
	})
}
