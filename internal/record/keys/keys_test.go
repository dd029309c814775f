package keys_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/record/keys"
	"github.com/camvault/camvault/internal/record/sealed"
	"github.com/camvault/camvault/internal/serverkey"
	"github.com/camvault/camvault/internal/store"
	"github.com/camvault/camvault/internal/store/sqlite"
)

func serverKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// TestCryptoShredding: a recording sealed with a camera's data key reads
// back while the key lives; the store never holds the key in the clear;
// after Shred nothing the server keeps — the store's keys, the server
// key — opens it.
func TestCryptoShredding(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "camvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sk := serverKey()
	ring, err := keys.New(st, sk)
	if err != nil {
		t.Fatal(err)
	}
	cam, other := domain.CameraRef{Camera: domain.NewID(), Generation: 1}, domain.CameraRef{Camera: domain.NewID(), Generation: 1}
	next := domain.CameraRef{Camera: cam.Camera, Generation: 2}
	id, key, err := ring.Current(ctx, cam)
	if err != nil {
		t.Fatal(err)
	}
	if again, key2, _ := ring.Current(ctx, cam); again != id || !bytes.Equal(key, key2) {
		t.Fatal("Current made a second key for the camera")
	}
	stored, _ := st.DataKey(ctx, id)
	if bytes.Contains(stored.Wrapped, key) {
		t.Fatal("the store holds the data key in the clear")
	}
	plain := bytes.Repeat([]byte("frame of the porch camera "), 5000)
	var file bytes.Buffer
	w, _ := sealed.NewWriter(&file, key, string(id), 0)
	w.Write(plain)
	w.Close()
	open := func(k []byte) error {
		_, err := sealed.NewReader(bytes.NewReader(file.Bytes()), int64(file.Len()), k)
		return err
	}
	got, err := ring.Key(ctx, cam, id)
	if err != nil || open(got) != nil {
		t.Fatalf("the live key: %v", err)
	}
	// The key is bound to its camera, generation and ID.
	if _, err := ring.Key(ctx, other, id); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("another camera's key: %v", err)
	}
	if _, err := ring.Key(ctx, next, id); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("the next generation's key: %v", err)
	}
	nextID, _, _ := ring.Current(ctx, next)
	if nextID == id {
		t.Fatal("the next generation shares the old one's key")
	}
	otherID, _, _ := ring.Current(ctx, other)
	swapped := stored
	swapped.ID = domain.NewID()
	st.CreateDataKey(ctx, swapped)
	if _, err := ring.Key(ctx, cam, swapped.ID); !errors.Is(err, keys.ErrUnwrap) {
		t.Fatalf("wrapped material moved to another key ID: %v", err)
	}
	// Another server key unwraps nothing.
	stranger, _ := keys.New(st, serverKey())
	if _, err := stranger.Key(ctx, cam, id); !errors.Is(err, keys.ErrUnwrap) {
		t.Fatalf("another server key: %v", err)
	}

	n, err := ring.Shred(ctx, cam)
	if err != nil || n != 2 {
		t.Fatalf("shred: %d %v", n, err)
	}
	if _, err := ring.Key(ctx, cam, id); !errors.Is(err, keys.ErrDestroyed) {
		t.Fatalf("key after shredding: %v", err)
	}
	// Nothing the server keeps opens the file: every key in the store,
	// the server key itself, and keys derived from it.
	all, _ := st.DataKeys(ctx, cam)
	candidates := [][]byte{sk}
	for _, c := range []domain.CameraRef{cam, other, next} {
		ks, _ := st.DataKeys(ctx, c)
		all = append(all, ks...)
	}
	for _, k := range all {
		if len(k.Wrapped) > 0 {
			candidates = append(candidates, k.Wrapped)
			if raw, err := ring.Key(ctx, domain.CameraRef{Camera: k.CameraID, Generation: k.Generation}, k.ID); err == nil {
				candidates = append(candidates, raw)
			}
		}
	}
	for _, c := range candidates {
		for _, k := range [][]byte{c, pad32(c)} {
			if len(k) == 32 && open(k) == nil {
				t.Fatal("a key the server still keeps opens the shredded recording")
			}
		}
	}
	// Another camera's key lives on.
	if _, err := ring.Key(ctx, other, otherID); err != nil {
		t.Fatalf("another camera's key after the shred: %v", err)
	}
	if _, err := ring.Key(ctx, next, nextID); err != nil {
		t.Fatalf("the next generation's key after the old one's shred: %v", err)
	}
	// A new recording gets a new key.
	if id2, _, err := ring.Current(ctx, cam); err != nil || id2 == id {
		t.Fatalf("after the shred: %s %v", id2, err)
	}
}

