package service

import (
	"context"
	"errors"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/media"
)

// OpenLive opens the caller's live view of a camera: the policy decides
// "live" (audited), and the hub's reader carries the grant it minted and
// checks every frame against it.
func (s *Service) OpenLive(ctx context.Context, c Caller, camera domain.ID) (*media.Reader, error) {
	if s.cfg.Media == nil {
		return nil, &Error{Kind: KindNotFound, Code: "no_video", Message: "this server carries no video"}
	}
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
	return r, nil
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

// revokeLive ends the account's live readers. Viewer adapters re-open a
// revoked reader through ReopenLive, which asks the policy again and checks
// the session, so only what is no longer allowed stays closed.
func (s *Service) revokeLive(account domain.ID) {
	if s.cfg.Media != nil {
		s.cfg.Media.Revoke(func(g authz.Grant) bool { return g.Principal() == account })
	}
}
