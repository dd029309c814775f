package service

import (
	"context"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

// FormerCameraView is a camera generation that left a home (removed,
// transferred, factory reset) whose recordings the home keeps for its
// owners until the export window ends.
type FormerCameraView struct {
	CameraID   domain.ID `json:"camera_id"`
	Generation int64     `json:"generation"`
	// Left is when the camera left the home; Oldest is the start of the
	// oldest kept recording.
	Left   time.Time `json:"left"`
	Oldest time.Time `json:"oldest"`
	// KeptUntil is when the recordings are crypto-shredded.
	KeptUntil time.Time `json:"kept_until"`
	Segments  int       `json:"segments"`
	Bytes     int64     `json:"bytes"`
}

// FormerCameras lists a home's former cameras that still have kept
// recordings, soonest shredded first. Only the home's owners may list
// them (and reach their recordings).
func (s *Service) FormerCameras(ctx context.Context, c Caller, home domain.ID) ([]FormerCameraView, error) {
	if _, _, err := s.authorizeHome(ctx, c, home, domain.ActionHomeRecording, ""); err != nil {
		return nil, err
	}
	out := []FormerCameraView{}
	if s.cfg.Recordings == nil {
		return out, nil
	}
	purges, err := s.st.Purges(ctx, home)
	if err != nil {
		return nil, internal("list purges", err)
	}
	if len(purges) == 0 {
		return out, nil
	}
	usage, err := s.st.SegmentUsage(ctx)
	if err != nil {
		return nil, internal("segment usage", err)
	}
	for _, p := range purges {
		if !p.DueAt.After(s.now()) {
			continue // being shredded
		}
		v := FormerCameraView{CameraID: p.Camera.Camera, Generation: p.Camera.Generation, Left: p.CreatedAt, KeptUntil: p.DueAt}
		for _, u := range usage {
			if u.Camera == p.Camera && u.HomeID == home {
				v.Segments, v.Bytes, v.Oldest = u.Count, u.Bytes, u.Oldest
			}
		}
		if v.Segments > 0 {
			out = append(out, v)
		}
	}
	return out, nil
}

// FormerCamera returns one of a home's former cameras, for its owners.
func (s *Service) FormerCamera(ctx context.Context, c Caller, home, camera domain.ID, generation int64) (FormerCameraView, error) {
	list, err := s.FormerCameras(ctx, c, home)
	if err != nil {
		return FormerCameraView{}, err
	}
	for _, v := range list {
		if v.CameraID == camera && v.Generation == generation {
			return v, nil
		}
	}
	return FormerCameraView{}, notFound()
}