func pad32(b []byte) []byte {
	out := make([]byte, 32)
	copy(out, b)
	return out
}

// TestRotate: rotation rewraps every live key under the new server key;
// the old server key then unwraps nothing and the data reads on.
func TestRotate(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "camvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	oldKey, newKey := serverKey(), serverKey()
	ring, _ := keys.New(st, oldKey)
	cams := []domain.CameraRef{{Camera: domain.NewID(), Generation: 1}, {Camera: domain.NewID(), Generation: 3}}
	raw := map[domain.ID][]byte{}
	for _, c := range cams {
		id, k, err := ring.Current(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		raw[id] = k
	}
	shredded := domain.CameraRef{Camera: domain.NewID(), Generation: 1}
	ring.Current(ctx, shredded)
	ring.Shred(ctx, shredded)
	if _, err := keys.Rotate(ctx, st, serverKey(), newKey); !errors.Is(err, keys.ErrUnwrap) {
		t.Fatalf("rotation from a wrong old key: %v", err)
	}
	n, err := keys.Rotate(ctx, st, oldKey, newKey)
	if err != nil || n != 2 {
		t.Fatalf("rotate: %d %v", n, err)
	}
	rotated, _ := keys.New(st, newKey)
	for i, c := range cams {
		for id, want := range raw {
			got, err := rotated.Key(ctx, c, id)
			if err == nil && !bytes.Equal(got, want) {
				t.Fatalf("camera %d: rotated key differs", i)
			}
		}
		id, _, _ := rotated.Current(ctx, c)
		if _, ok := raw[id]; !ok {
			t.Fatalf("camera %d: rotation made a new key instead of keeping the old", i)
		}
		if _, err := ring.Key(ctx, c, id); !errors.Is(err, keys.ErrUnwrap) {
			t.Fatalf("the old server key still unwraps: %v", err)
		}
	}
}

func ring(t *testing.T, current int, keys map[int][]byte) *serverkey.Ring {
	t.Helper()
	r, err := serverkey.New(keys, current)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRingRotation: a data key wrapped under key 1 unwraps on a keyring
// of {1, 2 current}, one wrapped under 2 on {1 current, 2}; rewrapping to
// the current key in batches moves them all to key 2, after which a
// keyring of key 2 alone unwraps every one.
func TestRingRotation(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "camvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	one, two := serverKey(), serverKey()
	before, _ := keys.New(st, one) // a single server's key, or a legacy key file: key 1
	stepA, _ := keys.NewRing(st, ring(t, 1, map[int][]byte{1: one, 2: two}))
	stepB, _ := keys.NewRing(st, ring(t, 2, map[int][]byte{1: one, 2: two}))
	after, _ := keys.NewRing(st, ring(t, 2, map[int][]byte{2: two}))

	cams := make([]domain.CameraRef, 5)
	want := map[domain.ID][]byte{}
	for i := range cams {
		cams[i] = domain.CameraRef{Camera: domain.NewID(), Generation: 1}
		kr := before
		if i >= 3 {
			kr = stepB
		}
		id, key, err := kr.Current(ctx, cams[i])
		if err != nil {
			t.Fatal(err)
		}
		want[id] = key
	}
	check := func(what string, kr *keys.Keyring, ok func(i int) bool) {
		t.Helper()
		for i, cam := range cams {
			id, key, err := kr.Current(ctx, cam)
			if ok(i) != (err == nil && bytes.Equal(key, want[id])) {
				t.Fatalf("%s: camera %d: %v", what, i, err)
			}
		}
	}
	all := func(int) bool { return true }
	check("key 1 and 2 on {1, 2 current}", stepB, all)
	check("key 1 and 2 on {1 current, 2}", stepA, all)
	check("before the rekey, {2} alone", after, func(i int) bool { return i >= 3 })

	rewrap, err := keys.RewrapToCurrent(ring(t, 2, map[int][]byte{1: one, 2: two}))
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.Rekey(ctx, store.Rekeying{DataKey: rewrap, Sealed: func(v, _ string) (string, error) { return v, nil }, Batch: 2})
	if err != nil || n != 3 {
		t.Fatalf("rekey: %d %v", n, err)
	}
	check("after the rekey, {2} alone", after, all)
	if ok, _ := keys.Unwraps(ctx, st, one); ok {
		t.Fatal("key 1 still unwraps data keys")
	}
	if ok, err := keys.UnwrapsRing(ctx, st, ring(t, 2, map[int][]byte{2: two})); err != nil || !ok {
		t.Fatalf("key 2 does not unwrap every data key: %v", err)
	}
}
