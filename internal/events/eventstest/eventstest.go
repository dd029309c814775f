// Package eventstest is the conformance suite every events.Bus passes.
package eventstest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
)

// Run checks a bus. newBus returns a fresh bus per subtest; synchronous reports
// whether Publish returns only after every subscriber handled the event
// (the local bus) or not (a networked one, which the suite waits for).
func Run(t *testing.T, newBus func(t *testing.T) events.Bus, synchronous bool) {
	ctx := context.Background()
	revoked := events.Event{Kind: events.AccessRevoked, Account: domain.NewID()}
	ended := events.Event{Kind: events.CameraEnded, Camera: domain.NewID(), Generation: 3}
	unlinked := events.Event{Kind: events.LinkRevoked, Link: domain.NewID()}
	// Times as the index keeps them (UTC, microseconds), which every
	// bus carries unchanged.
	from := time.Now().UTC().Truncate(time.Microsecond)
	deleted := events.Event{Kind: events.RecordingsDeleted, Camera: domain.NewID(), Generation: 2, Since: from.Add(-time.Hour), Until: from}
	deletedAll := events.Event{Kind: events.RecordingsDeleted, Camera: domain.NewID(), Generation: 1}

	t.Run("every subscriber hears every event in order", func(t *testing.T) {
		b := newBus(t)
		var got [3]*recorder
		for i := range got {
			got[i] = &recorder{}
			t.Cleanup(b.Subscribe(got[i].add))
		}
		sent := []events.Event{revoked, ended, unlinked, deleted, deletedAll, revoked}
		for _, e := range sent {
			if err := b.Publish(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		for i, r := range got {
			evs := r.wait(t, len(sent), synchronous)
			for j := range sent {
				if evs[j] != sent[j] {
					t.Fatalf("subscriber %d heard %+v", i, evs)
				}
			}
		}
	})
	t.Run("unsubscribed hears nothing more", func(t *testing.T) {
		b := newBus(t)
		r, last := &recorder{}, &recorder{}
		stop := b.Subscribe(r.add)
		t.Cleanup(b.Subscribe(last.add))
		b.Publish(ctx, revoked)
		r.wait(t, 1, synchronous)
		stop()
		stop() // twice is harmless
		b.Publish(ctx, ended)
		last.wait(t, 2, synchronous)
		if n := len(r.events()); n != 1 {
			t.Fatalf("an unsubscribed handler heard %d events", n)
		}
	})
	t.Run("invalid events are refused", func(t *testing.T) {
		b := newBus(t)
		for _, e := range []events.Event{{}, {Kind: events.AccessRevoked}, {Kind: events.CameraEnded, Account: "x", Camera: "y"}, {Kind: "other", Account: "x"}, {Kind: events.LinkRevoked}, {Kind: events.LinkRevoked, Link: "x", Account: "y"},
			{Kind: events.RecordingsDeleted, Generation: 1}, {Kind: events.RecordingsDeleted, Camera: "x", Generation: -1}, {Kind: events.RecordingsDeleted, Camera: "x", Generation: 1, Account: "y"},
			{Kind: events.RecordingsDeleted, Camera: "x", Generation: 1, Since: from, Until: from.Add(-time.Second)},
			{Kind: events.AccessRevoked, Account: "x", Since: from}, {Kind: events.CameraEnded, Camera: "x", Until: from}} {
			if err := b.Publish(ctx, e); err == nil {
				t.Fatalf("%+v was published", e)
			}
		}
	})
	t.Run("concurrent publishers and subscribers", func(t *testing.T) {
		b := newBus(t)
		r := &recorder{}
		t.Cleanup(b.Subscribe(r.add))
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 50 {
					b.Publish(ctx, revoked)
					stop := b.Subscribe(func(events.Event) {})
					stop()
				}
			})
		}
		wg.Wait()
		r.wait(t, 400, synchronous)
	})
}

type recorder struct {
	mu  sync.Mutex
	evs []events.Event
}

func (r *recorder) add(e events.Event) {
	// A bus may number events (see package outbox); the suite compares
	// what they say.
	e.Seq = 0
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

func (r *recorder) events() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Event(nil), r.evs...)
}

// wait returns the first n events, failing if they do not come (at once
// for a synchronous bus, within 5 s otherwise).
func (r *recorder) wait(t *testing.T, n int, synchronous bool) []events.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs := r.events()
		if len(evs) >= n {
			return evs
		}
		if synchronous || time.Now().After(deadline) {
			t.Fatalf("heard %d events, want %d", len(evs), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
