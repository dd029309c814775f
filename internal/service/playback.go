package service

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/store"
)

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
