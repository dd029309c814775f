package service

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/netguard"
	"github.com/camvault/camvault/internal/store"
)

// PulledCamera describes an IP camera for the server to pull.
type PulledCamera struct {
	Name string
	// Source is the camera's rtsp:// or rtsps:// URL, with its
	// credentials.
	Source string
	// SnapshotURL, optional, is the camera's http(s) URL of a JPEG
	// picture, with credentials if it needs them.
	SnapshotURL string
}

// errPullDisabled answers adding a pulled camera on a server whose
// operator has allowed no network to pull from (the default).
var errPullDisabled = &Error{Kind: KindForbidden, Code: "pull_disabled",
	Message: "this server does not pull IP cameras itself until its administrator allows the cameras' network " +
		"(live.pull_networks in the server's configuration); ask them to, or run the camvault agent beside the camera"}

// AddPulledCamera adds an IP camera that the server pulls over RTSP itself,
// for homes that use camvault as their NVR without an agent. Its URLs must
// name addresses on the networks the server may pull from, which the
// operator must list first, and each account and home may add only so
// many at a time (PullAddBurst, PullAddEvery). Their
// credentials are sealed with the server key before they reach the store
// and are never logged or returned. Pulled cameras cannot sign their video
// and are shown as unsigned.
func (s *Service) AddPulledCamera(ctx context.Context, c Caller, home domain.ID, p PulledCamera) (CameraView, error) {
	if _, _, err := s.authorizeHome(ctx, c, home, domain.ActionCameraCreate, ""); err != nil {
		return CameraView{}, err
	}
	if s.cfg.PullNetworks.Empty() {
		return CameraView{}, errPullDisabled
	}
	if err := s.pullAttempt(c.Account.ID, home); err != nil {
		return CameraView{}, err
	}
	name, err := cleanName(p.Name, "camera name")
	if err != nil {
		return CameraView{}, err
	}
	source, err := s.pullURL(ctx, p.Source, "rtsp", "rtsps")
	if err != nil {
		return CameraView{}, err
	}
	var snapshot *url.URL
	if strings.TrimSpace(p.SnapshotURL) != "" {
		if snapshot, err = s.pullURL(ctx, p.SnapshotURL, "http", "https"); err != nil {
			return CameraView{}, err
		}
	}
	id := domain.NewID()
	cam := domain.Camera{ID: id, HomeID: home, Name: name, Generation: 1, State: domain.CameraStatePulled, CreatedAt: s.now(),
		PullSource: s.box.seal(source.String(), "pull:"+string(id))}
	detail := "pulled from " + source.Hostname()
	if snapshot != nil {
		cam.PullSnapshot = s.box.seal(snapshot.String(), "pull-snapshot:"+string(id))
		detail += ", snapshots from " + snapshot.Hostname()
	}
	if err := s.st.CreateCamera(ctx, cam); err != nil {
		return CameraView{}, internal("create camera", err)
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: home, CameraID: id, Action: "camera.create", Result: domain.ResultOK, Detail: detail})
	return s.Camera(ctx, c, id)
}

// pullURL checks a pulled camera's URL: one of schemes, at most 1 KiB,
// naming a host whose every address the server may pull from. Its
// answers never quote the URL.
func (s *Service) pullURL(ctx context.Context, raw string, schemes ...string) (*url.URL, error) {
	what := "the source must be an rtsp:// or rtsps:// URL of the camera"
	if schemes[0] == "http" {
		what = "the snapshot URL must be an http:// or https:// URL of the camera"
	}
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || !slices.Contains(schemes, u.Scheme) || u.Hostname() == "" || len(raw) > 1024 {
		return nil, invalid(what)
	}
	switch err := s.cfg.PullNetworks.CheckHost(ctx, u.Hostname()); {
	case errors.Is(err, netguard.ErrRefused):
		return nil, invalid("the camera's address is not on a network this server may pull from (live.pull_networks)")
	case err != nil:
		return nil, invalid("the camera's host name does not resolve")
	}
	return u, nil
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

// PullNetworks are the networks the server may connect to for pulled
// cameras.
func (s *Service) PullNetworks() netguard.Policy { return s.cfg.PullNetworks }

// pullSnapshotURL returns a pulled camera's snapshot URL, if it has one.
func (s *Service) pullSnapshotURL(cam domain.Camera) (string, bool) {
	if cam.PullSnapshot == "" {
		return "", false
	}
	u, err := s.box.open(cam.PullSnapshot, "pull-snapshot:"+string(cam.ID))
	if err != nil {
		s.log.Error("pulled camera snapshot URL does not open", "camera", cam.ID)
		return "", false
	}
	return u, true
}
