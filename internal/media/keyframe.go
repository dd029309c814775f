package media

import (
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
)

// Keyframe returns the track of the grant's camera and the keyframe that
// starts its current GOP, for a snapshot; ok is false while the stream
// holds none, and for a grant that does not allow snapshots of it now.
func (h *Hub) Keyframe(g authz.Grant) (Track, *AccessUnit, bool) {
	origin := g.Camera()
	if !g.Allows(domain.ActionSnapshot, origin, h.cfg.Now()) {
		return Track{}, nil, false
	}
	h.mu.Lock()
	s, ok := h.streams[origin]
	h.mu.Unlock()
	if !ok {
		return Track{}, nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.track == nil || len(s.gop) == 0 || !s.gop[0].Key || s.gop[0].Origin != origin {
		return Track{}, nil, false
	}
	return *s.track, s.gop[0], true
}

// Prime asks for the grant's camera's stream without a reader — for a
// snapshot of a camera that streams only on demand — and lets it go after
// the linger unless readers come. A grant that does not allow snapshots
// of the camera now primes nothing.
func (h *Hub) Prime(g authz.Grant) {
	origin := g.Camera()
	if !g.Allows(domain.ActionSnapshot, origin, h.cfg.Now()) {
		return
	}
	h.Warm(origin)
}

// Warm asks for origin's stream without a reader, as Prime does, for
// viewers about to arrive: those of a camera that moved here from another
// node. It hands out nothing, so it takes no grant.
func (h *Hub) Warm(origin domain.CameraRef) {
	h.mu.Lock()
	s := h.streamLocked(origin)
	h.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	want := !s.wanted && !s.ended
	if want {
		s.wanted = true
		if len(s.readers) == 0 && s.linger == nil {
			s.linger = time.AfterFunc(h.cfg.Linger, func() { h.lingerEnded(s) })
		}
	}
	s.mu.Unlock()
	if want {
		h.cfg.Demand.Want(origin)
	}
}
