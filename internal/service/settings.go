package service

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// RecordingSettingsView is a camera's recording settings as the API
// shows and takes them.
type RecordingSettingsView struct {
	Mode         domain.RecordingMode `json:"mode"`
	PreRollSecs  float64              `json:"pre_roll_seconds"`
	PostRollSecs float64              `json:"post_roll_seconds"`
	RetainDays   int                  `json:"retain_days"`
	RetainGB     float64              `json:"retain_gb"`
	Recording    bool                 `json:"recording"`
}

const gb = 1 << 30

func settingsView(r domain.RecordingSettings) RecordingSettingsView {
	return RecordingSettingsView{Mode: r.Mode, PreRollSecs: r.PreRoll.Seconds(), PostRollSecs: r.PostRoll.Seconds(),
		RetainDays: r.RetainDays, RetainGB: float64(r.RetainBytes) / gb}
}

func (s *Service) loadSettings(ctx context.Context, camera domain.ID) (domain.RecordingSettings, error) {
	r, err := s.st.RecordingSettings(ctx, camera)
	if errors.Is(err, store.ErrNotFound) {
		return domain.DefaultRecordingSettings(camera), nil
	}
	if err != nil {
		return r, internal("load recording settings", err)
	}
	return r, nil
}

// CameraRecording returns a camera's recording settings.
func (s *Service) CameraRecording(ctx context.Context, c Caller, camera domain.ID) (RecordingSettingsView, error) {
	acc, err := s.authorizeCamera(ctx, c, camera, domain.ActionManage, "recording.settings.view")
	if err != nil {
		return RecordingSettingsView{}, err
	}
	r, err := s.loadSettings(ctx, acc.camera.ID)
	if err != nil {
		return RecordingSettingsView{}, err
	}
	v := settingsView(r)
	v.Recording = r.Mode != domain.RecordOff && s.cfg.Recordings != nil
	return v, nil
}

// SetCameraRecording replaces a camera's recording settings.
func (s *Service) SetCameraRecording(ctx context.Context, c Caller, camera domain.ID, v RecordingSettingsView) (RecordingSettingsView, error) {
	if !v.Mode.Valid() {
		return RecordingSettingsView{}, invalid("mode is off, continuous or events")
	}
	roll := func(secs float64, what string) (time.Duration, error) {
		d := time.Duration(secs * float64(time.Second))
		if math.IsNaN(secs) || d < 0 || d > domain.MaxRoll {
			return 0, invalid(what + " is 0 to 60 seconds")
		}
		return d, nil
	}
	pre, err := roll(v.PreRollSecs, "pre_roll_seconds")
	if err != nil {
		return RecordingSettingsView{}, err
	}
	post, err := roll(v.PostRollSecs, "post_roll_seconds")
	if err != nil {
		return RecordingSettingsView{}, err
	}
	if v.RetainDays < 0 || v.RetainDays > domain.MaxRetainDays {
		return RecordingSettingsView{}, invalid("retain_days is 0 (no limit) to 3650")
	}
	if math.IsNaN(v.RetainGB) || v.RetainGB < 0 || v.RetainGB > 1<<20 {
		return RecordingSettingsView{}, invalid("retain_gb is 0 (no limit) or a positive size")
	}
	acc, err := s.authorizeCamera(ctx, c, camera, domain.ActionManage, "recording.settings")
	if err != nil {
		return RecordingSettingsView{}, err
	}
	if v.Mode != domain.RecordOff && s.cfg.Recordings == nil {
		return RecordingSettingsView{}, conflict("this server keeps no recordings")
	}
	r := domain.RecordingSettings{CameraID: acc.camera.ID, Mode: v.Mode, PreRoll: pre, PostRoll: post,
		RetainDays: v.RetainDays, RetainBytes: int64(v.RetainGB * gb), UpdatedAt: s.now()}
	if err := s.st.SetRecordingSettings(ctx, r); err != nil {
		return RecordingSettingsView{}, internal("set recording settings", err)
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: acc.camera.HomeID, CameraID: acc.camera.ID, Action: "recording.settings", Result: domain.ResultOK,
		Detail: fmt.Sprintf("mode %s, pre-roll %s, post-roll %s, %d days, %.1f GB", r.Mode, r.PreRoll, r.PostRoll, r.RetainDays, v.RetainGB)})
	if rc := s.recorder(); rc != nil {
		rc.Kick()
	}
	out := settingsView(r)
	out.Recording = r.Mode != domain.RecordOff
	return out, nil
}

// HomeRecordingView is a home's recording settings.
type HomeRecordingView struct {
	RetainDays       int     `json:"retain_days"`
	RetainGB         float64 `json:"retain_gb"`
	ExportWindowDays float64 `json:"export_window_days"`
}

// HomeRecording returns a home's recording settings.
func (s *Service) HomeRecording(ctx context.Context, c Caller, home domain.ID) (HomeRecordingView, error) {
	if _, _, err := s.authorizeHome(ctx, c, home, domain.ActionHomeRecording, ""); err != nil {
		return HomeRecordingView{}, err
	}
	h, err := s.homeRecording(ctx, home)
	if err != nil {
		return HomeRecordingView{}, err
	}
	return HomeRecordingView{RetainDays: h.RetainDays, RetainGB: float64(h.RetainBytes) / gb, ExportWindowDays: h.ExportWindow.Hours() / 24}, nil
}

func (s *Service) homeRecording(ctx context.Context, home domain.ID) (domain.HomeRecording, error) {
	h, err := s.st.HomeRecording(ctx, home)
	if errors.Is(err, store.ErrNotFound) {
		return domain.DefaultHomeRecording(home), nil
	}
	if err != nil {
		return h, internal("load home recording", err)
	}
	return h, nil
}

// SetHomeRecording replaces a home's recording settings.
func (s *Service) SetHomeRecording(ctx context.Context, c Caller, home domain.ID, v HomeRecordingView) (HomeRecordingView, error) {
	window := time.Duration(v.ExportWindowDays * 24 * float64(time.Hour))
	switch {
	case v.RetainDays < 0 || v.RetainDays > domain.MaxRetainDays:
		return v, invalid("retain_days is 0 (no limit) to 3650")
	case math.IsNaN(v.RetainGB) || v.RetainGB < 0 || v.RetainGB > 1<<20:
		return v, invalid("retain_gb is 0 (no limit) or a positive size")
	case math.IsNaN(v.ExportWindowDays) || window < 0 || window > domain.MaxExportWindow:
		return v, invalid("export_window_days is 0 to 90")
	}
	if _, _, err := s.authorizeHome(ctx, c, home, domain.ActionHomeRecording, ""); err != nil {
		return v, err
	}
	h := domain.HomeRecording{HomeID: home, RetainDays: v.RetainDays, RetainBytes: int64(v.RetainGB * gb), ExportWindow: window, UpdatedAt: s.now()}
	if err := s.st.SetHomeRecording(ctx, h); err != nil {
		return v, internal("set home recording", err)
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: home, Action: string(domain.ActionHomeRecording), Result: domain.ResultOK,
		Detail: fmt.Sprintf("%d days, %.1f GB, export window %s", h.RetainDays, v.RetainGB, h.ExportWindow)})
	return v, nil
}
