package service

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/camvault/camvault/internal/serverkey"
)

// secretBox seals small secrets (TOTP seeds, pulled cameras' URLs) before
// they reach the store, so a copy of the database alone does not reveal
// them. A sealed value names the server key it was sealed with:
// "v2:ID:" + base64(nonce || AES-256-GCM ciphertext), or "v1:" + … for
// key 1, the format of before key IDs (which older servers still read).
// The context (the account ID, say) is the additional data, so a sealed
// value cannot be moved to another row. Values are sealed with the ring's
// current key and open with whichever key of the ring they name.
type secretBox struct {
	aeads   map[int]cipher.AEAD
	current int
}

const (
	sealPrefix   = "v1:"
	sealPrefixV2 = "v2:"
)

func newSecretBox(ring *serverkey.Ring) (*secretBox, error) {
	b := &secretBox{aeads: map[int]cipher.AEAD{}}
	b.current, _ = ring.Current()
	for _, id := range ring.IDs() {
		key, _ := ring.Key(id)
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		b.aeads[id] = aead
	}
	return b, nil
}

// ringOf returns the ring of cfg's server keys: ServerKeys, else
// SecretKey alone.
func ringOf(ring *serverkey.Ring, secret []byte) (*serverkey.Ring, error) {
	if ring != nil {
		return ring, nil
	}
	if len(secret) != serverkey.Size {
		return nil, errors.New("service: secret key must be 32 bytes")
	}
	return serverkey.Single(secret)
}

func (b *secretBox) seal(plain, context string) string {
	aead := b.aeads[b.current]
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	ct := base64.RawStdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(plain), []byte(context)))
	if b.current == serverkey.Legacy {
		return sealPrefix + ct
	}
	return sealPrefixV2 + strconv.Itoa(b.current) + ":" + ct
}

// keyID returns the ID of the key sealed names, and the rest.
func keyID(sealed string) (int, string, bool) {
	if rest, ok := strings.CutPrefix(sealed, sealPrefix); ok {
		return serverkey.Legacy, rest, true
	}
	rest, ok := strings.CutPrefix(sealed, sealPrefixV2)
	if !ok {
		return 0, "", false
	}
	id, rest, ok := strings.Cut(rest, ":")
	n, err := strconv.Atoi(id)
	if !ok || err != nil || n < 1 {
		return 0, "", false
	}
	return n, rest, true
}

func (b *secretBox) open(sealed, context string) (string, error) {
	id, rest, ok := keyID(sealed)
	if !ok {
		return "", errors.New("sealed secret is malformed")
	}
	aead := b.aeads[id]
	if aead == nil {
		return "", fmt.Errorf("sealed secret names server key %d, which this server does not have", id)
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil || len(raw) < aead.NonceSize() {
		return "", errors.New("sealed secret is malformed")
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return "", errors.New("sealed secret does not open")
	}
	return string(plain), nil
}

// Resealer returns a function that reseals a secret sealed under the old
// server key with the new one, for store.Rekey.
func Resealer(oldKey, newKey []byte) (func(sealed, context string) (string, error), error) {
	from, err := singleBox(oldKey)
	if err != nil {
		return nil, err
	}
	to, err := singleBox(newKey)
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

func singleBox(key []byte) (*secretBox, error) {
	ring, err := ringOf(nil, key)
	if err != nil {
		return nil, err
	}
	return newSecretBox(ring)
}

// ResealToCurrent returns a function that reseals a secret sealed under
// any key of the ring with its current key, and returns a secret already
// sealed with the current key as it is, for store.Rekey.
func ResealToCurrent(ring *serverkey.Ring) (func(sealed, context string) (string, error), error) {
	box, err := newSecretBox(ring)
	if err != nil {
		return nil, err
	}
	return func(sealed, context string) (string, error) {
		if id, _, ok := keyID(sealed); ok && id == box.current {
			return sealed, nil
		}
		plain, err := box.open(sealed, context)
		if err != nil {
			return "", fmt.Errorf("a secret does not open with the server keys: %w", err)
		}
		return box.seal(plain, context), nil
	}, nil
}
