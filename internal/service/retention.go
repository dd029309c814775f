package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/store"
)

// DeleteRecordings deletes a camera's recordings that overlap [since,
// until) — everything when both are zero — of the generations the caller
// may delete. It returns how many segments went. The segment the
// recorder is writing (or holds as pre-roll) is deleted too: the archive
// is told first, so it never stores it, and so is every other node's,
// through the bus (see ForgetDeleted), as the camera's recorder may run
// there.
func (s *Service) DeleteRecordings(ctx context.Context, c Caller, camera domain.ID, since, until time.Time) (int, error) {
	ar, err := s.archive()
	if err != nil {
		return 0, err
	}
	all := since.IsZero() && until.IsZero()
	if !all {
		if err := checkWindow(since, until); err != nil {
			return 0, err
		}
	}
	groups, err := s.authorizeRecordings(ctx, c, camera, domain.ActionRecordingDelete, since, until, "recordings.delete", true)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, g := range groups {
		from, to := since, until
		if h := g.grant.HistoryFrom(); !all && h.After(from) {
			from = h
		}
		// First bar what is being recorded, then list: a segment indexed
		// meanwhile is in the list, one finished later is refused. The
		// list holds segments still being stored, at any node: deleting
		// their rows makes their uploads give up.
		ar.Forget(g.camera.Ref(), from, to)
		s.announceDeletion(g.camera.Ref(), from, to)
		segs, err := s.st.Segments(ctx, store.SegmentFilter{Camera: camera, Generation: g.camera.Generation, HomeID: g.camera.HomeID, Since: from, Until: to,
			Upload: store.AnyUpload})
		if err != nil {
			return n, internal("list segments", err)
		}
		g.segs = segs[:0]
		for _, sg := range segs {
			if h := g.grant.HistoryFrom(); h.IsZero() || !sg.Start.Before(h) {
				g.segs = append(g.segs, sg)
			}
		}
		for _, sg := range g.segs {
			if err := ar.Delete(ctx, sg); err != nil {
				return n, internal("delete segment", err)
			}
			n++
		}
		if _, err := ar.DeleteThumbnails(ctx, g.camera.Ref(), from, to); err != nil {
			return n, internal("delete thumbnails", err)
		}
		what := "everything"
		if !all {
			what = since.UTC().Format(time.RFC3339) + " to " + until.UTC().Format(time.RFC3339)
		}
		s.audit(ctx, c, domain.AuditEvent{HomeID: g.camera.HomeID, CameraID: camera, Action: "recordings.delete", Result: domain.ResultOK,
			Detail: fmt.Sprintf("%s of generation %d: %s", what, g.camera.Generation, plural(len(g.segs), "segment"))})
	}
	return n, nil
}

// announceDeletion publishes a deletion of recordings so that every
// node's archive forgets them too.
func (s *Service) announceDeletion(camera domain.CameraRef, from, to time.Time) {
	e := events.Event{Kind: events.RecordingsDeleted, Camera: camera.Camera, Generation: camera.Generation, Since: from, Until: to}
	if !e.Valid() {
		return // an empty window, after the history limit: it covers nothing
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.cfg.Bus.Publish(ctx, e); err != nil {
		s.log.Error("deletion of recordings not published; another node may still store a segment it had begun", "camera", camera.Camera, "err", err)
	}
}

// ForgetDeleted applies a deletion of recordings published by any node
// (events.RecordingsDeleted) to this node's archive: a segment its
// recorder had begun before and that the deletion covers is not stored.
// Other events are not its concern. The wiring subscribes it to the bus.
func (s *Service) ForgetDeleted(e events.Event) {
	if e.Kind != events.RecordingsDeleted || s.cfg.Recordings == nil {
		return
	}
	s.cfg.Recordings.Forget(domain.CameraRef{Camera: e.Camera, Generation: e.Generation}, e.Since, e.Until)
}

// scheduleShred arranges for a camera generation's recordings to be
// crypto-shredded once its home's export window has passed.
func (s *Service) scheduleShred(ctx context.Context, cam domain.Camera, immediately bool) {
	if cam.HomeID == "" {
		return
	}
	due := s.now()
	if !immediately {
		h, err := s.homeRecording(ctx, cam.HomeID)
		if err == nil {
			due = due.Add(h.ExportWindow)
		}
	}
	p := domain.Purge{Camera: cam.Ref(), HomeID: cam.HomeID, DueAt: due, CreatedAt: s.now()}
	if err := s.st.SchedulePurge(ctx, p); err != nil {
		s.log.Error("scheduling the shred of a camera's recordings", "camera", cam.ID, "err", err)
	}
	off := domain.DefaultRecordingSettings(cam.ID)
	off.UpdatedAt = s.now()
	if err := s.st.SetRecordingSettings(ctx, off); err != nil {
		s.log.Error("turning recording off", "camera", cam.ID, "err", err)
	}
	if rc := s.recorder(); rc != nil {
		rc.Kick()
	}
}

// ShredDue crypto-shreds the recordings whose export window has passed:
// their data keys are destroyed, then their segments deleted. It returns
// how many camera generations it shredded.
func (s *Service) ShredDue(ctx context.Context) (int, error) {
	ar, err := s.archive()
	if err != nil {
		return 0, nil
	}
	due, err := s.st.DuePurges(ctx, s.now())
	if err != nil {
		return 0, err
	}
	for i, p := range due {
		n, err := ar.Shred(ctx, p.Camera)
		if err != nil {
			return i, err
		}
		if err := s.st.DeletePurge(ctx, p.Camera); err != nil && !errors.Is(err, store.ErrNotFound) {
			return i, err
		}
		s.audit(ctx, Caller{}, domain.AuditEvent{HomeID: p.HomeID, CameraID: p.Camera.Camera, Action: "recordings.shred", Result: domain.ResultOK,
			Detail: fmt.Sprintf("generation %d: data keys destroyed, %s deleted", p.Camera.Generation, plural(n, "segment"))})
	}
	return len(due), nil
}

// RetentionLimits gathers what retention enforces now.
func (s *Service) RetentionLimits(ctx context.Context) (record.Limits, error) {
	lim := record.Limits{Cameras: map[domain.CameraRef]domain.RecordingSettings{}, Homes: map[domain.ID]domain.HomeRecording{}}
	list, err := s.st.RecordingCameras(ctx)
	if err != nil {
		return lim, err
	}
	for _, r := range list {
		cam, err := s.st.Camera(ctx, r.CameraID)
		if err != nil {
			continue
		}
		lim.Cameras[cam.Ref()] = r
	}
	usage, err := s.st.SegmentUsage(ctx)
	if err != nil {
		return lim, err
	}
	for _, u := range usage {
		if _, ok := lim.Homes[u.HomeID]; ok {
			continue
		}
		if h, err := s.st.HomeRecording(ctx, u.HomeID); err == nil {
			lim.Homes[u.HomeID] = h
		}
	}
	return lim, nil
}
