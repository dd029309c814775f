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
	"strconv"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// Store is what the keyring keeps keys in.
type Store interface {
	CreateDataKey(ctx context.Context, k domain.DataKey) error
	DataKey(ctx context.Context, id domain.ID) (domain.DataKey, error)
	DataKeys(ctx context.Context, camera domain.CameraRef) ([]domain.DataKey, error)
	DestroyDataKeys(ctx context.Context, camera domain.CameraRef, at time.Time) (int, error)
	AllDataKeys(ctx context.Context) ([]domain.DataKey, error)
	ReplaceWrappedKeys(ctx context.Context, wrapped map[domain.ID][]byte) error
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
	kek, err := keyEncryptionKey(serverKey)
	if err != nil {
		return nil, err
	}
	return &Keyring{st: st, kek: kek, now: time.Now}, nil
}

func keyEncryptionKey(serverKey []byte) (cipher.AEAD, error) {
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
	return cipher.NewGCM(block)
}

func ad(k domain.DataKey) []byte {
	return []byte("camvault data key\x00" + string(k.ID) + "\x00" + string(k.CameraID) + "\x00" + strconv.FormatInt(k.Generation, 10))
}

func wrap(kek cipher.AEAD, k domain.DataKey, key []byte) []byte {
	nonce := make([]byte, kek.NonceSize())
	rand.Read(nonce)
	return kek.Seal(nonce, nonce, key, ad(k))
}

func unwrap(kek cipher.AEAD, k domain.DataKey) ([]byte, error) {
	if k.Destroyed() || len(k.Wrapped) == 0 {
		return nil, ErrDestroyed
	}
	n := kek.NonceSize()
	if len(k.Wrapped) < n {
		return nil, ErrUnwrap
	}
	key, err := kek.Open(nil, k.Wrapped[:n], k.Wrapped[n:], ad(k))
	if err != nil {
		return nil, ErrUnwrap
	}
	return key, nil
}

// Rotate rewraps every live data key kept in st from the old server key
// to the new one, all or nothing, and returns how many. A key that does
// not unwrap with the old server key stops the rotation.
func Rotate(ctx context.Context, st Store, oldKey, newKey []byte) (int, error) {
	from, err := keyEncryptionKey(oldKey)
	if err != nil {
		return 0, err
	}
	to, err := keyEncryptionKey(newKey)
	if err != nil {
		return 0, err
	}
	all, err := st.AllDataKeys(ctx)
	if err != nil {
		return 0, err
	}
	wrapped := make(map[domain.ID][]byte, len(all))
	for _, k := range all {
		key, err := unwrap(from, k)
		if err != nil {
			return 0, fmt.Errorf("keys: data key %s: %w", k.ID, err)
		}
		wrapped[k.ID] = wrap(to, k, key)
	}
	if len(wrapped) == 0 {
		return 0, nil
	}
	if err := st.ReplaceWrappedKeys(ctx, wrapped); err != nil {
		return 0, err
	}
	return len(wrapped), nil
}

// Current returns the camera generation's newest live data key, making
// one when it has none.
func (r *Keyring) Current(ctx context.Context, camera domain.CameraRef) (domain.ID, []byte, error) {
	all, err := r.st.DataKeys(ctx, camera)
	if err != nil {
		return "", nil, err
	}
	for _, k := range all {
		if !k.Destroyed() {
			key, err := unwrap(r.kek, k)
			return k.ID, key, err
		}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", nil, err
	}
	k := domain.DataKey{ID: domain.NewID(), CameraID: camera.Camera, Generation: camera.Generation, CreatedAt: r.now().UTC()}
	k.Wrapped = wrap(r.kek, k, key)
	if err := r.st.CreateDataKey(ctx, k); err != nil {
		return "", nil, fmt.Errorf("keys: store data key: %w", err)
	}
	return k.ID, key, nil
}

// Key returns the data key id, which must belong to the camera
// generation.
func (r *Keyring) Key(ctx context.Context, camera domain.CameraRef, id domain.ID) ([]byte, error) {
	k, err := r.st.DataKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (k.CameraID != camera.Camera || k.Generation != camera.Generation)) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return unwrap(r.kek, k)
}

// Shred destroys every data key of the camera generation and returns how
// many.
func (r *Keyring) Shred(ctx context.Context, camera domain.CameraRef) (int, error) {
	return r.st.DestroyDataKeys(ctx, camera, r.now().UTC())
}

// Rewrapper returns a function that rewraps a data key from the old
// server key to the new one, for store.Rekey.
func Rewrapper(oldKey, newKey []byte) (func(domain.DataKey) ([]byte, error), error) {
	from, err := keyEncryptionKey(oldKey)
	if err != nil {
		return nil, err
	}
	to, err := keyEncryptionKey(newKey)
	if err != nil {
		return nil, err
	}
	return func(k domain.DataKey) ([]byte, error) {
		key, err := unwrap(from, k)
		if err != nil {
			return nil, fmt.Errorf("keys: data key %s: %w", k.ID, err)
		}
		return wrap(to, k, key), nil
	}, nil
}

// Unwraps reports whether every live data key in st unwraps with the
// server key (true when there are none).
func Unwraps(ctx context.Context, st Store, serverKey []byte) (bool, error) {
	kek, err := keyEncryptionKey(serverKey)
	if err != nil {
		return false, err
	}
	all, err := st.AllDataKeys(ctx)
	if err != nil {
		return false, err
	}
	for _, k := range all {
		if _, err := unwrap(kek, k); err != nil {
			return false, nil
		}
	}
	return true, nil
}
