package service

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/store"
)

// archive is the recording archive the service reads and deletes
// through; adapters never reach it.
func (s *Service) archive() (*record.Archive, error) {
	if s.cfg.Recordings == nil {
		return nil, &Error{Kind: KindNotFound, Code: "no_recordings", Message: "this server keeps no recordings"}
	}
	return s.cfg.Recordings, nil
}

// recordingGroup is the caller's access to one camera generation's
// recordings.
type recordingGroup struct {
	camera domain.Camera // as it is now, or as it was in that home
	former bool          // a generation the camera has left
	grant  authz.Grant
	segs   []domain.Segment
}

// authorizeRecordings decides action on each camera generation that has
// recordings in [since, until), and on the camera as it is now. A
// generation's recordings belong to the home the camera was in then: its
// owners may reach them until they are shredded (the export window),
// the camera's new owners never, nor anyone else of the old home (a
// guest's scope, a member's role, a link died with the generation). The
// caller gets the segments of the
// generations it may reach, without those before its history start; with
// none it gets "not found", audited. Allowed access is audited once per
// home as auditAction unless quiet.
func (s *Service) authorizeRecordings(ctx context.Context, c Caller, camera domain.ID, a domain.Action, since, until time.Time, auditAction string, quiet bool) ([]recordingGroup, error) {
	if !domain.ValidID(string(camera)) {
		return nil, notFound()
	}
	segs, err := s.st.Segments(ctx, store.SegmentFilter{Camera: camera, Generation: store.AnyGeneration, Since: since, Until: until})
	if err != nil {
		return nil, internal("list segments", err)
	}
	return s.authorizeSegments(ctx, c, camera, a, segs, auditAction, quiet)
}

func (s *Service) authorizeSegments(ctx context.Context, c Caller, camera domain.ID, a domain.Action, segs []domain.Segment, auditAction string, quiet bool) ([]recordingGroup, error) {
	type key struct {
		gen  int64
		home domain.ID
	}
	groups := map[key]*recordingGroup{}
	var order []key
	now, err := s.st.Camera(ctx, camera)
	switch {
	case err == nil && now.HomeID != "":
		k := key{now.Generation, now.HomeID}
		groups[k] = &recordingGroup{camera: now}
		order = append(order, k)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, internal("load camera", err)
	}
	for _, g := range segs {
		k := key{g.Camera.Generation, g.HomeID}
		if groups[k] == nil {
			groups[k] = &recordingGroup{camera: domain.Camera{ID: camera, HomeID: g.HomeID, Generation: g.Camera.Generation, State: domain.CameraStateClaimed}, former: true}
			order = append(order, k)
		}
		groups[k].segs = append(groups[k].segs, g)
	}
	via, through, err := s.via(ctx, c)
	if err != nil {
		return nil, err
	}
	var out []recordingGroup
	var firstDenial *authz.Decision
	var deniedHome domain.ID
	audited := map[domain.ID]bool{}
	members := map[domain.ID]*domain.Membership{}
	for _, k := range order {
		g := groups[k]
		m, ok := members[k.home]
		if !ok {
			if m, err = s.membership(ctx, c, k.home); err != nil {
				return nil, err
			}
			members[k.home] = m
		}
		gr, d := authz.Authorize(c.principal(), a, authz.Resource{Home: k.home, Camera: &g.camera, Former: g.former}, authz.Facts{Now: s.now(), Membership: m, Via: via})
		if !d.Allowed {
			if firstDenial == nil {
				firstDenial, deniedHome = &d, k.home
			}
			continue
		}
		g.grant = gr
		if from := gr.HistoryFrom(); !from.IsZero() {
			kept := g.segs[:0]
			for _, sg := range g.segs {
				if !sg.Start.Before(from) {
					kept = append(kept, sg)
				}
			}
			g.segs = kept
		}
		out = append(out, *g)
		if !quiet && !audited[k.home] {
			audited[k.home] = true
			s.audit(ctx, c, domain.AuditEvent{HomeID: k.home, CameraID: camera, Action: auditAction, Result: domain.ResultAllowed, Detail: through})
		}
	}
	if len(out) == 0 {
		d := authz.Decision{Reason: authz.ReasonNotMember}
		if firstDenial != nil {
			d = *firstDenial
		}
		s.audit(ctx, c, domain.AuditEvent{HomeID: deniedHome, CameraID: camera, Action: auditAction, Result: domain.ResultDenied,
			Detail: strings.TrimSpace(string(d.Reason) + " " + through)})
		return nil, denial(c, d)
	}
	return out, nil
}

// MaxRecordingWindow bounds one listing or playlist.
const MaxRecordingWindow = 7 * 24 * time.Hour

func checkWindow(since, until time.Time) error {
	switch {
	case since.IsZero() || until.IsZero():
		return invalid("since and until are required (RFC 3339 times)")
	case !until.After(since):
		return invalid("until must be after since")
	case until.Sub(since) > MaxRecordingWindow:
		return invalid("the window is at most 7 days")
	}
	return nil
}

func (s *Service) segmentError(ctx context.Context, seg domain.Segment, err error) error {
	switch {
	case errors.Is(err, record.ErrNotAllowed):
		// The policy allowed the read a moment ago; the grant ran out
		// in between.
		return notFound()
	case errors.Is(err, record.ErrGone):
		return &Error{Kind: KindNotFound, Code: "gone", Message: "this recording was deleted"}
	case errors.Is(err, record.ErrCorrupt):
		s.audit(ctx, Caller{}, domain.AuditEvent{HomeID: seg.HomeID, CameraID: seg.Camera.Camera, Action: "recording.tampered", Result: domain.ResultDenied,
			Detail: "segment " + string(seg.ID) + " failed authentication"})
		return &Error{Kind: KindConflict, Code: "tampered", Message: "this recording failed its integrity check", Err: err}
	}
	return internal("read segment", err)
}
