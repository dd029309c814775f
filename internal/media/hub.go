package media

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
)

// Config configures a Hub.
type Config struct {
	Observer Observer
	Demand   Demand
	// Linger is how long a stream stays wanted after its last reader
	// leaves; zero means 10 s.
	Linger time.Duration
	// Queue is each reader's queue length in access units; zero means
	// 128 (about 8 s at 15 fps).
	Queue int
	// QueueBytes bounds the bytes a reader's queue holds; zero means
	// 8 MiB. Over it the reader is too slow and drops to the next
	// keyframe. It must exceed GOPBytes, so a new reader takes the GOP.
	QueueBytes int
	// GOPBytes bounds the GOP kept for new readers; zero means 4 MiB
	// (2 s at 16 Mbit/s). A longer GOP is not kept: new readers then
	// start at the next keyframe.
	GOPBytes int
	// MaxBitrate bounds a publisher's average rate in bits per second
	// over BitrateWindow; zero means 20 Mbit/s. A publisher above it is
	// closed with ErrBitrate.
	MaxBitrate int
	// BitrateWindow is the averaging window; zero means 4 s.
	BitrateWindow time.Duration
	// Now returns the time; nil means time.Now.
	Now func() time.Time
}

// Hub is the stream hub. It is safe for concurrent use.
type Hub struct {
	cfg Config

	mu      sync.Mutex // guards streams and floors
	streams map[domain.CameraRef]*stream
	// floors is, per camera, the lowest generation that may still have a
	// stream: EndCamera raises it, so an ended generation never comes
	// back (math.MaxInt64 once the camera is gone).
	floors map[domain.ID]int64
}

