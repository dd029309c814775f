package storetest

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// onceKey is the hash a service would keep for the secret s.
func onceKey(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// testOnce: a single-use secret is taken once, with what was put; a second
// take, a take after expiry and a take under another kind fail; keys are
// unique per kind; counts are per kind and owner; purge drops the expired.
func testOnce(t *testing.T, s store.Store) {
	ana := domain.NewID()
	o := store.Once{Kind: "stream", KeyHash: onceKey("t1"), Owner: ana, Payload: []byte(`{"camera":"c1"}`), Expires: at(time.Minute)}
	must(t, "put", s.PutOnce(ctx, o))
	mustErr(t, "put the same key again", s.PutOnce(ctx, o), store.ErrConflict)
	other := o
	other.Kind = "login"
	must(t, "the same key under another kind", s.PutOnce(ctx, other))

	got, err := s.TakeOnce(ctx, "stream", onceKey("t1"), at(30*time.Second))
	must(t, "take", err)
	if got.Kind != o.Kind || !bytes.Equal(got.KeyHash, o.KeyHash) || got.Owner != ana || !bytes.Equal(got.Payload, o.Payload) {
		t.Fatalf("taken %+v, want %+v", got, o)
	}
	sameTime(t, "expiry", got.Expires, o.Expires)
	_, err = s.TakeOnce(ctx, "stream", onceKey("t1"), at(30*time.Second))
	mustErr(t, "second take", err, store.ErrNotFound)
	_, err = s.TakeOnce(ctx, "stream", onceKey("unknown"), at(0))
	mustErr(t, "unknown key", err, store.ErrNotFound)
	got, err = s.TakeOnce(ctx, "login", onceKey("t1"), at(0))
	must(t, "the other kind's row stayed", err)
	if got.Kind != "login" {
		t.Fatalf("taken kind %q", got.Kind)
	}

	// An empty payload and no owner round-trip.
	must(t, "put bare", s.PutOnce(ctx, store.Once{Kind: "nonce", KeyHash: onceKey("n"), Expires: at(time.Minute)}))
	got, err = s.TakeOnce(ctx, "nonce", onceKey("n"), at(0))
	must(t, "take bare", err)
	if got.Owner != "" || len(got.Payload) != 0 {
		t.Fatalf("bare row came back as %+v", got)
	}

	// Expired at its expiry, not only after it.
	must(t, "put expiring", s.PutOnce(ctx, store.Once{Kind: "stream", KeyHash: onceKey("t2"), Owner: ana, Payload: []byte("x"), Expires: at(time.Minute)}))
	_, err = s.TakeOnce(ctx, "stream", onceKey("t2"), at(time.Minute))
	mustErr(t, "take at expiry", err, store.ErrNotFound)
	_, err = s.TakeOnce(ctx, "stream", onceKey("t2"), at(0))
	mustErr(t, "take after a take of the expired row", err, store.ErrNotFound)

	// Counts: per kind and owner, unexpired only, with the soonest expiry.
	bob := domain.NewID()
	for i, r := range []struct {
		kind  string
		owner domain.ID
		exp   time.Duration
	}{
		{"stream", ana, 3 * time.Minute},
		{"stream", ana, 2 * time.Minute},
		{"stream", ana, 10 * time.Second}, // expired at the count below
		{"stream", bob, time.Minute},
		{"login", ana, time.Minute},
	} {
		must(t, "put", s.PutOnce(ctx, store.Once{Kind: r.kind, KeyHash: onceKey(string(rune('a' + i))), Owner: r.owner, Payload: []byte{1}, Expires: at(r.exp)}))
	}
	n, soonest, err := s.CountOnce(ctx, "stream", ana, at(30*time.Second))
	must(t, "count", err)
	equal(t, "ana's unexpired stream rows", n, 2)
	sameTime(t, "soonest expiry", soonest, at(2*time.Minute))
	n, soonest, err = s.CountOnce(ctx, "stream", "", at(30*time.Second))
	must(t, "count all", err)
	equal(t, "every unexpired stream row", n, 3)
	sameTime(t, "soonest expiry of all", soonest, at(time.Minute))
	n, soonest, err = s.CountOnce(ctx, "nonce", "", at(0))
	must(t, "count none", err)
	equal(t, "no rows", n, 0)
	equal(t, "no soonest expiry", soonest.IsZero(), true)

	purged, err := s.PurgeOnce(ctx, at(90*time.Second))
	must(t, "purge", err)
	equal(t, "purged the expired", purged, 3) // c, d and e
	n, _, err = s.CountOnce(ctx, "stream", "", at(0))
	must(t, "count after purge", err)
	equal(t, "stream rows left", n, 2)
	_, err = s.TakeOnce(ctx, "stream", onceKey("a"), at(0))
	must(t, "an unexpired row survives the purge", err)

	// Dropping one owner's rows of a kind leaves the others.
	must(t, "put", s.PutOnce(ctx, store.Once{Kind: "setup", KeyHash: onceKey("s1"), Owner: "node-a", Expires: at(time.Hour)}))
	must(t, "put", s.PutOnce(ctx, store.Once{Kind: "setup", KeyHash: onceKey("s2"), Owner: "node-b", Expires: at(time.Hour)}))
	dropped, err := s.DropOnce(ctx, "setup", "node-a")
	must(t, "drop", err)
	equal(t, "dropped", dropped, 1)
	_, err = s.TakeOnce(ctx, "setup", onceKey("s1"), at(0))
	mustErr(t, "a dropped row", err, store.ErrNotFound)
	_, err = s.TakeOnce(ctx, "setup", onceKey("s2"), at(0))
	must(t, "another owner's row survives the drop", err)
}

// testOnceRace: of many racing takers of one row, exactly one gets it.
func testOnceRace(t *testing.T, s store.Store) {
	for round := range 3 {
		key := onceKey(string(rune('a' + round)))
		must(t, "put", s.PutOnce(ctx, store.Once{Kind: "stream", KeyHash: key, Payload: []byte("p"), Expires: at(time.Minute)}))
		errs := race(16, func(int) error {
			o, err := s.TakeOnce(ctx, "stream", key, at(0))
			if err == nil && string(o.Payload) != "p" {
				t.Errorf("payload %q", o.Payload)
			}
			return err
		})
		oneWinner(t, "take", errs, store.ErrNotFound)
	}
}
