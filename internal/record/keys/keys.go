// Package keys keeps the per-camera data keys that recordings and
// snapshots at rest are sealed with (package sealed). A data key is 32
// random bytes, stored only wrapped: sealed with AES-256-GCM under a
// key-encryption key derived from the server key, bound to the key's ID
// and camera. Destroying a camera's keys erases the wrapped material
// (crypto-shredding): from then on nothing the server keeps can decrypt
// what was sealed with them, even with a copy of the disk.
package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// Store is what the keyring keeps keys in.
type Store interface {
	CreateDataKey(ctx context.Context, k domain.DataKey) error
	DataKey(ctx context.Context, id domain.ID) (domain.DataKey, error)
	DataKeys(ctx context.Context, camera domain.ID) ([]domain.DataKey, error)
	DestroyDataKeys(ctx context.Context, camera domain.ID, at time.Time) (int, error)
}

// Errors.
var (
	ErrDestroyed = errors.New("keys: the data key was destroyed")
	ErrNotFound  = errors.New("keys: no such data key")
	ErrUnwrap    = errors.New("keys: the data key does not unwrap with this server key")
)

// Keyring wraps, stores and unwraps data keys.
type Keyring struct {
	st  Store
	kek cipher.AEAD
	now func() time.Time
}

// New returns a keyring over st whose key-encryption key derives from the
// 32-byte server key.
func New(st Store, serverKey []byte) (*Keyring, error) {
	if len(serverKey) < 32 {
		return nil, errors.New("keys: the server key is 32 bytes")
	}
	kek, err := hkdf.Key(sha256.New, serverKey, nil, "camvault data key wrapping v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keyring{st: st, kek: a, now: time.Now}, nil
}

func ad(id, camera domain.ID) []byte {
	return []byte("camvault data key\x00" + string(id) + "\x00" + string(camera))
}

func (r *Keyring) wrap(id, camera domain.ID, key []byte) []byte {
	nonce := make([]byte, r.kek.NonceSize())
	rand.Read(nonce)
	return r.kek.Seal(nonce, nonce, key, ad(id, camera))
}

func (r *Keyring) unwrap(k domain.DataKey) ([]byte, error) {
	if k.Destroyed() || len(k.Wrapped) == 0 {
		return nil, ErrDestroyed
	}
	n := r.kek.NonceSize()
	if len(k.Wrapped) < n {
		return nil, ErrUnwrap
	}
	key, err := r.kek.Open(nil, k.Wrapped[:n], k.Wrapped[n:], ad(k.ID, k.CameraID))
	if err != nil {
		return nil, ErrUnwrap
	}
	return key, nil
}

// Current returns the camera's newest live data key, making one when it
// has none.
func (r *Keyring) Current(ctx context.Context, camera domain.ID) (domain.ID, []byte, error) {
	all, err := r.st.DataKeys(ctx, camera)
	if err != nil {
		return "", nil, err
	}
	for _, k := range all {
		if !k.Destroyed() {
			key, err := r.unwrap(k)
			return k.ID, key, err
		}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", nil, err
	}
	k := domain.DataKey{ID: domain.NewID(), CameraID: camera, CreatedAt: r.now().UTC()}
	k.Wrapped = r.wrap(k.ID, camera, key)
	if err := r.st.CreateDataKey(ctx, k); err != nil {
		return "", nil, fmt.Errorf("keys: store data key: %w", err)
	}
	return k.ID, key, nil
}

// Key returns the data key id, which must belong to camera.
func (r *Keyring) Key(ctx context.Context, camera, id domain.ID) ([]byte, error) {
	k, err := r.st.DataKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && k.CameraID != camera) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return r.unwrap(k)
}

// Shred destroys every data key of camera and returns how many.
func (r *Keyring) Shred(ctx context.Context, camera domain.ID) (int, error) {
	return r.st.DestroyDataKeys(ctx, camera, r.now().UTC())
}
