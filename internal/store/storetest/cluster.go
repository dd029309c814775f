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
		wg.Go(func() { errs[i] = s.ClusterIdentity(ctx, map[int][]byte{1: mac}, at(time.Duration(i))) })
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
	must(t, "same identity again", s.ClusterIdentity(ctx, map[int][]byte{1: won}, at(99)))
	other := a
	if bytes.Equal(won, a) {
		other = b
	}
	mustErr(t, "other identity later", s.ClusterIdentity(ctx, map[int][]byte{1: other}, at(100)), store.ErrConflict)

	// Rotation: a node that shares key 1 brings key 2, which is recorded;
	// then a node with key 2 alone is the installation's too.
	c, d := bytes.Repeat([]byte{3}, 32), bytes.Repeat([]byte{4}, 32)
	mustErr(t, "a key the installation does not know, alone", s.ClusterIdentity(ctx, map[int][]byte{2: c}, at(101)), store.ErrConflict)
	must(t, "a new key beside a known one", s.ClusterIdentity(ctx, map[int][]byte{1: won, 2: c}, at(102)))
	must(t, "the new key alone", s.ClusterIdentity(ctx, map[int][]byte{2: c}, at(103)))
	mustErr(t, "another key under a known ID", s.ClusterIdentity(ctx, map[int][]byte{1: won, 2: d}, at(104)), store.ErrConflict)
	mustErr(t, "a disjoint ring", s.ClusterIdentity(ctx, map[int][]byte{3: d, 4: other}, at(105)), store.ErrConflict)
	must(t, "after refusals", s.ClusterIdentity(ctx, map[int][]byte{1: won, 2: c}, at(106)))
}

// testClusterIdentityFounders: nodes that start together on an empty
// store with disjoint keys do not both found the installation.
func testClusterIdentityFounders(t *testing.T, s store.Store) {
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		mac := bytes.Repeat([]byte{byte(i)}, 32)
		wg.Go(func() { errs[i] = s.ClusterIdentity(ctx, map[int][]byte{i + 1: mac}, at(time.Duration(i))) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			mustErr(t, "another founder", err, store.ErrConflict)
		}
	}
	equal(t, "founders", ok, 1)
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

// testThrottle: failures count per key, concurrent ones too; old ones are
// forgotten; a block never shortens; forget and prune drop counts.
func testThrottle(t *testing.T, s store.Store) {
	forget := time.Hour
	n, err := s.ThrottleFail(ctx, "k1", at(0), forget)
	must(t, "fail", err)
	equal(t, "first failure", n, 1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := s.ThrottleFail(ctx, "k1", at(time.Second), forget); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n, err = s.ThrottleFail(ctx, "k1", at(2*time.Second), forget)
	must(t, "fail", err)
	equal(t, "failures counted under concurrency", n, 10)
	until, err := s.ThrottleUntil(ctx, []string{"k1", "k2"})
	must(t, "until", err)
	equal(t, "no wait before a block", until.IsZero(), true)
	must(t, "block", s.ThrottleBlock(ctx, "k1", at(time.Minute)))
	must(t, "shorter block", s.ThrottleBlock(ctx, "k1", at(30*time.Second)))
	until, err = s.ThrottleUntil(ctx, []string{"k2", "k1"})
	must(t, "until", err)
	equal(t, "the longer block stands", until.Equal(at(time.Minute)), true)
	// Failures long ago are forgotten, and so is their block.
	n, err = s.ThrottleFail(ctx, "k1", at(3*time.Hour), forget)
	must(t, "fail later", err)
	equal(t, "count after forgetting", n, 1)
	until, _ = s.ThrottleUntil(ctx, []string{"k1"})
	equal(t, "block forgotten", until.IsZero(), true)
	s.ThrottleFail(ctx, "k2", at(3*time.Hour), forget)
	must(t, "forget", s.ThrottleForget(ctx, []string{"k1"}))
	n, _ = s.ThrottleFail(ctx, "k1", at(3*time.Hour), forget)
	equal(t, "count after forget", n, 1)
	pruned, err := s.PruneThrottle(ctx, at(4*time.Hour))
	must(t, "prune", err)
	equal(t, "pruned", pruned, 2)
}
