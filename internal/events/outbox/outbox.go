// Package outbox makes withdrawals of live access (and deletions of
// recordings) reach every node that serves video even when the bus does
// not. Each event is kept in the store's outbox before it is published:
// the service keeps a withdrawal (Keep) in the same store transaction as
// the change that causes it, then publishes it. Every node polls the
// outbox every PollEvery and applies what it has not heard on the bus. A
// node that has heard neither the bus nor the outbox for DeafAfter fails
// closed: it ends its streams and opens none until it hears again.
//
// Bus wraps the cluster's events.Bus; a single server, whose bus is in
// process, needs none of this.
package outbox

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/store"
)

// Timing.
const (
	// PollEvery is how often a node reads the outbox.
	PollEvery = 250 * time.Millisecond
	// DeafAfter is how long a node may hear neither bus nor outbox
	// before it fails closed.
	DeafAfter = time.Second
	// Keep is how long entries stay in the outbox.
	Keep = time.Hour
	// gapWait is how long a missing entry number is looked for: a
	// transaction that took a number may commit after a later one, or
	// never (a rollback leaves the number unused).
	gapWait = 10 * time.Second
	// maxGaps bounds the numbers looked for.
	maxGaps = 10_000
	// batch bounds the entries read in one poll.
	batch = 500
)

// Log is the part of the store the outbox lives in.
type Log interface {
	AppendOutbox(ctx context.Context, e store.OutboxEntry) (int64, error)
	OutboxAfter(ctx context.Context, after int64, limit int) ([]store.OutboxEntry, error)
	OutboxHead(ctx context.Context) (int64, error)
}

