package service

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"io"
	"sort"
	"sync/atomic"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/record"
)

// Export limits.
const (
	// ExportDownloadTTL is how long a download link works.
	ExportDownloadTTL = 10 * time.Minute
	// ExportKeep is how long a finished export is kept.
	ExportKeep = 24 * time.Hour
	// MaxExportsPerAccount bounds the exports an account has at once.
	MaxExportsPerAccount = 8
)

// Export states.
const (
	ExportRunning = "running"
	ExportDone    = "done"
	ExportFailed  = "failed"
)

// export is one requested export, kept in memory; its file is sealed in
// blob storage.
type export struct {
	id       domain.ID
	account  domain.ID
	camera   domain.CameraRef
	home     domain.ID
	since    time.Time
	until    time.Time
	created  time.Time
	progress atomic.Int64 // per mille
	state    atomic.Value // string
	size     atomic.Int64
	keyID    atomic.Value // domain.ID
	cancel   context.CancelFunc
	token    string
	tokenExp time.Time
}

// ExportView is an export as its requester sees it.
type ExportView struct {
	ID       domain.ID `json:"id"`
	Camera   domain.ID `json:"camera"`
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
	Status   string    `json:"status"`
	Progress float64   `json:"progress"`
	Size     int64     `json:"size,omitempty"`
	// DownloadToken, once done, goes in the download URL; it works for
	// the requester only, until DownloadExpires.
	DownloadToken   string    `json:"-"`
	DownloadExpires time.Time `json:"download_expires,omitzero"`
	Created         time.Time `json:"created"`
}

func (e *export) view() ExportView {
	v := ExportView{ID: e.id, Camera: e.camera.Camera, Since: e.since, Until: e.until, Status: e.state.Load().(string),
		Progress: float64(e.progress.Load()) / 1000, Created: e.created}
	if v.Status == ExportDone {
		v.Size = e.size.Load()
	}
	return v
}

// CreateExport starts building one MP4 of a camera's recordings in
// [since, until), of the newest generation in it that the caller may
// export. The export is audited; only the requester sees and downloads
// it.
func (s *Service) CreateExport(ctx context.Context, c Caller, camera domain.ID, since, until time.Time) (ExportView, error) {
	ar, err := s.archive()
	if err != nil {
		return ExportView{}, err
	}
	if err := checkWindow(since, until); err != nil {
		return ExportView{}, err
	}
	if until.Sub(since) > record.MaxExport {
		return ExportView{}, invalid("an export is at most 2 hours")
	}
	if c.Link != "" {
		return ExportView{}, notFound() // integrations stream; they do not export
	}
	groups, err := s.authorizeRecordings(ctx, c, camera, domain.ActionExport, since, until, "export", true)
	if err != nil {
		return ExportView{}, err
	}
	var pick *recordingGroup
	for i := range groups {
		g := &groups[i]
		if len(g.segs) > 0 && (pick == nil || g.camera.Generation > pick.camera.Generation) {
			pick = g
		}
	}
	if pick == nil {
		return ExportView{}, invalid("nothing was recorded in that window")
	}
	s.rec.mu.Lock()
	if s.rec.exports == nil {
		s.rec.exports = map[domain.ID]*export{}
	}
	n := 0
	for _, e := range s.rec.exports {
		if e.account == c.Account.ID {
			n++
		}
	}
	if n >= MaxExportsPerAccount {
		s.rec.mu.Unlock()
		return ExportView{}, &Error{Kind: KindThrottled, Code: "too_many_exports", Message: "too many exports; delete or wait for some", RetryAfter: time.Minute}
	}
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e := &export{id: domain.NewID(), account: c.Account.ID, camera: pick.camera.Ref(), home: pick.camera.HomeID,
		since: since, until: until, created: s.now(), cancel: cancel}
	e.state.Store(ExportRunning)
	s.rec.exports[e.id] = e
	s.rec.mu.Unlock()
	s.audit(ctx, c, domain.AuditEvent{HomeID: e.home, CameraID: camera, Action: "export", Result: domain.ResultAllowed,
		Detail: since.UTC().Format(time.RFC3339) + " to " + until.UTC().Format(time.RFC3339)})
	segs, grant := pick.segs, pick.grant
	go func() {
		defer cancel()
		size, keyID, err := ar.WriteExport(bctx, e.id, e.camera, func(w io.Writer) error {
			return ar.Export(bctx, grant, segs, w, func(done, total int) {
				e.progress.Store(int64(done) * 999 / int64(total))
			})
		})
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				s.log.Warn("export failed", "export", e.id, "err", err)
			}
			ar.DeleteExport(context.WithoutCancel(bctx), e.id)
			e.state.Store(ExportFailed)
			return
		}
		e.size.Store(size)
		e.keyID.Store(keyID)
		e.progress.Store(1000)
		e.state.Store(ExportDone)
	}()
	return e.view(), nil
}

