package service

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/media"
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
	mu      sync.Mutex
	control RecordingControl
	exports map[domain.ID]*export
}

func (s *Service) archive() (*record.Archive, error) {
	if s.cfg.Recordings == nil {
		return nil, &Error{Kind: KindNotFound, Code: "no_recordings", Message: "this server keeps no recordings"}
	}
	return s.cfg.Recordings, nil
}

// RecordingCameras implements record.Source.
func (s *Service) RecordingCameras(ctx context.Context) ([]domain.RecordingSettings, error) {
	return s.st.RecordingCameras(ctx)
}

// OpenRecording implements record.Source: the policy decides whether the
// server records the camera as it is now, and the reader carries the
// recorder's grant for its current generation only.
func (s *Service) OpenRecording(ctx context.Context, camera domain.ID) (*media.Reader, domain.Camera, domain.RecordingSettings, error) {
	if s.cfg.Media == nil {
		return nil, domain.Camera{}, domain.RecordingSettings{}, record.ErrNotRecording
	}
	cam, err := s.st.Camera(ctx, camera)
	if errors.Is(err, store.ErrNotFound) {
		return nil, cam, domain.RecordingSettings{}, record.ErrNotRecording
	}
	if err != nil {
		return nil, cam, domain.RecordingSettings{}, err
	}
	set, err := s.st.RecordingSettings(ctx, camera)
	if errors.Is(err, store.ErrNotFound) {
		return nil, cam, set, record.ErrNotRecording
	}
	if err != nil {
		return nil, cam, set, err
	}
	g, d := authz.AuthorizeRecording(cam, set, s.now())
	if !d.Allowed {
		return nil, cam, set, record.ErrNotRecording
	}
	r, err := s.cfg.Media.AddReader(g, media.Renewable)
	if err != nil {
		return nil, cam, set, err
	}
	return r, cam, set, nil
}

// RenewRecording implements record.Source: the policy decides again on
// the camera as it is now, and the reader gets the new grant only if it
// is for the same generation.
func (s *Service) RenewRecording(ctx context.Context, r *media.Reader) error {
	ref := r.Grant().Camera()
	cam, err := s.st.Camera(ctx, ref.Camera)
	if errors.Is(err, store.ErrNotFound) {
		return record.ErrNotRecording
	}
	if err != nil {
		return err
	}
	set, err := s.st.RecordingSettings(ctx, ref.Camera)
	if errors.Is(err, store.ErrNotFound) {
		return record.ErrNotRecording
	}
	if err != nil {
		return err
	}
	g, d := authz.AuthorizeRecording(cam, set, s.now())
	if !d.Allowed || cam.Generation != ref.Generation {
		return record.ErrNotRecording
	}
	return r.Renew(g)
}

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

// RecordingSpan is a stretch of continuous recording.
type RecordingSpan struct {
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Generation int64     `json:"generation"`
	Segments   int       `json:"segments"`
	Bytes      int64     `json:"bytes"`
}

// RecordingGap is a stretch without recording between spans.
type RecordingGap struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// RecordingList is what was recorded of a camera in a window.
type RecordingList struct {
	Since time.Time       `json:"since"`
	Until time.Time       `json:"until"`
	Spans []RecordingSpan `json:"spans"`
	Gaps  []RecordingGap  `json:"gaps"`
}

// spanSlack joins segments into one span across small holes (a segment
// boundary's rounding, a reconnect).
const spanSlack = 1500 * time.Millisecond

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

// Recordings lists what was recorded of a camera in [since, until): spans
// and the gaps between them, for the generations the caller may play.
func (s *Service) Recordings(ctx context.Context, c Caller, camera domain.ID, since, until time.Time) (RecordingList, error) {
	if err := checkWindow(since, until); err != nil {
		return RecordingList{}, err
	}
	groups, err := s.authorizeRecordings(ctx, c, camera, domain.ActionPlayback, since, until, "recordings.list", false)
	if err != nil {
		return RecordingList{}, err
	}
	var segs []domain.Segment
	for _, g := range groups {
		segs = append(segs, g.segs...)
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].Start.Before(segs[j].Start) })
	out := RecordingList{Since: since, Until: until, Spans: []RecordingSpan{}, Gaps: []RecordingGap{}}
	for _, g := range segs {
		n := len(out.Spans)
		if n > 0 && out.Spans[n-1].Generation == g.Camera.Generation && !g.Start.After(out.Spans[n-1].End.Add(spanSlack)) {
			sp := &out.Spans[n-1]
			if g.End.After(sp.End) {
				sp.End = g.End
			}
			sp.Segments++
			sp.Bytes += g.Size
			continue
		}
		out.Spans = append(out.Spans, RecordingSpan{Start: g.Start, End: g.End, Generation: g.Camera.Generation, Segments: 1, Bytes: g.Size})
	}
	cursor := since
	for _, sp := range out.Spans {
		if sp.Start.After(cursor) {
			out.Gaps = append(out.Gaps, RecordingGap{Start: cursor, End: sp.Start})
		}
		if sp.End.After(cursor) {
			cursor = sp.End
		}
	}
	if until.After(cursor) {
		out.Gaps = append(out.Gaps, RecordingGap{Start: cursor, End: until})
	}
	return out, nil
}

// PlaybackSegments returns the segments the caller may play in [since,
// until), oldest first, for a playlist. The playback is audited.
func (s *Service) PlaybackSegments(ctx context.Context, c Caller, camera domain.ID, since, until time.Time) ([]domain.Segment, error) {
	if err := checkWindow(since, until); err != nil {
		return nil, err
	}
	groups, err := s.authorizeRecordings(ctx, c, camera, domain.ActionPlayback, since, until, "playback", false)
	if err != nil {
		return nil, err
	}
	var segs []domain.Segment
	for _, g := range groups {
		segs = append(segs, g.segs...)
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].Start.Before(segs[j].Start) })
	return segs, nil
}