// Config configures a Bus.
type Config struct {
	// Inner is the bus events travel on (NATS).
	Inner events.Bus
	// Log is the store's outbox.
	Log Log
	// Deaf is called with true when the node stops hearing both bus
	// and outbox, and with false when it hears again.
	Deaf func(deaf bool)
	// Hearing reports whether the inner bus is connected now; nil
	// means the bus counts as heard only when an event arrives.
	Hearing func() bool
	Logger  *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Bus is an events.Bus whose events are also kept in, and polled from,
// the store's outbox. Subscribers hear each event once, by whichever way
// it arrives first.
type Bus struct {
	cfg   Config
	local events.Local
	unsub func()

	mu    sync.Mutex // guards the fields below
	last  int64      // the highest entry number heard
	gaps  map[int64]time.Time
	heard time.Time // when bus or outbox was last heard
	deaf  bool
}

// New returns a Bus over cfg.Inner and cfg.Log. Run polls the outbox.
func New(cfg Config) *Bus {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Deaf == nil {
		cfg.Deaf = func(bool) {}
	}
	b := &Bus{cfg: cfg, gaps: map[int64]time.Time{}, heard: cfg.Now()}
	b.unsub = cfg.Inner.Subscribe(b.fromBus)
	return b
}

// Close stops listening to the inner bus.
func (b *Bus) Close() { b.unsub() }

// Keep writes e's entry in the outbox and returns e with its number.
// The entry is written through the store with ctx: a change that causes
// e keeps it in the same transaction (store.Atomically), then publishes
// what Keep returned.
func (b *Bus) Keep(ctx context.Context, e events.Event) (events.Event, error) {
	if !e.Valid() {
		return e, events.ErrInvalid
	}
	seq, err := b.cfg.Log.AppendOutbox(ctx, store.OutboxEntry{Kind: string(e.Kind), Account: e.Account, Camera: e.Camera,
		Generation: e.Generation, Link: e.Link, Since: e.Since, Until: e.Until, At: b.cfg.Now()})
	if err != nil {
		return e, err
	}
	e.Seq = seq
	return e, nil
}

// Publish keeps e in the outbox unless Keep numbered it already, then
// publishes it with its number. It fails only when the event reached
// neither: kept but not published, it is still polled by every node
// within PollEvery.
func (b *Bus) Publish(ctx context.Context, e events.Event) error {
	if !e.Valid() {
		return events.ErrInvalid
	}
	var kerr error
	if e.Seq == 0 {
		if e, kerr = b.Keep(ctx, e); kerr != nil {
			b.cfg.Logger.Error("withdrawal not kept in the outbox; it travels on the bus only", "kind", e.Kind, "err", kerr)
		}
	}
	perr := b.cfg.Inner.Publish(ctx, e)
	if perr != nil && kerr != nil {
		return perr
	}
	if perr != nil {
		b.cfg.Logger.Warn("withdrawal not published on the bus; nodes poll it from the outbox", "kind", e.Kind, "err", perr)
	}
	return nil
}

// Subscribe adds fn.
func (b *Bus) Subscribe(fn func(events.Event)) func() { return b.local.Subscribe(fn) }

// Ready reports whether the inner bus is ready, if it says.
func (b *Bus) Ready() error {
	if r, ok := b.cfg.Inner.(interface{ Ready() error }); ok {
		return r.Ready()
	}
	return nil
}

// fromBus hands on an event from the inner bus unless the outbox brought
// it already.
func (b *Bus) fromBus(e events.Event) {
	b.mu.Lock()
	b.heard = b.cfg.Now()
	fresh := e.Seq == 0 || b.claimLocked(e.Seq, b.heard)
	b.mu.Unlock()
	if fresh {
		b.local.Publish(context.Background(), e)
	}
}

// claimLocked marks seq heard and reports whether it was new.
func (b *Bus) claimLocked(seq int64, now time.Time) bool {
	if seq <= b.last {
		if _, ok := b.gaps[seq]; ok {
			delete(b.gaps, seq)
			return true
		}
		return false
	}
	for s := b.last + 1; s < seq && len(b.gaps) < maxGaps; s++ {
		b.gaps[s] = now
	}
	b.last = seq
	return true
}

// Run polls the outbox every PollEvery until ctx ends. It starts from
// the outbox's head: what was withdrawn before the node started concerns
// no stream of it.
func (b *Bus) Run(ctx context.Context) {
	if head, err := b.cfg.Log.OutboxHead(ctx); err == nil {
		b.mu.Lock()
		if head > b.last {
			b.last = head
		}
		b.mu.Unlock()
	}
	t := time.NewTicker(PollEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.Poll(ctx)
	}
}

// Poll reads the outbox once, applies what is new, and fails closed or
// opens again as the node's hearing says.
func (b *Bus) Poll(ctx context.Context) {
	b.mu.Lock()
	from := b.last
	for s := range b.gaps {
		if s-1 < from {
			from = s - 1
		}
	}
	span := int(b.last - from)
	b.mu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, DeafAfter)
	entries, err := b.cfg.Log.OutboxAfter(pctx, from, span+batch)
	cancel()
	now := b.cfg.Now()
	var fresh []events.Event
	b.mu.Lock()
	if err == nil {
		b.heard = now
		for _, en := range entries {
			if b.claimLocked(en.Seq, now) {
				fresh = append(fresh, events.Event{Kind: events.Kind(en.Kind), Account: en.Account, Camera: en.Camera,
					Generation: en.Generation, Link: en.Link, Since: en.Since, Until: en.Until, Seq: en.Seq})
			}
		}
	}
	for s, since := range b.gaps {
		if now.Sub(since) > gapWait {
			delete(b.gaps, s)
		}
	}
	if b.cfg.Hearing != nil && b.cfg.Hearing() {
		b.heard = now
	}
	deaf := now.Sub(b.heard) > DeafAfter
	changed := deaf != b.deaf
	b.deaf = deaf
	b.mu.Unlock()
	for _, e := range fresh {
		if e.Valid() {
			b.local.Publish(ctx, e)
		}
	}
	if err != nil && ctx.Err() == nil {
		b.cfg.Logger.Warn("outbox not read", "err", err)
	}
	if changed {
		if deaf {
			b.cfg.Logger.Error("heard neither the bus nor the outbox for over a second: live streams end until they answer again")
		} else {
			b.cfg.Logger.Info("hearing withdrawals again: live streams may open")
		}
		b.cfg.Deaf(deaf)
	}
}
