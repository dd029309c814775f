package service

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// secretBox seals small secrets (TOTP seeds) before they reach the store,
// so a copy of the database alone does not reveal them. Sealed values are
// "v1:" + base64(nonce || AES-256-GCM ciphertext), with the account ID as
// additional data so a sealed value cannot be moved to another account.
type secretBox struct {
	aead cipher.AEAD
}

const sealPrefix = "v1:"

func newSecretBox(key []byte) (*secretBox, error) {
	if len(key) != 32 {
		return nil, errors.New("service: secret key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &secretBox{aead: aead}, nil
}

func (b *secretBox) seal(plain, context string) string {
	nonce := make([]byte, b.aead.NonceSize())
	rand.Read(nonce)
	ct := b.aead.Seal(nonce, nonce, []byte(plain), []byte(context))
	return sealPrefix + base64.RawStdEncoding.EncodeToString(ct)
}

func (b *secretBox) open(sealed, context string) (string, error) {
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, sealPrefix))
	if !strings.HasPrefix(sealed, sealPrefix) || err != nil || len(raw) < b.aead.NonceSize() {
		return "", errors.New("sealed secret is malformed")
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return "", errors.New("sealed secret does not open")
	}
	return string(plain), nil
}

// Resealer returns a function that reseals a secret sealed under the old
// server key with the new one, for store.Rekey.
func Resealer(oldKey, newKey []byte) (func(sealed, context string) (string, error), error) {
	from, err := newSecretBox(oldKey)
	if err != nil {
		return nil, err
	}
	to, err := newSecretBox(newKey)
	if err != nil {
		return nil, err
	}
	return func(sealed, context string) (string, error) {
		plain, err := from.open(sealed, context)
		if err != nil {
			return "", fmt.Errorf("a secret does not open with the current server key: %w", err)
		}
		return to.seal(plain, context), nil
	}, nil
}
