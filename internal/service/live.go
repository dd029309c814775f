package service

import (
	"context"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
)

// LiveGrant authorizes the caller's live view of a camera: the policy
// decides "live" (audited) and mints the grant that package live opens a
// reader for, and checks every frame against.
func (s *Service) LiveGrant(ctx context.Context, c Caller, camera domain.ID) (authz.Grant, error) {
	if !s.cfg.Video {
		return authz.Grant{}, &Error{Kind: KindNotFound, Code: "no_video", Message: "this server carries no video"}
	}
	acc, err := s.authorizeCamera(ctx, c, camera, domain.ActionLive, "live")
	if err != nil {
		return authz.Grant{}, err
	}
	return acc.grant, nil
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

// accessRevoked ends the account's live readers, in every process
// serving video. Viewers re-ask the policy through Regrant, which checks
// the session too, so only what is no longer allowed stays closed.
func accessRevoked(account domain.ID) events.Event {
	return events.Event{Kind: events.AccessRevoked, Account: account}
}

// cameraEnded ends every live stream of the camera's generations below
// current (all of them when current is 0), in every process.
func cameraEnded(camera domain.ID, current int64) events.Event {
	return events.Event{Kind: events.CameraEnded, Camera: camera, Generation: current}
}

// linksRevoked ends every stream started through the links.
func linksRevoked(links []domain.Link) []events.Event {
	var ws []events.Event
	for _, l := range links {
		ws = append(ws, events.Event{Kind: events.LinkRevoked, Link: l.ID})
	}
	return ws
}

// keeper is a bus that keeps events in the store's outbox (package
// outbox): Keep writes e's entry through the store with ctx, so within
// the transaction ctx carries, and returns e with its entry's number.
type keeper interface {
	Keep(ctx context.Context, e events.Event) (events.Event, error)
}

// withdrawing makes a change that takes live access away. change runs in
// one store transaction with the outbox entries of the withdrawals it
// returns, so that no node keeps the change without them (a node that
// misses the bus polls the outbox); once committed, they are published.
// change must make its changes through the store with the context it is
// given, and do nothing else that is not undone when it is run again.
func (s *Service) withdrawing(ctx context.Context, change func(ctx context.Context) ([]events.Event, error)) error {
	k, _ := s.cfg.Bus.(keeper)
	var ws []events.Event
	err := s.st.Atomically(ctx, func(ctx context.Context) error {
		var err error
		if ws, err = change(ctx); err != nil || k == nil {
			return err
		}
		for i := range ws {
			if ws[i], err = k.Keep(ctx, ws[i]); err != nil {
				return internal("keep withdrawal", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, w := range ws {
		s.withdraw(w)
	}
	return nil
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

// applyWithdrawal ends this process's streams that e concerns, without
// the bus.
func (s *Service) applyWithdrawal(e events.Event) {
	if s.cfg.Withdrawn != nil {
		s.cfg.Withdrawn(e)
	}
}
