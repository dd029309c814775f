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

// revokeLive ends the account's live readers, in every process serving
// video. Viewers re-ask the policy through Regrant, which checks the
// session too, so only what is no longer allowed stays closed.
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

// applyWithdrawal ends this process's streams that e concerns, without
// the bus.
func (s *Service) applyWithdrawal(e events.Event) {
	if s.cfg.Withdrawn != nil {
		s.cfg.Withdrawn(e)
	}
}
