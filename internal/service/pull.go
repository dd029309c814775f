package service

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// AddPulledCamera adds an IP camera that the server pulls over RTSP itself,
// for homes that use camvault as their NVR without an agent. The URL's
// credentials are sealed with the server key before they reach the store
// and are never logged or returned. Pulled cameras cannot sign their video
// and are shown as unsigned.
func (s *Service) AddPulledCamera(ctx context.Context, c Caller, home domain.ID, name, source string) (CameraView, error) {
	if _, _, err := s.authorizeHome(ctx, c, home, domain.ActionCameraCreate, ""); err != nil {
		return CameraView{}, err
	}
	name, err := cleanName(name, "camera name")
	if err != nil {
		return CameraView{}, err
	}
	u, err := url.Parse(strings.TrimSpace(source))
	if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" || len(source) > 1024 {
		return CameraView{}, invalid("the source must be an rtsp:// or rtsps:// URL of the camera")
	}
	id := domain.NewID()
	cam := domain.Camera{ID: id, HomeID: home, Name: name, Generation: 1, State: domain.CameraStatePulled, CreatedAt: s.now(),
		PullSource: s.box.seal(u.String(), "pull:"+string(id))}
	if err := s.st.CreateCamera(ctx, cam); err != nil {
		return CameraView{}, internal("create camera", err)
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: home, CameraID: id, Action: "camera.create", Result: domain.ResultOK, Detail: "pulled from " + u.Hostname()})
	return s.Camera(ctx, c, id)
}

// PullSource returns the source URL of a pulled camera at the given
// generation, for the server's own puller; ok is false for other cameras.
func (s *Service) PullSource(ctx context.Context, ref domain.CameraRef) (string, bool) {
	cam, err := s.st.Camera(ctx, ref.Camera)
	if errors.Is(err, store.ErrNotFound) || err != nil || !cam.Pulled() || cam.Generation != ref.Generation || cam.HomeID == "" {
		return "", false
	}
	u, err := s.box.open(cam.PullSource, "pull:"+string(cam.ID))
	if err != nil {
		s.log.Error("pulled camera source does not open", "camera", cam.ID)
		return "", false
	}
	return u, true
}
