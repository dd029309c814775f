// Package live turns a Grant into a viewer session. The service decides
// who may watch and mints a Grant; live adds the viewer's reader to the
// stream hub for it, runs the deliver loop, and asks the service again
// (through a Reauth) when the grant runs out or is revoked. Its
// subscriber applies withdrawals of live access from the bus to the hub.
//
// The viewer adapters (whep, hls, rtsp) use it the same way:
//
//	sess, err := viewers.Redeem(ctx, redeemer, token, camera, live.ProtoRTSP, addr)
//	if err != nil { … } // a *fault.Error
//	track, err := sess.WaitTrack(ctx)
//	err = sess.Watch(ctx, func(au *media.AccessUnit) error { return write(au) })
//
// Viewers is safe for concurrent use; a Session belongs to one goroutine.
package live

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/fault"
	"github.com/camvault/camvault/internal/media"
)

// Stream protocols, as stream credentials name them.
const (
	ProtoRTSP   = "rtsp"
	ProtoWebRTC = "webrtc"
	ProtoHLS    = "hls"
)

// MaxStreams bounds an account's concurrent live streams in this process:
// generous for a household or an NVR reading every camera, bounded for
// anyone trying to pile up readers.
const MaxStreams = 512

// reopenTimeout bounds asking the policy again for a running viewer.
const reopenTimeout = 5 * time.Second

// Reauth asks the policy again for a running viewer: it returns a current
// grant for live viewing of the same camera generation, or the error that
// ends the viewer's stream.
type Reauth = func(ctx context.Context) (authz.Grant, error)

// Redeemer spends a single-use stream credential for camera over protocol
// and returns the viewer's grant and how to renew it. The service
// implements it.
type Redeemer interface {
	RedeemStream(ctx context.Context, token string, camera domain.ID, protocol, addr string) (authz.Grant, Reauth, error)
}

// Config configures Viewers.
type Config struct {
	// Hub is the stream hub viewers read from.
	Hub *media.Hub
	// Bus carries withdrawals of live access; nil means they arrive
	// only through Apply.
	Bus    events.Bus
	Logger *slog.Logger
}

// Viewers opens viewer sessions on a hub and ends them when access is
// withdrawn.
type Viewers struct {
	hub         *media.Hub
	log         *slog.Logger
	unsubscribe func()

	mu sync.Mutex // guards seq and revoked
	// seq counts the AccessRevoked events applied here; revoked holds,
	// per account, the seq of its last one. A reader made from a grant
	// minted before a revocation of its account would miss it, so Open
	// compares them around minting and AddReader.
	seq     uint64
	revoked map[domain.ID]uint64
	// closed is set while this node cannot hear withdrawals: no stream
	// opens.
	closed bool
}

// New returns Viewers subscribed to cfg.Bus. Close unsubscribes.
func New(cfg Config) *Viewers {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	v := &Viewers{hub: cfg.Hub, log: cfg.Logger, revoked: map[domain.ID]uint64{}}
	if cfg.Bus != nil {
		v.unsubscribe = cfg.Bus.Subscribe(v.Apply)
	}
	return v
}

// Close stops applying withdrawals from the bus.
func (v *Viewers) Close() {
	if v.unsubscribe != nil {
		v.unsubscribe()
	}
}

// Apply ends this process's streams that the withdrawal e concerns.
func (v *Viewers) Apply(e events.Event) {
	switch e.Kind {
	case events.AccessRevoked:
		v.mu.Lock()
		v.seq++
		v.revoked[e.Account] = v.seq
		v.mu.Unlock()
		v.hub.Revoke(func(g authz.Grant) bool { return g.Principal() == e.Account })
	case events.CameraEnded:
		v.hub.EndCamera(e.Camera, e.Generation)
	case events.LinkRevoked:
		// Streams through the link end for good: the link never
		// comes back.
		v.hub.Revoke(func(g authz.Grant) bool { return g.Link() == e.Link })
	}
}

// FailClosed, on, ends every stream this node serves and opens none
// until it is called off: the node cannot hear withdrawals, so it cannot
// tell whose access still holds.
func (v *Viewers) FailClosed(on bool) {
	v.mu.Lock()
	v.closed = on
	v.mu.Unlock()
	if on {
		v.hub.Revoke(func(authz.Grant) bool { return true })
	}
}

// failedClosed reports whether FailClosed is on.
func (v *Viewers) failedClosed() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.closed
}

// mark returns the count of revocations applied so far.
func (v *Viewers) mark() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.seq
}

// revokedSince reports whether account's access was revoked after mark.
func (v *Viewers) revokedSince(account domain.ID, mark uint64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.revoked[account] > mark
}

