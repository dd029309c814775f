package outbox_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/events/eventstest"
	"github.com/camvault/camvault/internal/events/outbox"
	"github.com/camvault/camvault/internal/store"
)

// memLog is an outbox in memory whose entries may be made visible out
// of order, and which can be made to fail.
type memLog struct {
	mu      sync.Mutex
	next    int64
	entries []store.OutboxEntry // visible ones
	hidden  []store.OutboxEntry // numbered, not yet visible
	hide    bool                // new entries start hidden
	fail    bool
}

func (l *memLog) AppendOutbox(ctx context.Context, e store.OutboxEntry) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail {
		return 0, errors.New("store down")
	}
	l.next++
	e.Seq = l.next
	if l.hide {
		l.hidden = append(l.hidden, e)
	} else {
		l.entries = append(l.entries, e)
	}
	return e.Seq, nil
}

func (l *memLog) OutboxAfter(ctx context.Context, after int64, limit int) ([]store.OutboxEntry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail {
		return nil, errors.New("store down")
	}
	var out []store.OutboxEntry
	for _, e := range l.entries {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *memLog) OutboxHead(ctx context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next, nil
}

// reveal makes the hidden entries visible.
func (l *memLog) reveal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, l.hidden...)
	l.hidden = nil
	l.hide = false
}

func (l *memLog) setFail(v bool) { l.mu.Lock(); l.fail = v; l.mu.Unlock() }

// cutBus is a bus that can stop carrying events, as when NATS is cut off.
type cutBus struct {
	events.Local
	mu  sync.Mutex
	cut bool
}

func (c *cutBus) Publish(ctx context.Context, e events.Event) error {
	c.mu.Lock()
	cut := c.cut
	c.mu.Unlock()
	if cut {
		return errors.New("no connection")
	}
	return c.Local.Publish(ctx, e)
}

func (c *cutBus) setCut(v bool) { c.mu.Lock(); c.cut = v; c.mu.Unlock() }

// clock is a clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type heard struct {
	mu  sync.Mutex
	evs []events.Event
}

func (h *heard) add(e events.Event) { h.mu.Lock(); h.evs = append(h.evs, e); h.mu.Unlock() }
func (h *heard) list() []events.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]events.Event(nil), h.evs...)
}

func TestConformance(t *testing.T) {
	eventstest.Run(t, func(t *testing.T) events.Bus {
		b := outbox.New(outbox.Config{Inner: &events.Local{}, Log: &memLog{}})
		t.Cleanup(b.Close)
		return b
	}, true)
}

var ctx = context.Background()

func revoked() events.Event { return events.Event{Kind: events.AccessRevoked, Account: domain.NewID()} }

// TestHeardOnce: an event that arrives by bus and by outbox is applied
// once; an event the bus lost is applied from the outbox at the next
// poll.
func TestHeardOnce(t *testing.T) {
	log, inner := &memLog{}, &cutBus{}
	a := outbox.New(outbox.Config{Inner: inner, Log: log})
	defer a.Close()
	var h heard
	defer a.Subscribe(h.add)()

	e1 := revoked()
	if err := a.Publish(ctx, e1); err != nil {
		t.Fatal(err)
	}
	a.Poll(ctx)
	if got := h.list(); len(got) != 1 || got[0].Account != e1.Account || got[0].Seq == 0 {
		t.Fatalf("heard %+v, want e1 once, numbered", got)
	}

	inner.setCut(true)
	e2 := revoked()
	if err := a.Publish(ctx, e2); err != nil {
		t.Fatalf("publish with the bus cut but the outbox up: %v", err)
	}
	if got := h.list(); len(got) != 1 {
		t.Fatalf("heard %d events before polling, want 1", len(got))
	}
	a.Poll(ctx)
	if got := h.list(); len(got) != 2 || got[1].Account != e2.Account {
		t.Fatalf("after a poll heard %+v, want e2 too", got)
	}
	a.Poll(ctx)
	if got := h.list(); len(got) != 2 {
		t.Fatalf("a second poll applied again: %+v", got)
	}

	log.setFail(true)
	if err := a.Publish(ctx, revoked()); err == nil {
		t.Fatal("an event that reached neither bus nor outbox was reported sent")
	}
}

