package media

import (
	"time"

	"github.com/camvault/camvault/internal/domain"
)

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
			// What it sent is no longer live: a later reader waits
			// for the next publisher's track and keyframe.
			s.publisher, s.track = nil, nil
			clear(s.gop)
			s.gop, s.gopBytes = nil, 0
		}
	}
}

// Readers returns how many readers the publisher's stream has.
func (p *Publisher) Readers() int {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return len(p.s.readers)
}
