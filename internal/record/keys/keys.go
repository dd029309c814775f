// Package keys keeps the per-camera data keys that recordings and
// snapshots at rest are sealed with (package sealed). A data key is 32
// random bytes, stored only wrapped: sealed with AES-256-GCM under a
// key-encryption key derived from the current server key of the ring
// (package serverkey), bound to the key's ID and camera. A wrapped key
// names the server key it was wrapped with, and unwraps with that key of
// the ring; RewrapToCurrent moves it to the current one. Destroying a
// camera's keys erases the wrapped material (crypto-shredding): from then
// on nothing the server keeps can decrypt what was sealed with them, even
// with a copy of the disk.
package keys

import (
	"bytes"
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
	"github.com/camvault/camvault/internal/serverkey"
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
	kek *keks
	now func() time.Time
}

// New returns a keyring over st whose key-encryption key derives from the
// 32-byte server key.
func New(st Store, serverKey []byte) (*Keyring, error) {
	ring, err := single(serverKey)
	if err != nil {
		return nil, err
	}
	return NewRing(st, ring)
}

// NewRing returns a keyring over st that wraps new data keys under the
// ring's current server key and unwraps each under the key it names.
func NewRing(st Store, ring *serverkey.Ring) (*Keyring, error) {
	kek, err := newKeks(ring)
	if err != nil {
		return nil, err
	}
	return &Keyring{st: st, kek: kek, now: time.Now}, nil
}

func single(serverKey []byte) (*serverkey.Ring, error) {
	if len(serverKey) != serverkey.Size {
		return nil, errors.New("keys: the server key is 32 bytes")
	}
	return serverkey.Single(serverKey)
}

// keks are the key-encryption keys of a ring of server keys, by key ID.
type keks struct {
	byID    map[int]cipher.AEAD
	current int
}

func newKeks(ring *serverkey.Ring) (*keks, error) {
	k := &keks{byID: map[int]cipher.AEAD{}}
	k.current, _ = ring.Current()
	for _, id := range ring.IDs() {
		key, _ := ring.Key(id)
		aead, err := keyEncryptionKey(key)
		if err != nil {
			return nil, err
		}
		k.byID[id] = aead
	}
	return k, nil
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

// Wrapped data keys name the server key they were wrapped with:
// "v2:ID:" + nonce || ciphertext, or, under key 1, nonce || ciphertext
// alone (the format of before key IDs, which older servers still read,
// told apart by its length: a nonce, 32 bytes and a tag).
const (
	wrapPrefix = "v2:"
	legacyLen  = 12 + 32 + 16
)

// keyID returns the ID of the server key a wrapped data key names, and the
// nonce and ciphertext.
func keyID(wrapped []byte) (int, []byte, bool) {
	if len(wrapped) == legacyLen {
		return serverkey.Legacy, wrapped, true
	}
	rest, ok := bytes.CutPrefix(wrapped, []byte(wrapPrefix))
	if !ok {
		return 0, nil, false
	}
	id, rest, ok := bytes.Cut(rest, []byte(":"))
	n, err := strconv.Atoi(string(id))
	if !ok || err != nil || n < 1 {
		return 0, nil, false
	}
	return n, rest, true
}

func (kk *keks) wrap(k domain.DataKey, key []byte) []byte {
	kek := kk.byID[kk.current]
	nonce := make([]byte, kek.NonceSize())
	rand.Read(nonce)
	var out []byte
	if kk.current != serverkey.Legacy {
		out = []byte(wrapPrefix + strconv.Itoa(kk.current) + ":")
	}
	out = append(out, nonce...)
	return kek.Seal(out, nonce, key, ad(k))
}

func (kk *keks) unwrap(k domain.DataKey) ([]byte, error) {
	if k.Destroyed() || len(k.Wrapped) == 0 {
		return nil, ErrDestroyed
	}
	id, wrapped, ok := keyID(k.Wrapped)
	kek := kk.byID[id]
	if !ok || kek == nil || len(wrapped) < kek.NonceSize() {
		return nil, ErrUnwrap
	}
	n := kek.NonceSize()
	key, err := kek.Open(nil, wrapped[:n], wrapped[n:], ad(k))
	if err != nil {
		return nil, ErrUnwrap
	}
	return key, nil
}

// isCurrent reports whether a wrapped data key names the current server
// key.
func (kk *keks) isCurrent(k domain.DataKey) bool {
	id, _, ok := keyID(k.Wrapped)
	return ok && id == kk.current
}

// Rotate rewraps every live data key kept in st from the old server key
// to the new one, all or nothing, and returns how many. A key that does
// not unwrap with the old server key stops the rotation.
func Rotate(ctx context.Context, st Store, oldKey, newKey []byte) (int, error) {
	rewrap, err := Rewrapper(oldKey, newKey)
	if err != nil {
		return 0, err
	}
	all, err := st.AllDataKeys(ctx)
	if err != nil {
		return 0, err
	}
	wrapped := make(map[domain.ID][]byte, len(all))
	for _, k := range all {
		if wrapped[k.ID], err = rewrap(k); err != nil {
			return 0, err
		}
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
			key, err := r.kek.unwrap(k)
			return k.ID, key, err
		}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", nil, err
	}
	k := domain.DataKey{ID: domain.NewID(), CameraID: camera.Camera, Generation: camera.Generation, CreatedAt: r.now().UTC()}
	k.Wrapped = r.kek.wrap(k, key)
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
	return r.kek.unwrap(k)
}