// requesterExport finds an export the caller asked for, on that camera,
// after the policy allowed it "export" on the export's camera generation,
// and returns the grant it got. Anyone else's export answers "not found",
// audited.
func (s *Service) requesterExport(ctx context.Context, c Caller, camera, id domain.ID, auditAction string, quiet bool) (*export, authz.Grant, error) {
	s.rec.mu.Lock()
	e := s.rec.exports[id]
	s.rec.mu.Unlock()
	mine := e != nil && e.account == c.Account.ID && !c.Anonymous() && e.camera.Camera == camera && c.Link == ""
	var probe []domain.Segment
	if mine {
		probe = []domain.Segment{{ID: e.id, Camera: e.camera, HomeID: e.home}}
	}
	groups, err := s.authorizeSegments(ctx, c, camera, domain.ActionExport, probe, auditAction, quiet)
	if err != nil {
		return nil, authz.Grant{}, err
	}
	if mine {
		for _, g := range groups {
			if g.camera.Generation == e.camera.Generation && g.camera.HomeID == e.home {
				return e, g.grant, nil
			}
		}
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: groups[0].camera.HomeID, CameraID: camera, Action: auditAction, Result: domain.ResultDenied,
		Detail: "not the caller's export"})
	return nil, authz.Grant{}, notFound()
}

// Export returns an export's progress and, once done, a short-lived
// download token for the requester.
func (s *Service) Export(ctx context.Context, c Caller, camera, id domain.ID) (ExportView, error) {
	e, _, err := s.requesterExport(ctx, c, camera, id, "export.view", true)
	if err != nil {
		return ExportView{}, err
	}
	v := e.view()
	if v.Status == ExportDone {
		s.rec.mu.Lock()
		if e.token == "" || s.now().After(e.tokenExp.Add(-ExportDownloadTTL/2)) {
			e.token, e.tokenExp = rand.Text(), s.now().Add(ExportDownloadTTL)
		}
		v.DownloadToken, v.DownloadExpires = e.token, e.tokenExp
		s.rec.mu.Unlock()
	}
	return v, nil
}

// Exports lists the caller's exports of a camera: of the camera as it
// is now, and of former generations the policy still lets it export.
func (s *Service) Exports(ctx context.Context, c Caller, camera domain.ID) ([]ExportView, error) {
	s.rec.mu.Lock()
	var mine []*export
	var probe []domain.Segment
	for _, e := range s.rec.exports {
		if e.account == c.Account.ID && e.camera.Camera == camera && c.Link == "" && !c.Anonymous() {
			mine = append(mine, e)
			probe = append(probe, domain.Segment{ID: e.id, Camera: e.camera, HomeID: e.home})
		}
	}
	s.rec.mu.Unlock()
	groups, err := s.authorizeSegments(ctx, c, camera, domain.ActionExport, probe, "export.list", true)
	if err != nil {
		return nil, err
	}
	out := []ExportView{}
	for _, e := range mine {
		for _, g := range groups {
			if g.camera.Generation == e.camera.Generation && g.camera.HomeID == e.home {
				out = append(out, e.view())
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// DownloadExport opens a finished export for its requester with a valid
// download token; the policy decides "export" again and the download is
// audited.
func (s *Service) DownloadExport(ctx context.Context, c Caller, camera, id domain.ID, token string) (io.ReadSeeker, int64, error) {
	ar, err := s.archive()
	if err != nil {
		return nil, 0, err
	}
	e, grant, err := s.requesterExport(ctx, c, camera, id, "export.download", false)
	if err != nil {
		return nil, 0, err
	}
	s.rec.mu.Lock()
	valid := e.token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(e.token)) == 1 && s.now().Before(e.tokenExp)
	s.rec.mu.Unlock()
	if !valid || e.state.Load().(string) != ExportDone {
		s.audit(ctx, c, domain.AuditEvent{HomeID: e.home, CameraID: camera, Action: "export.download", Result: domain.ResultDenied, Detail: "expired or wrong download token"})
		return nil, 0, notFound()
	}
	probe := domain.Segment{ID: e.id, Camera: e.camera, HomeID: e.home}
	keyID, _ := e.keyID.Load().(domain.ID)
	r, err := ar.OpenExport(ctx, grant, e.id, e.camera, keyID, e.size.Load())
	if err != nil {
		return nil, 0, s.segmentError(ctx, probe, err)
	}
	return &exportReader{r: r}, r.Size(), nil
}

// exportReader reads an open export from start to end and closes it at
// EOF.
type exportReader struct {
	r   *record.Reader
	off int64
}

func (x *exportReader) Read(p []byte) (int, error) {
	if x.off >= x.r.Size() {
		x.r.Close()
		return 0, io.EOF
	}
	n, err := x.r.ReadAt(p[:min(int64(len(p)), x.r.Size()-x.off)], x.off)
	x.off += int64(n)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

func (x *exportReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += x.off
	case io.SeekEnd:
		off += x.r.Size()
	}
	if off < 0 {
		return 0, errors.New("export: negative offset")
	}
	x.off = off
	return off, nil
}

// Close releases the export.
func (x *exportReader) Close() error { return x.r.Close() }

// ExpireExports drops exports older than ExportKeep and stored exports
// nobody knows of (after a restart).
func (s *Service) ExpireExports(ctx context.Context) {
	ar, err := s.archive()
	if err != nil {
		return
	}
	s.rec.mu.Lock()
	keep := map[domain.ID]bool{}
	for id, e := range s.rec.exports {
		if s.now().Sub(e.created) > ExportKeep {
			e.cancel()
			delete(s.rec.exports, id)
			continue
		}
		keep[id] = true
	}
	s.rec.mu.Unlock()
	ar.DeleteExports(ctx, func(id domain.ID) bool { return keep[id] })
}