// New returns an empty hub.
func New(cfg Config) *Hub {
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Demand == nil {
		cfg.Demand = nopDemand{}
	}
	if cfg.Linger == 0 {
		cfg.Linger = 10 * time.Second
	}
	if cfg.Queue == 0 {
		cfg.Queue = 128
	}
	if cfg.QueueBytes == 0 {
		cfg.QueueBytes = 8 << 20
	}
	if cfg.GOPBytes == 0 {
		cfg.GOPBytes = 4 << 20
	}
	cfg.GOPBytes = min(cfg.GOPBytes, cfg.QueueBytes)
	if cfg.MaxBitrate == 0 {
		cfg.MaxBitrate = 20_000_000
	}
	if cfg.BitrateWindow == 0 {
		cfg.BitrateWindow = 4 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Hub{cfg: cfg, streams: map[domain.CameraRef]*stream{}, floors: map[domain.ID]int64{}}
}

// stream is one origin's upstream and its readers.
type stream struct {
	origin domain.CameraRef

	mu        sync.Mutex // guards the fields below
	track     *Track
	publisher *Publisher
	gop       []*AccessUnit // the current GOP, from its keyframe
	gopBytes  int
	readers   map[*Reader]struct{}
	linger    *time.Timer
	wanted    bool
	ended     bool
}

// streamLocked returns origin's stream, creating it, or nil when origin's
// generation has ended. h.mu must be held.
func (h *Hub) streamLocked(origin domain.CameraRef) *stream {
	if origin.Generation < h.floors[origin.Camera] {
		return nil
	}
	s, ok := h.streams[origin]
	if !ok {
		s = &stream{origin: origin, readers: map[*Reader]struct{}{}}
		h.streams[origin] = s
	}
	return s
}

// Publisher feeds one origin's stream.
type Publisher struct {
	h      *Hub
	s      *stream
	closed bool // guarded by s.mu

	// The bitrate window: when it began and the bytes in it (guarded
	// by s.mu).
	windowStart time.Time
	windowBytes int
}

// Publish makes p the upstream of origin, replacing (and closing) an
// earlier publisher of the same origin.
func (h *Hub) Publish(origin domain.CameraRef, track Track) *Publisher {
	h.mu.Lock()
	s := h.streamLocked(origin)
	h.mu.Unlock()
	if s == nil {
		// An ended generation: the publisher takes nothing.
		return &Publisher{h: h, s: &stream{origin: origin, readers: map[*Reader]struct{}{}}, closed: true}
	}
	p := &Publisher{h: h, s: s}
	s.mu.Lock()
	if s.publisher != nil {
		s.publisher.closed = true
	}
	if s.ended {
		s.mu.Unlock()
		p.closed = true
		return p
	}
	s.publisher, s.track, s.gop = p, &track, nil
	s.mu.Unlock()
	return p
}

// Write fans au out to the stream's readers. au.Origin must be the
// publisher's origin; the ingest sets it from the device's certificate.
// Write never blocks on readers.
func (p *Publisher) Write(au *AccessUnit) error {
	s := p.s
	if au.Origin != s.origin {
		// Defence in depth: the readers' guard would stop it too.
		p.h.cfg.Observer.Provenance(Alarm{Grant: s.origin, Got: au.Origin, Time: p.h.cfg.Now()})
		return ErrProvenance
	}
	size := au.Size()
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if err := p.meter(size); err != nil {
		return err
	}
	if au.Key {
		clear(s.gop)
		s.gop, s.gopBytes = s.gop[:0], 0
	}
	if au.Key || len(s.gop) > 0 {
		if len(s.gop) < p.h.cfg.Queue && s.gopBytes+size <= p.h.cfg.GOPBytes {
			s.gop = append(s.gop, au)
			s.gopBytes += size
		} else {
			// Too long to keep: new readers wait for the next keyframe.
			clear(s.gop)
			s.gop, s.gopBytes = s.gop[:0], 0
		}
	}
	for r := range s.readers {
		r.push(au, size)
	}
	return nil
}

// meter adds size to the publisher's bitrate window and closes a
// publisher above the cap. s.mu must be held.
func (p *Publisher) meter(size int) error {
	now := p.h.cfg.Now()
	win := p.h.cfg.BitrateWindow
	if now.Sub(p.windowStart) >= win {
		p.windowStart, p.windowBytes = now, 0
	}
	p.windowBytes += size
	if limit := int64(p.h.cfg.MaxBitrate) / 8 * int64(win/time.Millisecond) / 1000; int64(p.windowBytes) > limit {
		p.closed = true
		if p.s.publisher == p {
			p.s.publisher = nil
		}
		p.h.cfg.Observer.Overrate(p.s.origin.Camera)
		return ErrBitrate
	}
	return nil
}

// Close ends the publisher. Readers stay and wait for the next publisher
// of the same origin (a reconnecting camera).
func (p *Publisher) Close() {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !p.closed {
		p.closed = true
		if s.publisher == p {
			s.publisher = nil
		}
	}
}

// Readers returns how many readers the publisher's stream has.
func (p *Publisher) Readers() int {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return len(p.s.readers)
}

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

func (h *Hub) lingerEnded(s *stream) {
	s.mu.Lock()
	release := len(s.readers) == 0 && s.wanted
	if release {
		s.wanted, s.linger = false, nil
	}
	idle := release && s.publisher == nil
	s.mu.Unlock()
	if release {
		h.cfg.Demand.Release(s.origin)
	}
	if idle {
		h.mu.Lock()
		if h.streams[s.origin] == s {
			s.mu.Lock()
			if len(s.readers) == 0 && s.publisher == nil {
				delete(h.streams, s.origin)
			}
			s.mu.Unlock()
		}
		h.mu.Unlock()
	}
}

// Revoke closes every reader whose grant matches, with ErrRevoked, and
// returns how many it closed. The service calls it when access is
// withdrawn (member removed, session revoked, guest window over).
func (h *Hub) Revoke(match func(g authz.Grant) bool) int {
	n := 0
	for _, s := range h.snapshot() {
		s.mu.Lock()
		var hit []*Reader
		for r := range s.readers {
			if match(r.grant) {
				hit = append(hit, r)
			}
		}
		s.mu.Unlock()
		for _, r := range hit {
			r.fail(ErrRevoked)
			n++
		}
	}
	return n
}

// EndCamera ends every stream of camera at a generation below current (or
// all of them when current is 0): publishers are closed, readers end with
// ErrRevoked, and the streams' GOPs are dropped. The service calls it on
// every generation bump.
func (h *Hub) EndCamera(camera domain.ID, current int64) int {
	h.mu.Lock()
	floor := current
	if current == 0 {
		floor = math.MaxInt64
	}
	if floor > h.floors[camera] {
		h.floors[camera] = floor
	}
	var ended []*stream
	for o, s := range h.streams {
		if o.Camera == camera && (current == 0 || o.Generation < current) {
			ended = append(ended, s)
			delete(h.streams, o)
		}
	}
	h.mu.Unlock()
	n := 0
	for _, s := range ended {
		s.mu.Lock()
		s.ended, s.gop = true, nil
		if s.publisher != nil {
			s.publisher.closed = true
			s.publisher = nil
		}
		readers := make([]*Reader, 0, len(s.readers))
		for r := range s.readers {
			readers = append(readers, r)
		}
		if s.linger != nil {
			s.linger.Stop()
			s.linger = nil
		}
		wanted := s.wanted
		s.wanted = false
		s.mu.Unlock()
		if wanted {
			h.cfg.Demand.Release(s.origin) // stop pulling the ended generation
		}
		for _, r := range readers {
			r.fail(ErrRevoked)
			n++
		}
	}
	return n
}

func (h *Hub) snapshot() []*stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*stream, 0, len(h.streams))
	for _, s := range h.streams {
		out = append(out, s)
	}
	return out
}

// Stats is a snapshot of the hub.
type Stats struct {
	Streams, Publishers, Readers int
}

// Stats counts streams, publishers and readers.
func (h *Hub) Stats() Stats {
	var st Stats
	for _, s := range h.snapshot() {
		s.mu.Lock()
		st.Streams++
		if s.publisher != nil {
			st.Publishers++
		}
		st.Readers += len(s.readers)
		s.mu.Unlock()
	}
	return st
}

// ReadersOf counts the readers whose grant was made for principal.
func (h *Hub) ReadersOf(principal domain.ID) int {
	n := 0
	for _, s := range h.snapshot() {
		s.mu.Lock()
		for r := range s.readers {
			if r.grant.Principal() == principal {
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
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

// ring is a fixed-size FIFO of access units.
type ring struct {
	buf  []*AccessUnit
	head int // index of the oldest
	n    int
}

func (q *ring) full() bool { return q.n == len(q.buf) }

func (q *ring) push(au *AccessUnit) {
	q.buf[(q.head+q.n)%len(q.buf)] = au
	q.n++
}

func (q *ring) pop() *AccessUnit {
	if q.n == 0 {
		return nil
	}
	au := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return au
}

func (q *ring) clear() {
	for q.pop() != nil {
	}
	q.head = 0
}

// Wanted reports whether origin's stream has readers (or is lingering),
// so a camera that reconnects can be asked to stream again.
func (h *Hub) Wanted(origin domain.CameraRef) bool {
	h.mu.Lock()
	s, ok := h.streams[origin]
	h.mu.Unlock()
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wanted
}

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