// Shred destroys every data key of the camera generation and returns how
// many.
func (r *Keyring) Shred(ctx context.Context, camera domain.CameraRef) (int, error) {
	return r.st.DestroyDataKeys(ctx, camera, r.now().UTC())
}

// Rewrapper returns a function that rewraps a data key from the old
// server key to the new one, for store.Rekey.
func Rewrapper(oldKey, newKey []byte) (func(domain.DataKey) ([]byte, error), error) {
	from, err := keksOf(oldKey)
	if err != nil {
		return nil, err
	}
	to, err := keksOf(newKey)
	if err != nil {
		return nil, err
	}
	return func(k domain.DataKey) ([]byte, error) {
		key, err := from.unwrap(k)
		if err != nil {
			return nil, fmt.Errorf("keys: data key %s: %w", k.ID, err)
		}
		return to.wrap(k, key), nil
	}, nil
}

// RewrapToCurrent returns a function that rewraps a data key wrapped
// under any key of the ring with its current key, and returns one already
// wrapped with the current key as it is, for store.Rekey.
func RewrapToCurrent(ring *serverkey.Ring) (func(domain.DataKey) ([]byte, error), error) {
	kk, err := newKeks(ring)
	if err != nil {
		return nil, err
	}
	return func(k domain.DataKey) ([]byte, error) {
		if kk.isCurrent(k) {
			return k.Wrapped, nil
		}
		key, err := kk.unwrap(k)
		if err != nil {
			return nil, fmt.Errorf("keys: data key %s: %w", k.ID, err)
		}
		return kk.wrap(k, key), nil
	}, nil
}

func keksOf(serverKey []byte) (*keks, error) {
	ring, err := single(serverKey)
	if err != nil {
		return nil, err
	}
	return newKeks(ring)
}

// Unwraps reports whether every live data key in st unwraps with the
// server key (true when there are none).
func Unwraps(ctx context.Context, st Store, serverKey []byte) (bool, error) {
	ring, err := single(serverKey)
	if err != nil {
		return false, err
	}
	return UnwrapsRing(ctx, st, ring)
}

// UnwrapsRing reports whether every live data key in st unwraps with a
// key of the ring (true when there are none).
func UnwrapsRing(ctx context.Context, st Store, ring *serverkey.Ring) (bool, error) {
	kk, err := newKeks(ring)
	if err != nil {
		return false, err
	}
	all, err := st.AllDataKeys(ctx)
	if err != nil {
		return false, err
	}
	for _, k := range all {
		if _, err := kk.unwrap(k); err != nil {
			return false, nil
		}
	}
	return true, nil
}
