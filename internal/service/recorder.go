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

// RemoteRecorders passes triggers to the node that records a camera, in
// a cluster: the node holding the camera's device (package devicehub's
// Recorders).
type RemoteRecorders interface {
	// TriggerElsewhere marks an event now at the recorder of the node
	// holding the camera's device. held is false when no other node
	// holds it, and this node's recorder takes the trigger; recording
	// says whether that node records the camera.
	TriggerElsewhere(ctx context.Context, camera domain.ID) (recording, held bool, err error)
}

// SetRemoteRecorders connects the other nodes' recorders, on a cluster
// node. Call it before serving.
func (s *Service) SetRemoteRecorders(r RemoteRecorders) {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	s.rec.remote = r
}

func (s *Service) remoteRecorders() RemoteRecorders {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return s.rec.remote
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
	remote  RemoteRecorders // nil outside a cluster
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
// In a cluster the trigger goes to the node that records the camera,
// which trusts this node's authorization.
func (s *Service) TriggerEvent(ctx context.Context, c Caller, camera domain.ID, label string) error {
	label, err := cleanName(label, "label")
	if err != nil && label != "" {
		return err
	}
	acc, err := s.authorizeCamera(ctx, c, camera, domain.ActionManage, "recording.event")
	if err != nil {
		return err
	}
	if r := s.remoteRecorders(); r != nil {
		recording, held, err := r.TriggerElsewhere(ctx, acc.camera.ID)
		switch {
		case !held:
		case err != nil:
			s.log.Warn("trigger at the camera's node", "camera", acc.camera.ID, "err", err)
			return &Error{Kind: KindUnavailable, Code: "camera_node_unavailable", Message: "the node recording the camera did not answer; try again"}
		case !recording:
			return conflict("the camera is not being recorded")
		default:
			return nil
		}
	}
	rc := s.recorder()
	if rc == nil || !rc.Trigger(acc.camera.ID, s.now()) {
		return conflict("the camera is not being recorded")
	}
	return nil
}

// HeldTrigger marks an event now on a camera whose device is connected
// to this node, for another node of the cluster that authorized its
// caller (the device hub's command handler). It reports whether this
// node records the camera.
func (s *Service) HeldTrigger(camera domain.ID) bool {
	rc := s.recorder()
	return rc != nil && rc.Trigger(camera, s.now())
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