// TestKeptThenPublished: an event kept beforehand (within the
// transaction of the change that caused it) is published with its number
// and not kept a second time; it is heard once.
func TestKeptThenPublished(t *testing.T) {
	log, inner := &memLog{}, &cutBus{}
	a := outbox.New(outbox.Config{Inner: inner, Log: log})
	defer a.Close()
	var h heard
	defer a.Subscribe(h.add)()

	kept, err := a.Keep(ctx, revoked())
	if err != nil || kept.Seq == 0 {
		t.Fatalf("keep: %+v, %v", kept, err)
	}
	if got := h.list(); len(got) != 0 {
		t.Fatalf("heard %+v before it was published", got)
	}
	if err := a.Publish(ctx, kept); err != nil {
		t.Fatal(err)
	}
	a.Poll(ctx)
	if entries, _ := log.OutboxAfter(ctx, 0, 10); len(entries) != 1 || entries[0].Seq != kept.Seq {
		t.Fatalf("outbox %+v, want the one kept entry", entries)
	}
	if got := h.list(); len(got) != 1 || got[0].Seq != kept.Seq {
		t.Fatalf("heard %+v, want the kept event once", got)
	}
	if _, err := a.Keep(ctx, events.Event{Kind: events.AccessRevoked}); err == nil {
		t.Fatal("kept an event that names nothing")
	}
}

// TestLateEntries: an entry numbered before one already heard, but
// visible only later (its transaction committed later), is still applied.
func TestLateEntries(t *testing.T) {
	log, inner := &memLog{}, &cutBus{}
	a := outbox.New(outbox.Config{Inner: inner, Log: log})
	defer a.Close()
	var h heard
	defer a.Subscribe(h.add)()
	inner.setCut(true)

	early, late := revoked(), revoked()
	log.mu.Lock()
	log.hide = true
	log.mu.Unlock()
	a.Publish(ctx, early) // numbered 1, not visible yet
	log.mu.Lock()
	log.hide = false
	log.mu.Unlock()
	a.Publish(ctx, late) // numbered 2, visible
	a.Poll(ctx)
	if got := h.list(); len(got) != 1 || got[0].Account != late.Account {
		t.Fatalf("heard %+v, want the visible entry", got)
	}
	log.reveal()
	a.Poll(ctx)
	if got := h.list(); len(got) != 2 || got[1].Account != early.Account {
		t.Fatalf("heard %+v, want the late entry too", got)
	}
}

// TestFailsClosed: a node that hears neither bus nor outbox for over
// DeafAfter says so once, and says so again when it hears again.
func TestFailsClosed(t *testing.T) {
	log, inner := &memLog{}, &cutBus{}
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	var mu sync.Mutex
	var calls []bool
	connected := true
	a := outbox.New(outbox.Config{Inner: inner, Log: log, Now: clk.now,
		Hearing: func() bool { mu.Lock(); defer mu.Unlock(); return connected },
		Deaf:    func(d bool) { mu.Lock(); calls = append(calls, d); mu.Unlock() }})
	defer a.Close()
	got := func() []bool { mu.Lock(); defer mu.Unlock(); return append([]bool(nil), calls...) }

	// The bus cut alone: the outbox still answers.
	mu.Lock()
	connected = false
	mu.Unlock()
	clk.add(5 * time.Second)
	a.Poll(ctx)
	if c := got(); len(c) != 0 {
		t.Fatalf("failed closed with the outbox answering: %v", c)
	}
	// The store gone too.
	log.setFail(true)
	clk.add(outbox.DeafAfter / 2)
	a.Poll(ctx)
	if c := got(); len(c) != 0 {
		t.Fatalf("failed closed before DeafAfter: %v", c)
	}
	clk.add(outbox.DeafAfter)
	a.Poll(ctx)
	a.Poll(ctx)
	if c := got(); len(c) != 1 || !c[0] {
		t.Fatalf("calls %v, want one fail-closed", c)
	}
	// The bus back: open again.
	mu.Lock()
	connected = true
	mu.Unlock()
	a.Poll(ctx)
	if c := got(); len(c) != 2 || c[1] {
		t.Fatalf("calls %v, want open again", c)
	}
}

// TestDeletionByOutbox: a deletion of recordings that the bus lost
// arrives from the outbox with the times it covers.
func TestDeletionByOutbox(t *testing.T) {
	log, inner := &memLog{}, &cutBus{}
	a := outbox.New(outbox.Config{Inner: inner, Log: log})
	defer a.Close()
	var h heard
	defer a.Subscribe(h.add)()
	inner.setCut(true)
	until := time.Now().UTC().Truncate(time.Microsecond)
	e := events.Event{Kind: events.RecordingsDeleted, Camera: domain.NewID(), Generation: 3, Since: until.Add(-time.Hour), Until: until}
	if err := a.Publish(ctx, e); err != nil {
		t.Fatal(err)
	}
	a.Poll(ctx)
	got := h.list()
	if len(got) != 1 {
		t.Fatalf("heard %d events, want 1", len(got))
	}
	got[0].Seq = 0
	if got[0] != e {
		t.Fatalf("heard %+v, want %+v", got[0], e)
	}
}
