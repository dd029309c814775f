// Package events carries the events that must take effect at once in every
// process that serves video: withdrawals of live access, and deletions of
// recordings. The service publishes an event when access is withdrawn;
// each process's subscriber ends the streams it serves that the event
// concerns. It publishes one when recordings are deleted; each process's
// archive refuses to store what it had begun recording of them.
//
// The Bus interface is what a cluster implements (NATS, say) so that a
// revocation on one server ends streams on all of them; Local is the
// in-process bus of a single server. Every implementation passes the
// conformance suite in package eventstest.
package events

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

// Kind names an event.
type Kind string

// Kinds.
const (
	// AccessRevoked: something withdrew live access from Account
	// (member removed, guest window ended, session revoked, password
	// changed); its streams must be authorized again.
	AccessRevoked Kind = "access.revoked"
	// CameraEnded: every generation of Camera below Generation ended
	// (reset, transfer, removal); Generation 0 means all of them.
	CameraEnded Kind = "camera.ended"
	// LinkRevoked: the integration link Link was revoked (by its
	// account, the home's owner, or the integration being disabled);
	// streams started through it end.
	LinkRevoked Kind = "link.revoked"
	// RecordingsDeleted: the recordings of Camera's generation
	// Generation that overlap [Since, Until) were deleted (all of them
	// when both are zero); a segment any process had begun before then
	// and that they cover must not be stored.
	RecordingsDeleted Kind = "recordings.deleted"
)

// Event is one withdrawal or deletion.
type Event struct {
	Kind       Kind
	Account    domain.ID
	Camera     domain.ID
	Generation int64
	Link       domain.ID
	// Since and Until bound a deletion's recording times; zero is
	// unbounded. Other kinds leave them zero.
	Since, Until time.Time
	// Seq is the event's number in the store's outbox, when it was kept
	// there (see package outbox); 0 otherwise.
	Seq int64
}

// Valid reports whether e names what its kind needs.
func (e Event) Valid() bool {
	if e.Kind == RecordingsDeleted {
		return e.Camera != "" && e.Account == "" && e.Link == "" && e.Generation >= 0 &&
			(e.Since.IsZero() || e.Until.IsZero() || e.Since.Before(e.Until))
	}
	if !e.Since.IsZero() || !e.Until.IsZero() {
		return false
	}
	switch e.Kind {
	case AccessRevoked:
		return e.Account != "" && e.Camera == "" && e.Link == ""
	case CameraEnded:
		return e.Camera != "" && e.Account == "" && e.Link == "" && e.Generation >= 0
	case LinkRevoked:
		return e.Link != "" && e.Account == "" && e.Camera == ""
	}
	return false
}

// ErrInvalid is returned for an event that names nothing.
var ErrInvalid = errors.New("events: invalid event")

// Bus delivers events to every subscriber.
type Bus interface {
	// Publish delivers e to every subscriber. For the local bus it
	// returns once they all have handled it; a networked bus returns
	// once the event is durably sent.
	Publish(ctx context.Context, e Event) error
	// Subscribe calls fn for every event published from now on, in
	// the order each publisher published them, until unsubscribe is
	// called. fn must not block for long.
	Subscribe(fn func(Event)) (unsubscribe func())
}

// Local is the in-process bus. The zero value is ready to use.
type Local struct {
	mu   sync.RWMutex // guards subs and next; held shared while delivering
	subs map[int]func(Event)
	next int
}

// Publish calls every subscriber with e before returning.
func (b *Local) Publish(_ context.Context, e Event) error {
	if !e.Valid() {
		return ErrInvalid
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, fn := range b.subs {
		fn(e)
	}
	return nil
}

// Subscribe adds fn.
func (b *Local) Subscribe(fn func(Event)) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		b.subs = map[int]func(Event){}
	}
	id := b.next
	b.next++
	b.subs[id] = fn
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, id)
			b.mu.Unlock()
		})
	}
}
