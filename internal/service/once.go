package service

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// Kinds of single-use secrets in the store. They live there, not in a
// node's memory, so that behind a load balancer a secret made at one node
// works at another, and still only once.
const (
	onceStream  = "stream"       // stream credentials (streams.go)
	onceNonce   = "device.nonce" // device challenges (devices.go)
	onceSetup   = "setup"        // the setup token (auth.go)
	onceLogin   = "login"        // one-time login links (loginlink.go)
	oncePasskey = "passkey"      // WebAuthn ceremonies (passkeys.go)
)

// secretHash is the key a single-use secret is kept by when it is not a
// token of package authn (which come with their hash).
func secretHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// putOnce keeps a single-use secret by its hash, with payload (nil for
// none) encoded as JSON.
func (s *Service) putOnce(ctx context.Context, kind string, hash []byte, owner domain.ID, payload any, expires time.Time) error {
	var b []byte
	if payload != nil {
		var err error
		if b, err = json.Marshal(payload); err != nil {
			return err
		}
	}
	return s.st.PutOnce(ctx, store.Once{Kind: kind, KeyHash: hash, Owner: owner, Payload: b, Expires: expires})
}

// takeOnce spends the single-use secret of kind with hash, decoding its
// payload into payload unless it is nil. found is false when the secret is
// unknown, used or expired; err is for the store failing.
func (s *Service) takeOnce(ctx context.Context, kind string, hash []byte, payload any) (o store.Once, found bool, err error) {
	o, err = s.st.TakeOnce(ctx, kind, hash, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Once{}, false, nil
	}
	if err != nil {
		return store.Once{}, false, err
	}
	if payload != nil {
		if err := json.Unmarshal(o.Payload, payload); err != nil {
			return store.Once{}, false, err
		}
	}
	return o, true, nil
}
