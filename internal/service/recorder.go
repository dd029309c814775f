package service

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/store"
)

// RecordingControl is the recorder as the service steers it.
type RecordingControl interface {
	// Kick makes the recorder read the settings again now.
	Kick()
	// Trigger marks an event; it reports whether the camera is being
	// recorded.
	Trigger(camera domain.ID, at time.Time) bool
}

// SetRecorder connects the recorder, once it runs.
func (s *Service) SetRecorder(r RecordingControl) {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	s.rec.control = r
}

func (s *Service) recorder() RecordingControl {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return s.rec.control
}

// recordings holds the recording state the service keeps in memory.
type recordings struct {
	mu      sync.Mutex // guards the fields below
	control RecordingControl
	// builds stops the exports this node is building.
	builds map[domain.ID]context.CancelFunc
}

// RecordingCameras implements record.Source.
func (s *Service) RecordingCameras(ctx context.Context) ([]domain.RecordingSettings, error) {
	return s.st.RecordingCameras(ctx)
}

// RecordingGrant implements record.Source: the policy decides whether
// the server records the camera as it is now, and the grant is for its
// current generation only.
func (s *Service) RecordingGrant(ctx context.Context, camera domain.ID) (authz.Grant, domain.Camera, domain.RecordingSettings, error) {
	if !s.cfg.Video {
		return authz.Grant{}, domain.Camera{}, domain.RecordingSettings{}, record.ErrNotRecording
	}
	cam, err := s.st.Camera(ctx, camera)
	if errors.Is(err, store.ErrNotFound) {
		return authz.Grant{}, cam, domain.RecordingSettings{}, record.ErrNotRecording
	}
	if err != nil {
		return authz.Grant{}, cam, domain.RecordingSettings{}, err
	}
	set, err := s.st.RecordingSettings(ctx, camera)
	if errors.Is(err, store.ErrNotFound) {
		return authz.Grant{}, cam, set, record.ErrNotRecording
	}
	if err != nil {
		return authz.Grant{}, cam, set, err
	}
	g, d := authz.AuthorizeRecording(cam, set, s.now())
	if !d.Allowed {
		return authz.Grant{}, cam, set, record.ErrNotRecording
	}
	return g, cam, set, nil
}

// TriggerEvent marks an event on a camera now (a manual or API trigger):
// a camera recording on events keeps its pre-roll and post-roll around it.
func (s *Service) TriggerEvent(ctx context.Context, c Caller, camera domain.ID, label string) error {
	label, err := cleanName(label, "label")
	if err != nil && label != "" {
		return err
	}
	acc, err := s.authorizeCamera(ctx, c, camera, domain.ActionManage, "recording.event")
	if err != nil {
		return err
	}
	rc := s.recorder()
	if rc == nil || !rc.Trigger(acc.camera.ID, s.now()) {
		return conflict("the camera is not being recorded")
	}
	return nil
}

// DeviceMotion is motion the camera's own agent reported.
func (s *Service) DeviceMotion(ctx context.Context, cam domain.Camera, at time.Time) {
	if rc := s.recorder(); rc != nil {
		if d := s.now().Sub(at); d < -time.Minute || d > time.Minute {
			at = s.now() // a camera clock far off: use ours
		}
		rc.Trigger(cam.ID, at)
	}
}
