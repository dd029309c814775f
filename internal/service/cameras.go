package service

import (
	"context"
	"encoding/pem"
	"errors"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// CameraView is a camera with the camera actions the caller holds on it.
type CameraView struct {
	domain.Camera
	Actions []domain.Action
	// Online says whether the camera's device holds a control session.
	Online bool
}

// PublicKeyPEM is the enrolled device's public key as PEM ("PUBLIC
// KEY"), which `camvault verify --key` checks the camera's video with; empty
// for a camera without a device.
func (v CameraView) PublicKeyPEM() string {
	if !v.DeviceBacked() {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: v.DeviceKey}))
}

func (s *Service) view(cam domain.Camera, acts []domain.Action) CameraView {
	return CameraView{Camera: cam, Actions: acts, Online: cam.DeviceBacked() && s.presence().Online(cam.ID)}
}

// Cameras lists the cameras of home that the caller may use at all (a
// guest sees only the cameras in its scope).
func (s *Service) Cameras(ctx context.Context, c Caller, home domain.ID) ([]CameraView, error) {
	_, m, err := s.authorizeHome(ctx, c, home, domain.ActionCameraList, "")
	if err != nil {
		return nil, err
	}
	all, err := s.st.Cameras(ctx, home)
	if err != nil {
		return nil, internal("list cameras", err)
	}
	out := []CameraView{}
	f := authz.Facts{Now: s.now(), Membership: m}
	for i := range all {
		acts := authz.CameraActionsFor(c.principal(), authz.Resource{Home: home, Camera: &all[i]}, f)
		if len(acts) > 0 {
			out = append(out, s.view(all[i], acts))
		}
	}
	return out, nil
}

// CreateCamera adds a camera to the registry of home.
func (s *Service) CreateCamera(ctx context.Context, c Caller, home domain.ID, name string) (CameraView, error) {
	if _, _, err := s.authorizeHome(ctx, c, home, domain.ActionCameraCreate, ""); err != nil {
		return CameraView{}, err
	}
	name, err := cleanName(name, "camera name")
	if err != nil {
		return CameraView{}, err
	}
	cam := domain.Camera{ID: domain.NewID(), HomeID: home, Name: name, Generation: 1, State: domain.CameraStateRegistered, CreatedAt: s.now()}
	if err := s.st.CreateCamera(ctx, cam); err != nil {
		return CameraView{}, internal("create camera", err)
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: home, CameraID: cam.ID, Action: "camera.create", Result: domain.ResultOK})
	return s.Camera(ctx, c, cam.ID)
}

// Camera returns one camera the caller may use. Looking is a decision about
// the camera and is audited as "camera.view".
func (s *Service) Camera(ctx context.Context, c Caller, id domain.ID) (CameraView, error) {
	if !domain.ValidID(string(id)) {
		return CameraView{}, notFound()
	}
	cam, err := s.st.Camera(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return CameraView{}, notFound()
	}
	if err != nil {
		return CameraView{}, internal("load camera", err)
	}
	m, err := s.membership(ctx, c, cam.HomeID)
	if err != nil {
		return CameraView{}, err
	}
	acts := authz.CameraActionsFor(c.principal(), authz.Resource{Home: cam.HomeID, Camera: &cam}, authz.Facts{Now: s.now(), Membership: m})
	ev := domain.AuditEvent{HomeID: cam.HomeID, CameraID: cam.ID, Action: "camera.view", Result: domain.ResultAllowed}
	if len(acts) == 0 {
		ev.Result, ev.Detail = domain.ResultDenied, "no camera action allowed"
		s.audit(ctx, c, ev)
		if c.Anonymous() {
			return CameraView{}, unauthenticated("sign in first")
		}
		return CameraView{}, notFound()
	}
	s.audit(ctx, c, ev)
	return s.view(cam, acts), nil
}

// RenameCamera changes a camera's name.
func (s *Service) RenameCamera(ctx context.Context, c Caller, id domain.ID, name string) (CameraView, error) {
	acc, err := s.authorizeCamera(ctx, c, id, domain.ActionManage, "camera.rename")
	if err != nil {
		return CameraView{}, err
	}
	name, err = cleanName(name, "camera name")
	if err != nil {
		return CameraView{}, err
	}
	if err := s.st.RenameCamera(ctx, id, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return CameraView{}, notFound()
		}
		return CameraView{}, internal("rename camera", err)
	}
	acc.camera.Name = name
	s.presence().Renamed(id, name)
	return s.view(acc.camera, acc.actions), nil
}

// DeleteCamera removes a camera from its home. A registry-only camera is
// deleted; a device-backed one leaves the home with its generation
// increased and its device key retired: the device makes a new key and
// waits for a new owner with a new claim code, as a new camera.
func (s *Service) DeleteCamera(ctx context.Context, c Caller, id domain.ID) error {
	acc, err := s.authorizeCamera(ctx, c, id, domain.ActionManage, "camera.delete")
	if err != nil {
		return err
	}
	if acc.camera.DeviceBacked() {
		return s.release(ctx, c, acc.camera, "camera.remove")
	}
	if err := s.deleteCamera(ctx, id); err != nil {
		return err
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: acc.camera.HomeID, CameraID: id, Action: "camera.remove", Result: domain.ResultOK})
	s.scheduleShred(ctx, acc.camera, false)
	return nil
}

// Audit lists a home's audit events.
func (s *Service) Audit(ctx context.Context, c Caller, f domain.AuditFilter) ([]domain.AuditEvent, error) {
	if _, _, err := s.authorizeHome(ctx, c, f.HomeID, domain.ActionAuditRead, ""); err != nil {
		return nil, err
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 200
	}
	list, err := s.st.Audit(ctx, f)
	if err != nil {
		return nil, internal("list audit", err)
	}
	return list, nil
}
