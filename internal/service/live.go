package service

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/media"
)

// OpenLive opens the caller's live view of a camera: the policy decides
// "live" (audited), and the hub's reader carries the grant it minted and
// checks every frame against it.
func (s *Service) OpenLive(ctx context.Context, c Caller, camera domain.ID) (*media.Reader, error) {
	if s.cfg.Media == nil {
		return nil, &Error{Kind: KindNotFound, Code: "no_video", Message: "this server carries no video"}
	}
	// A revocation that lands between the policy's answer and the
	// reader's creation would miss the reader: compare the account's
	// revocation count before and after, and ask again if it moved.
	if s.cfg.Media.ReadersOf(c.Account.ID) >= MaxLiveStreams {
		return nil, &Error{Kind: KindThrottled, Code: "too_many_streams", Message: "too many live streams open for this account", RetryAfter: 10 * time.Second}
	}
	for {
		epoch := s.liveEpoch(c.Account.ID)
		acc, err := s.authorizeCamera(ctx, c, camera, domain.ActionLive, "live")
		if err != nil {
			return nil, err
		}
		r, err := s.cfg.Media.AddReader(acc.grant)
		switch {
		case errors.Is(err, media.ErrStreamEnded):
			return nil, conflict("the camera changed hands; reload")
		case err != nil:
			return nil, internal("open live", err)
		}
		if s.liveEpoch(c.Account.ID) == epoch {
			return r, nil
		}
		r.Close()
		if c, err = s.callerFor(ctx, c.Account.ID, c.SessionID, c.Link, c.Addr); err != nil {
			return nil, err
		}
	}
}

// liveEpochs counts, per account, revocations of live access.
type liveEpochs struct {
	mu sync.Mutex // guards n
	n  map[domain.ID]uint64
}

func (s *Service) liveEpoch(account domain.ID) uint64 {
	s.epochs.mu.Lock()
	defer s.epochs.mu.Unlock()
	return s.epochs.n[account]
}

// ProvenanceAlarm records that the provenance guard stopped a frame of got
// before a viewer holding a grant on want: a bug upstream, never a normal
// event. It is audited in the home of the camera the viewer may see.
func (s *Service) ProvenanceAlarm(ctx context.Context, principal domain.ID, want, got domain.CameraRef) {
	home := domain.ID("")
	if cam, err := s.st.Camera(ctx, want.Camera); err == nil {
		home = cam.HomeID
	}
	s.audit(ctx, Caller{}, domain.AuditEvent{HomeID: home, CameraID: want.Camera, Principal: principal, Action: "live.provenance_alarm",
		Result: domain.ResultDenied, Detail: "stopped a frame of camera " + string(got.Camera) + " generation " + itoa(got.Generation)})
}

// revokeLive ends the account's live readers, in every process serving
// video. Viewer adapters re-open a revoked reader through ReopenLive, which
// asks the policy again and checks the session, so only what is no longer
// allowed stays closed.
func (s *Service) revokeLive(account domain.ID) {
	s.withdraw(events.Event{Kind: events.AccessRevoked, Account: account})
}

// endCamera ends every live stream of the camera's generations below
// current (all of them when current is 0), in every process.
func (s *Service) endCamera(camera domain.ID, current int64) {
	s.withdraw(events.Event{Kind: events.CameraEnded, Camera: camera, Generation: current})
}

// revokeLinks ends every stream started through the links.
func (s *Service) revokeLinks(links []domain.Link) {
	for _, l := range links {
		s.withdraw(events.Event{Kind: events.LinkRevoked, Link: l.ID})
	}
}

// withdraw publishes e; should the bus fail, this process at least acts
// on it, and the failure is logged loudly.
func (s *Service) withdraw(e events.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.cfg.Bus.Publish(ctx, e); err != nil {
		s.log.Error("withdrawal of live access not published; applied here only", "kind", e.Kind, "err", err)
		s.applyWithdrawal(e)
	}
}

// applyWithdrawal ends this process's streams that e concerns.
func (s *Service) applyWithdrawal(e events.Event) {
	switch e.Kind {
	case events.AccessRevoked:
		s.epochs.mu.Lock()
		if s.epochs.n == nil {
			s.epochs.n = map[domain.ID]uint64{}
		}
		s.epochs.n[e.Account]++
		s.epochs.mu.Unlock()
		if s.cfg.Media != nil {
			s.cfg.Media.Revoke(func(g authz.Grant) bool { return g.Principal() == e.Account })
		}
	case events.CameraEnded:
		if s.cfg.Media != nil {
			s.cfg.Media.EndCamera(e.Camera, e.Generation)
		}
	case events.LinkRevoked:
		// Streams through the link end for good: the link never
		// comes back.
		if s.cfg.Media != nil {
			s.cfg.Media.Revoke(func(g authz.Grant) bool { return g.Link() == e.Link })
		}
	}
}

// Watch hands a viewer's frames to deliver until ctx ends, deliver fails,
// or the viewer's access ends. When the reader's grant runs out or is
// revoked it asks the policy again (ReopenLive) and goes on only if the
// viewer may still watch. Watch owns r and every reader after it, and
// closes them.
func (s *Service) Watch(ctx context.Context, r *media.Reader, c Caller, deliver func(*media.AccessUnit) error) error {
	origin := r.Grant().Camera()
	defer func() { r.Close() }()
	for {
		au, err := r.Read(ctx)
		if errors.Is(err, media.ErrRevoked) {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			nr, rerr := s.ReopenLive(rctx, c, origin)
			cancel()
			if rerr != nil {
				return rerr
			}
			r.Close()
			r = nr
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