// Redeem spends a stream credential through rd and opens the viewer's
// session. Errors are *fault.Error values.
func (v *Viewers) Redeem(ctx context.Context, rd Redeemer, token string, camera domain.ID, protocol, addr string) (*Session, error) {
	var reauth Reauth
	return v.Open(ctx, func(ctx context.Context) (authz.Grant, error) {
		if reauth != nil {
			// The credential is spent: a revocation that raced the
			// first grant is answered by asking again.
			return reauth(ctx)
		}
		g, re, err := rd.RedeemStream(ctx, token, camera, protocol, addr)
		reauth = re
		return g, err
	}, func(ctx context.Context) (authz.Grant, error) { return reauth(ctx) })
}

// Open mints a grant with mint and adds the viewer's reader for it; reauth
// renews the grant for the rest of the session. A revocation of the
// viewer's account that lands between minting and the reader's creation
// would miss the reader, so Open then closes it and mints again. Errors
// are *fault.Error values, or mint's.
func (v *Viewers) Open(ctx context.Context, mint, reauth Reauth) (*Session, error) {
	r, err := v.open(ctx, mint)
	if err != nil {
		return nil, err
	}
	return &Session{v: v, r: r, reauth: reauth, origin: r.Grant().Camera(), principal: r.Grant().Principal()}, nil
}

// open mints a grant and adds its reader, minting again while a
// revocation raced it.
func (v *Viewers) open(ctx context.Context, mint Reauth) (*media.Reader, error) {
	for {
		if v.failedClosed() {
			return nil, &fault.Error{Kind: fault.KindUnavailable, Code: "live_paused",
				Message: "live video is paused on this server; try again shortly", RetryAfter: 5 * time.Second}
		}
		mark := v.mark()
		g, err := mint(ctx)
		if err != nil {
			return nil, err
		}
		if v.hub.ReadersOf(g.Principal()) >= MaxStreams {
			return nil, &fault.Error{Kind: fault.KindThrottled, Code: "too_many_streams", Message: "too many live streams open for this account", RetryAfter: 10 * time.Second}
		}
		r, err := v.hub.AddReader(g)
		switch {
		case errors.Is(err, media.ErrStreamEnded):
			return nil, &fault.Error{Kind: fault.KindConflict, Code: "conflict", Message: "the camera changed hands; reload"}
		case err != nil:
			return nil, &fault.Error{Kind: fault.KindInternal, Code: "internal", Message: "internal error", Err: err}
		}
		if !v.revokedSince(g.Principal(), mark) {
			return r, nil
		}
		r.Close()
	}
}

// Session is one viewer's stream: its reader, and how to renew its
// grant.
type Session struct {
	v         *Viewers
	r         *media.Reader
	reauth    Reauth
	origin    domain.CameraRef
	principal domain.ID
}

// Origin is the camera generation the session shows.
func (s *Session) Origin() domain.CameraRef { return s.origin }

// Principal is the account the session's grant was made for.
func (s *Session) Principal() domain.ID { return s.principal }

// Grant is the grant the session's reader holds now.
func (s *Session) Grant() authz.Grant { return s.r.Grant() }

// WaitTrack waits until the stream's publisher has announced its track.
func (s *Session) WaitTrack(ctx context.Context) (media.Track, error) { return s.r.WaitTrack(ctx) }

// Watch hands the viewer's frames to deliver until ctx ends, deliver
// fails, or the viewer's access ends. When the grant runs out or is
// revoked it asks the policy again (the session's Reauth) and goes on only
// if the viewer may still watch. Watch closes the session when it returns.
func (s *Session) Watch(ctx context.Context, deliver func(*media.AccessUnit) error) error {
	defer s.Close()
	for {
		au, err := s.r.Read(ctx)
		if errors.Is(err, media.ErrRevoked) {
			if err := s.reopen(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := deliver(au); err != nil {
			return err
		}
	}
}

// reopen replaces the session's ended reader with one for a fresh grant
// of the same camera generation.
func (s *Session) reopen(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, reopenTimeout)
	defer cancel()
	r, err := s.v.open(rctx, func(ctx context.Context) (authz.Grant, error) {
		g, err := s.reauth(ctx)
		if err == nil && g.Camera() != s.origin {
			// The camera changed hands: this session's generation
			// is over.
			return authz.Grant{}, &fault.Error{Kind: fault.KindNotFound, Code: "not_found", Message: "not found"}
		}
		return g, err
	})
	if err != nil {
		return err
	}
	s.r.Close()
	s.r = r
	return nil
}

// Close ends the session's reader.
func (s *Session) Close() { s.r.Close() }
