package service

import (
	"context"
	"time"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/store"
)

// storeCounts keeps the throttles' counts in the store, so that every node
// sharing it counts every failure: N nodes give an attacker no more tries
// than one, and a restart forgets nothing.
type storeCounts struct{ st store.Store }

var _ authn.Counts = storeCounts{}

func (c storeCounts) Failed(ctx context.Context, key string, now time.Time, forget time.Duration) (int, error) {
	return c.st.ThrottleFail(ctx, key, now, forget)
}

func (c storeCounts) Block(ctx context.Context, key string, until time.Time) error {
	return c.st.ThrottleBlock(ctx, key, until)
}

func (c storeCounts) Until(ctx context.Context, keys []string) (time.Time, error) {
	return c.st.ThrottleUntil(ctx, keys)
}

func (c storeCounts) Forget(ctx context.Context, keys []string) error {
	return c.st.ThrottleForget(ctx, keys)
}

// SharedThrottle returns a throttle whose counts live in the store, for
// other components that throttle (the OAuth server's client
// authentication).
func (s *Service) SharedThrottle() *authn.Throttle {
	return authn.NewSharedThrottle(s.now, storeCounts{s.st})
}

// Housekeep drops throttle counts idle for two hours and expired
// single-use secrets (which no use ever deleted). One node of a cluster
// runs it now and then.
func (s *Service) Housekeep(ctx context.Context) error {
	if _, err := s.st.PruneThrottle(ctx, s.now().Add(-2*time.Hour)); err != nil {
		return internal("prune throttle", err)
	}
	if _, err := s.st.PurgeOnce(ctx, s.now()); err != nil {
		return internal("purge single-use secrets", err)
	}
	return nil
}
