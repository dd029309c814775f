package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"sort"
	"sync/atomic"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/store"
)

// Export limits.
const (
	// ExportDownloadTTL is how long a download link works.
	ExportDownloadTTL = 10 * time.Minute
	// ExportKeep is how long a finished export is kept.
	ExportKeep = 24 * time.Hour
	// ExportBuildTimeout bounds building an export. An export still
	// running after it was left by a node that stopped; expiry marks it
	// failed.
	ExportBuildTimeout = 30 * time.Minute
	// MaxExportsPerAccount bounds the exports an account has at once.
	MaxExportsPerAccount = 8
	// exportProgressEvery is how often the building node writes an
	// export's progress to its row.
	exportProgressEvery = time.Second
)

// Export states.
const (
	ExportRunning = "running"
	ExportDone    = "done"
	ExportFailed  = "failed"
)

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

func exportView(e store.Export) ExportView {
	v := ExportView{ID: e.ID, Camera: e.Camera.Camera, Since: e.Since, Until: e.Until, Status: e.State,
		Progress: float64(e.Progress) / 1000, Created: e.Created}
	if v.Status == ExportDone {
		v.Size = e.Size
	}
	return v
}

// CreateExport starts building one MP4 of a camera's recordings in
// [since, until), of the newest generation in it that the caller may
// export. The export is audited; only the requester sees and downloads
// it. It is built at this node; its row in the store lets any node
// report and serve it.
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
	now := s.now()
	e := store.Export{ID: domain.NewID(), Account: c.Account.ID, Camera: pick.camera.Ref(), HomeID: pick.camera.HomeID,
		Since: since, Until: until, Created: now, State: ExportRunning, Updated: now}
	if err := s.st.CreateExport(ctx, e, MaxExportsPerAccount); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return ExportView{}, &Error{Kind: KindThrottled, Code: "too_many_exports", Message: "too many exports; delete or wait for some", RetryAfter: time.Minute}
		}
		return ExportView{}, internal("create export", err)
	}
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ExportBuildTimeout)
	s.rec.mu.Lock()
	if s.rec.builds == nil {
		s.rec.builds = map[domain.ID]context.CancelFunc{}
	}
	s.rec.builds[e.ID] = cancel
	s.rec.mu.Unlock()
	s.audit(ctx, c, domain.AuditEvent{HomeID: e.HomeID, CameraID: camera, Action: "export", Result: domain.ResultAllowed,
		Detail: since.UTC().Format(time.RFC3339) + " to " + until.UTC().Format(time.RFC3339)})
	go s.buildExport(bctx, cancel, ar, e, pick.segs, pick.grant)
	return exportView(e), nil
}

// buildExport builds export e and writes its progress, at most every
// exportProgressEvery, and its end to its row. A row gone meanwhile
// (deleted, expired) stops the build, and no bytes of it stay.
func (s *Service) buildExport(ctx context.Context, cancel context.CancelFunc, ar *record.Archive, e store.Export, segs []domain.Segment, g authz.Grant) {
	defer func() {
		cancel()
		s.rec.mu.Lock()
		delete(s.rec.builds, e.ID)
		s.rec.mu.Unlock()
	}()
	wctx := context.WithoutCancel(ctx)
	// The build may outlive WriteExport's return on a failure: it keeps
	// its own copy of the row.
	var progress atomic.Int64
	size, keyID, err := ar.WriteExport(ctx, e.ID, e.Camera, func(w io.Writer) error {
		row := e
		var written time.Time // on this process's clock: it only paces the writes
		return ar.Export(ctx, g, segs, w, func(done, total int) {
			row.Progress = done * 999 / total
			progress.Store(int64(row.Progress))
			if time.Since(written) < exportProgressEvery {
				return
			}
			written, row.Updated = time.Now(), s.now()
			if err := s.st.UpdateExport(wctx, row, ExportRunning); errors.Is(err, store.ErrNotFound) {
				cancel() // removed meanwhile
			}
		})
	})
	if err == nil {
		done := e
		done.State, done.Progress, done.Size, done.KeyID, done.Updated = ExportDone, 1000, size, keyID, s.now()
		if err = s.st.UpdateExport(wctx, done, ExportRunning); err == nil {
			return
		}
	}
	if !errors.Is(err, context.Canceled) && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("export failed", "export", e.ID, "err", err)
	}
	ar.DeleteExport(wctx, e.ID)
	e.State, e.Progress, e.Updated = ExportFailed, int(progress.Load()), s.now()
	s.st.UpdateExport(wctx, e, ExportRunning) // ErrNotFound once the row went
}

// requesterExport finds an export the caller asked for, on that camera,
// after the policy allowed it "export" on the export's camera generation,
// and returns the grant it got. Anyone else's export answers "not found",
// audited.
func (s *Service) requesterExport(ctx context.Context, c Caller, camera, id domain.ID, auditAction string, quiet bool) (store.Export, authz.Grant, error) {
	var e store.Export
	mine := false
	if c.Link == "" && !c.Anonymous() {
		var err error
		e, err = s.st.Export(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return e, authz.Grant{}, internal("get export", err)
		}
		mine = err == nil && e.Account == c.Account.ID && e.Camera.Camera == camera
	}
	var probe []domain.Segment
	if mine {
		probe = []domain.Segment{{ID: e.ID, Camera: e.Camera, HomeID: e.HomeID}}
	}
	groups, err := s.authorizeSegments(ctx, c, camera, domain.ActionExport, probe, auditAction, quiet)
	if err != nil {
		return store.Export{}, authz.Grant{}, err
	}
	if mine {
		for _, g := range groups {
			if g.camera.Generation == e.Camera.Generation && g.camera.HomeID == e.HomeID {
				return e, g.grant, nil
			}
		}
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: groups[0].camera.HomeID, CameraID: camera, Action: auditAction, Result: domain.ResultDenied,
		Detail: "not the caller's export"})
	return store.Export{}, authz.Grant{}, notFound()
}

