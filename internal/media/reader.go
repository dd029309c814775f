package media

import (
	"context"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
)

// ReaderOption changes how a reader behaves.
type ReaderOption func(*Reader)

// Renewable makes a reader whose grant runs out wait for a new one
// instead of ending: Read answers ErrExpired, and the reader keeps its
// place in the stream — queueing, and dropping when too slow like any
// reader — until Renew gives it a current grant or Close ends it. It is
// for a long-lived reader that must not lose a picture when its grant is
// renewed (the recorder), which must Close it if it cannot renew.
func Renewable(r *Reader) { r.renewable = true }

// AddReader adds a viewer of the stream the grant is bound to. The grant
// must allow live viewing; the reader checks every unit against it.
func (h *Hub) AddReader(g authz.Grant, opts ...ReaderOption) (*Reader, error) {
	origin := g.Camera()
	if !g.Allows(domain.ActionLive, origin, h.cfg.Now()) {
		return nil, ErrNoGrant
	}
	h.mu.Lock()
	s := h.streamLocked(origin)
	h.mu.Unlock()
	if s == nil {
		return nil, ErrStreamEnded
	}
	r := &Reader{h: h, s: s, grant: g, origin: origin, expires: g.Expires(), wake: make(chan struct{}, 1), q: ring{buf: make([]*AccessUnit, h.cfg.Queue)}}
	for _, o := range opts {
		o(r)
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil, ErrStreamEnded
	}
	// Start at the current GOP's keyframe; without one, at the next.
	if len(s.gop) == 0 {
		r.waitKey = true
	}
	for _, au := range s.gop {
		r.q.push(au)
		r.qBytes += au.Size()
	}
	s.readers[r] = struct{}{}
	want := !s.wanted
	s.wanted = true
	if s.linger != nil {
		s.linger.Stop()
		s.linger = nil
	}
	s.mu.Unlock()
	if want {
		h.cfg.Demand.Want(origin)
	}
	return r, nil
}

// removeReader detaches r and, when it was the last, lets the stream go
// after the linger.
func (h *Hub) removeReader(r *Reader) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.readers[r]; !ok {
		return
	}
	delete(s.readers, r)
	if len(s.readers) == 0 && s.wanted && s.linger == nil {
		s.linger = time.AfterFunc(h.cfg.Linger, func() { h.lingerEnded(s) })
	}
}

// Track returns the stream's track once a publisher announced it.
func (r *Reader) Track() (Track, bool) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if r.s.track == nil {
		return Track{}, false
	}
	return *r.s.track, true
}

// Reader is one viewer's view of a stream.
type Reader struct {
	h *Hub
	s *stream
	// origin is the grant's, and never changes: the grant allowed live
	// viewing of exactly this origin (AddReader checked), so the per-unit
	// guard is two compares.
	origin    domain.CameraRef
	renewable bool
	wake      chan struct{}

	mu sync.Mutex // guards the fields below
	// grant and its expiry change only in Renew, which holds the
	// stream's lock too: either lock suffices to read them.
	grant   authz.Grant
	expires time.Time
	q       ring
	qBytes  int  // bytes in q
	waitKey bool // dropped frames: resume at the next keyframe
	dropped int
	err     error
}

// push queues au (of size bytes); a full queue — in units or bytes —
// drops until the next keyframe. Called with the stream's lock held;
// never blocks.
func (r *Reader) push(au *AccessUnit, size int) {
	r.mu.Lock()
	switch {
	case r.err != nil:
	case r.waitKey && !au.Key:
		r.dropped++
		r.h.cfg.Observer.Dropped(au.Origin.Camera, 1)
	case r.q.full() || r.qBytes+size > r.h.cfg.QueueBytes:
		// Too slow: forget the queue and resume at the next keyframe.
		lost := r.q.n + 1
		r.q.clear()
		r.qBytes = 0
		r.waitKey = !au.Key
		if au.Key && size <= r.h.cfg.QueueBytes {
			r.q.push(au)
			r.qBytes = size
			lost--
		} else {
			r.waitKey = true
		}
		r.dropped += lost
		r.h.cfg.Observer.Dropped(au.Origin.Camera, lost)
	default:
		r.waitKey = false
		r.q.push(au)
		r.qBytes += size
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// fail ends the reader with err.
func (r *Reader) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
		r.q.clear()
		r.qBytes = 0
	}
	r.mu.Unlock()
	r.h.removeReader(r)
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Read returns the next access unit, after checking it against the
// reader's grant: origin, expiry and the live action. It blocks until a
// unit arrives, the reader ends, or ctx is done. When the grant has run
// out the reader ends with ErrRevoked, or, if it is renewable, Read
// answers ErrExpired and keeps the unit for after Renew.
func (r *Reader) Read(ctx context.Context) (*AccessUnit, error) {
	for {
		r.mu.Lock()
		if r.err != nil {
			err := r.err
			r.mu.Unlock()
			return nil, err
		}
		if r.q.n > 0 {
			if !r.h.cfg.Now().Before(r.expires) {
				r.mu.Unlock()
				if r.renewable {
					return nil, ErrExpired
				}
				r.fail(ErrRevoked)
				return nil, ErrRevoked
			}
			au := r.q.pop()
			r.qBytes -= au.Size()
			r.mu.Unlock()
			if err := r.check(au); err != nil {
				return nil, err
			}
			r.h.cfg.Observer.Delivered(1, au.Size())
			return au, nil
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-r.wake:
		}
	}
}

// check is the provenance guard: the last step before a unit reaches the
// viewer (Read checked the expiry as it took the unit).
func (r *Reader) check(au *AccessUnit) error {
	if au.Origin != r.origin {
		r.h.cfg.Observer.Provenance(Alarm{Principal: r.Grant().Principal(), Grant: r.origin, Got: au.Origin, Time: r.h.cfg.Now()})
		r.fail(ErrProvenance)
		return ErrProvenance
	}
	return nil
}

// Grant returns the grant the reader holds: the one it was made for, or
// the last Renew gave it.
func (r *Reader) Grant() authz.Grant {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.grant
}

// Renew replaces the reader's grant with g, a current grant of the same
// principal (and link) for live viewing of the same camera generation.
// The reader keeps its place: what it queued is delivered under g. It
// fails with ErrNoGrant for any other grant, or with the reader's error
// once it ended.
func (r *Reader) Renew(g authz.Grant) error {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if !g.Allows(domain.ActionLive, r.origin, r.h.cfg.Now()) || g.Principal() != r.grant.Principal() || g.Link() != r.grant.Link() {
		return ErrNoGrant
	}
	r.grant, r.expires = g, g.Expires()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}

// Dropped returns how many units the reader lost for being slow.
func (r *Reader) Dropped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Close ends the reader.
func (r *Reader) Close() { r.fail(ErrClosed) }

// WaitTrack waits until the stream's publisher has announced its track.
func (r *Reader) WaitTrack(ctx context.Context) (Track, error) {
	for {
		if t, ok := r.Track(); ok {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return Track{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
