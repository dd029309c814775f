package storetest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/store"
)

// testClusterIdentity: the first identity recorded stays; the same one is
// accepted again, another is a conflict, also when nodes race to record
// theirs.
func testClusterIdentity(t *testing.T, s store.Store) {
	a, b := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		mac := a
		if i%2 == 1 {
			mac = b
		}
		wg.Go(func() { errs[i] = s.ClusterIdentity(ctx, mac, at(time.Duration(i))) })
	}
	wg.Wait()
	won := a
	if errs[0] != nil {
		won = b
	}
	for i, err := range errs {
		mine := i%2 == 1
		if (mine == bytes.Equal(won, b)) != (err == nil) {
			t.Fatalf("racer %d: %v (winner %x)", i, err, won[:1])
		}
		if err != nil {
			mustErr(t, "other identity", err, store.ErrConflict)
		}
	}
	must(t, "same identity again", s.ClusterIdentity(ctx, won, at(99)))
	other := a
	if bytes.Equal(won, a) {
		other = b
	}
	mustErr(t, "other identity later", s.ClusterIdentity(ctx, other, at(100)), store.ErrConflict)
}

// testLead: a chore is leased to one holder at a time, and free again once
// released.
func testLead(t *testing.T, s store.Store) {
	l, err := s.Lead(ctx, "retention")
	if err != nil || l == nil {
		t.Fatalf("first lease: %v %v", l, err)
	}
	must(t, "check", l.Check(ctx))
	if again, err := s.Lead(ctx, "retention"); err != nil || again != nil {
		t.Fatalf("second lease while held: %v %v", again, err)
	}
	other, err := s.Lead(ctx, "exports")
	if err != nil || other == nil {
		t.Fatalf("another chore: %v %v", other, err)
	}
	other.Release()
	l.Release()
	l2, err := s.Lead(ctx, "retention")
	if err != nil || l2 == nil {
		t.Fatalf("lease after release: %v %v", l2, err)
	}
	l2.Release()
}