// Export returns an export's progress and, once done, a short-lived
// download token for the requester.
func (s *Service) Export(ctx context.Context, c Caller, camera, id domain.ID) (ExportView, error) {
	e, _, err := s.requesterExport(ctx, c, camera, id, "export.view", true)
	if err != nil {
		return ExportView{}, err
	}
	v := exportView(e)
	if v.Status == ExportDone {
		v.DownloadToken, v.DownloadExpires = s.exportToken(e, exportWindow(s.now()))
	}
	return v, nil
}

// exportWindow numbers the half-TTL window t falls in. A download token
// is made for a window and works in the next one too, so one handed out
// works for between half the TTL and all of it; asking again renews it.
func exportWindow(t time.Time) int64 { return t.UnixNano() / int64(ExportDownloadTTL/2) }

// exportToken returns the download token of export e for its requester
// in window w, and when it expires. It is derived from the secret key,
// which every node holds, so that any node hands out and checks the same
// token without keeping it.
func (s *Service) exportToken(e store.Export, w int64) (string, time.Time) {
	k := hmac.New(sha256.New, s.cfg.SecretKey)
	k.Write([]byte("camvault export download token v1"))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(string(e.ID) + "\x00" + string(e.Account) + "\x00"))
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(w)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:20]), time.Unix(0, (w+2)*int64(ExportDownloadTTL/2))
}

// Exports lists the caller's exports of a camera: of the camera as it
// is now, and of former generations the policy still lets it export.
func (s *Service) Exports(ctx context.Context, c Caller, camera domain.ID) ([]ExportView, error) {
	var mine []store.Export
	var probe []domain.Segment
	if c.Link == "" && !c.Anonymous() {
		list, err := s.st.Exports(ctx, store.ExportFilter{Account: c.Account.ID, Camera: camera})
		if err != nil {
			return nil, internal("list exports", err)
		}
		mine = list
		for _, e := range mine {
			probe = append(probe, domain.Segment{ID: e.ID, Camera: e.Camera, HomeID: e.HomeID})
		}
	}
	groups, err := s.authorizeSegments(ctx, c, camera, domain.ActionExport, probe, "export.list", true)
	if err != nil {
		return nil, err
	}
	out := []ExportView{}
	for _, e := range mine {
		for _, g := range groups {
			if g.camera.Generation == e.Camera.Generation && g.camera.HomeID == e.HomeID {
				out = append(out, exportView(e))
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
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
	valid := false
	w := exportWindow(s.now())
	for _, w := range []int64{w, w - 1} {
		want, _ := s.exportToken(e, w)
		if subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1 {
			valid = true
		}
	}
	if !valid || e.State != ExportDone {
		s.audit(ctx, c, domain.AuditEvent{HomeID: e.HomeID, CameraID: camera, Action: "export.download", Result: domain.ResultDenied, Detail: "expired or wrong download token"})
		return nil, 0, notFound()
	}
	probe := domain.Segment{ID: e.ID, Camera: e.Camera, HomeID: e.HomeID}
	r, err := ar.OpenExport(ctx, grant, e.ID, e.Camera, e.KeyID, e.Size)
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

// ExpireExports removes exports older than ExportKeep, marks failed
// those still running after ExportBuildTimeout (their node stopped), and
// removes stored exports that have no row (it went while they were
// built). It touches no other export, whichever node made it; one node
// at a time runs it.
func (s *Service) ExpireExports(ctx context.Context) {
	ar, err := s.archive()
	if err != nil {
		return
	}
	now := s.now()
	old, err := s.st.Exports(ctx, store.ExportFilter{CreatedBefore: now.Add(-ExportKeep)})
	if err != nil {
		s.log.Warn("expired exports not listed", "err", err)
		return
	}
	for _, e := range old {
		s.removeExport(ctx, ar, e.ID)
	}
	stuck, err := s.st.Exports(ctx, store.ExportFilter{State: ExportRunning, CreatedBefore: now.Add(-ExportBuildTimeout)})
	if err != nil {
		s.log.Warn("unfinished exports not listed", "err", err)
		return
	}
	for _, e := range stuck {
		e.State, e.Updated = ExportFailed, now
		if err := s.st.UpdateExport(ctx, e, ExportRunning); err == nil {
			ar.DeleteExport(ctx, e.ID)
		}
	}
	// A stored export's row was made before its bytes: without a row,
	// it went.
	ar.DeleteExports(ctx, func(id domain.ID) bool {
		_, err := s.st.Export(ctx, id)
		return !errors.Is(err, store.ErrNotFound)
	})
}

// removeExport stops building export id if this node builds it, and
// removes its row, then its bytes (ar may be nil: then there are none).
func (s *Service) removeExport(ctx context.Context, ar *record.Archive, id domain.ID) {
	s.rec.mu.Lock()
	if cancel := s.rec.builds[id]; cancel != nil {
		cancel()
	}
	s.rec.mu.Unlock()
	if err := s.st.DeleteExport(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("export not removed", "export", id, "err", err)
		return
	}
	if ar != nil {
		if err := ar.DeleteExport(ctx, id); err != nil {
			s.log.Warn("an export's bytes were not removed; expiry retries", "export", id, "err", err)
		}
	}
}
