package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/events/outbox"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
)

// choreRetry is how often a node that does not hold a chore asks for it,
// and how often the holder checks that it still does: a killed holder's
// chore is taken over within about this long.
const choreRetry = 5 * time.Second

// chore runs fn while this process holds the store's lease on name, so
// that of several nodes sharing a store exactly one runs it at a time
// (retention, shredding, grant purges, platform notifications). fn gets a
// context that ends when the lease is lost or ctx ends; chore returns once
// fn has returned and ctx has ended.
func chore(ctx context.Context, st store.Store, name string, retry time.Duration, log *slog.Logger, fn func(context.Context)) {
	log = log.With("chore", name)
	for ctx.Err() == nil {
		lease, err := st.Lead(ctx, name)
		if err != nil && ctx.Err() == nil {
			log.Warn("could not ask for the chore", "err", err)
		}
		if lease != nil {
			log.Info("running the chore here")
			hold(ctx, lease, retry, fn)
			lease.Release()
			if ctx.Err() == nil {
				log.Warn("lost the chore's lease; another node may take it over")
			}
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// hold runs fn until ctx ends or the lease fails its check.
func hold(ctx context.Context, lease store.Lease, retry time.Duration, fn func(context.Context)) {
	fctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { fn(fctx) })
	defer wg.Wait()
	defer cancel()
	t := time.NewTicker(retry)
	defer t.Stop()
	for {
		select {
		case <-fctx.Done():
			return
		case <-t.C:
			cctx, ccancel := context.WithTimeout(ctx, retry)
			err := lease.Check(cctx)
			ccancel()
			if err != nil {
				return
			}
		}
	}
}

// housekeep prunes idle throttle counts, expired single-use secrets and
// old outbox entries every 10 minutes.
func housekeep(ctx context.Context, svc *service.Service, st store.Store, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		if err := svc.Housekeep(ctx); err != nil && ctx.Err() == nil {
			log.Warn("housekeeping", "err", err)
		}
		if _, err := st.PruneOutbox(ctx, time.Now().Add(-outbox.Keep)); err != nil && ctx.Err() == nil {
			log.Warn("pruning the outbox", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
