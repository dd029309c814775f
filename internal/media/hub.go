package media

import (
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

// Move ends the viewers of camera (of every generation) with ErrMoved,
// and returns how many it ended: another node serves the camera now, so
// they ask again for a stream. The streams stay, for a camera that comes
// back; renewable readers (the recorder's) stay too, as the recorder
// decides for itself where it records.
func (h *Hub) Move(camera domain.ID) int {
	var moved []*Reader
	for _, s := range h.snapshot() {
		if s.origin.Camera != camera {
			continue
		}
		s.mu.Lock()
		for r := range s.readers {
			if !r.renewable {
				moved = append(moved, r)
			}
		}
		s.mu.Unlock()
	}
	for _, r := range moved {
		r.fail(ErrMoved)
	}
	return len(moved)
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