// SegmentPart names what of a segment to read.
type SegmentPart int

// Segment parts.
const (
	SegmentWhole SegmentPart = iota
	SegmentInit
	SegmentMedia
)

// SegmentData reads a segment for playback. The policy decides again on
// every read (a revoked member stops at the next segment); only denials
// are audited, since the playlist request was.
func (s *Service) SegmentData(ctx context.Context, c Caller, camera, segment domain.ID, part SegmentPart) ([]byte, error) {
	ar, err := s.archive()
	if err != nil {
		return nil, err
	}
	if !domain.ValidID(string(segment)) {
		return nil, notFound()
	}
	seg, err := s.st.Segment(ctx, segment)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, internal("load segment", err)
	}
	if err != nil || seg.Camera.Camera != camera {
		seg = domain.Segment{ID: segment} // authorize as nothing: 404, audited
	}
	groups, err := s.authorizeSegments(ctx, c, camera, domain.ActionPlayback, []domain.Segment{seg}, "playback", true)
	if err != nil {
		return nil, err
	}
	var grant authz.Grant
	found := false
	for _, g := range groups {
		for _, sg := range g.segs {
			if sg.ID == seg.ID && seg.Camera.Camera == camera {
				found, grant = true, g.grant
			}
		}
	}
	if !found {
		s.audit(ctx, c, domain.AuditEvent{HomeID: seg.HomeID, CameraID: camera, Action: "playback", Result: domain.ResultDenied, Detail: "segment outside the caller's access"})
		return nil, notFound()
	}
	r, err := ar.Open(ctx, grant, seg)
	if err != nil {
		return nil, s.segmentError(ctx, seg, err)
	}
	defer r.Close()
	off, n := int64(0), r.Size()
	switch part {
	case SegmentInit:
		n = seg.InitSize
	case SegmentMedia:
		off, n = seg.InitSize, r.Size()-seg.InitSize
	}
	b, err := r.Bytes(off, n)
	if err != nil {
		return nil, s.segmentError(ctx, seg, err)
	}
	return b, nil
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

// DeleteRecordings deletes a camera's recordings that overlap [since,
// until) — everything when both are zero — of the generations the caller
// may delete. It returns how many segments went. The segment the
// recorder is writing (or holds as pre-roll) is deleted too: the archive
// is told first, so it never stores it.
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
		// meanwhile is in the list, one finished later is refused.
		ar.Forget(g.camera.Ref(), from, to)
		segs, err := s.st.Segments(ctx, store.SegmentFilter{Camera: camera, Generation: g.camera.Generation, HomeID: g.camera.HomeID, Since: from, Until: to})
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

// ThumbnailView is a timeline still the caller may see.
type ThumbnailView struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// Thumbnails lists the timeline stills of [since, until) of the
// generations the caller may play back.
func (s *Service) Thumbnails(ctx context.Context, c Caller, camera domain.ID, since, until time.Time) ([]ThumbnailView, error) {
	ar, err := s.archive()
	if err != nil {
		return nil, err
	}
	if err := checkWindow(since, until); err != nil {
		return nil, err
	}
	groups, err := s.authorizeRecordings(ctx, c, camera, domain.ActionPlayback, since, until, "recordings.thumbnails", false)
	if err != nil {
		return nil, err
	}
	out := []ThumbnailView{}
	for _, g := range groups {
		from := since
		if h := g.grant.HistoryFrom(); h.After(from) {
			from = h
		}
		list, err := ar.Thumbnails(ctx, g.grant, g.camera.Ref(), from, until)
		if err != nil {
			return nil, internal("list thumbnails", err)
		}
		for _, t := range list {
			out = append(out, ThumbnailView{ID: t.ID(), At: t.At})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// Thumbnail returns one timeline still, deciding "playback" on its
// camera generation again.
func (s *Service) Thumbnail(ctx context.Context, c Caller, camera domain.ID, id string) ([]byte, error) {
	ar, err := s.archive()
	if err != nil {
		return nil, err
	}
	t, ok := record.ParseThumbnailID(camera, id)
	probe := domain.Segment{ID: domain.ID(id), Camera: t.Camera, Start: t.At, End: t.At}
	if ok {
		// The still belongs to the home the camera was in then: the home
		// of that generation's recordings.
		segs, err := s.st.Segments(ctx, store.SegmentFilter{Camera: camera, Generation: t.Camera.Generation, Limit: 1})
		if err != nil {
			return nil, internal("load segments", err)
		}
		if cam, err := s.st.Camera(ctx, camera); err == nil && cam.Generation == t.Camera.Generation {
			probe.HomeID = cam.HomeID
		} else if len(segs) > 0 {
			probe.HomeID = segs[0].HomeID
		}
	}
	groups, err := s.authorizeSegments(ctx, c, camera, domain.ActionPlayback, []domain.Segment{probe}, "playback", true)
	if err != nil {
		return nil, err
	}
	var grant authz.Grant
	allowed := false
	for _, g := range groups {
		for _, sg := range g.segs {
			if ok && probe.HomeID != "" && sg.ID == probe.ID {
				allowed, grant = true, g.grant
			}
		}
	}
	if !allowed {
		s.audit(ctx, c, domain.AuditEvent{HomeID: groups[0].camera.HomeID, CameraID: camera, Action: "playback", Result: domain.ResultDenied, Detail: "thumbnail outside the caller's access"})
		return nil, notFound()
	}
	b, err := ar.ReadThumbnail(ctx, grant, t)
	if err != nil {
		return nil, s.segmentError(ctx, probe, err)
	}
	return b, nil
}
