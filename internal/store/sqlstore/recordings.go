package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

const recordingCols = `camera_id, mode, pre_roll_ms, post_roll_ms, retain_days, retain_bytes, updated_at`

func scanRecording(row scanner) (domain.RecordingSettings, error) {
	var r domain.RecordingSettings
	var pre, post int64
	var updated sql.NullInt64
	if err := row.Scan(&r.CameraID, &r.Mode, &pre, &post, &r.RetainDays, &r.RetainBytes, &updated); err != nil {
		return r, err
	}
	r.PreRoll, r.PostRoll = time.Duration(pre)*time.Millisecond, time.Duration(post)*time.Millisecond
	r.UpdatedAt = fromMicros(updated)
	return r, nil
}

// RecordingSettings implements store.Store.
func (s *Store) RecordingSettings(ctx context.Context, camera domain.ID) (domain.RecordingSettings, error) {
	r, err := scanRecording(s.on(ctx).QueryRowContext(ctx, s.q(`SELECT `+recordingCols+` FROM recording_settings WHERE camera_id = ?`), camera))
	return r, s.classify(err)
}

// SetRecordingSettings implements store.Store.
func (s *Store) SetRecordingSettings(ctx context.Context, r domain.RecordingSettings) error {
	_, err := s.exec(ctx, s.on(ctx), `INSERT INTO recording_settings (`+recordingCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (camera_id) DO UPDATE SET mode = excluded.mode, pre_roll_ms = excluded.pre_roll_ms,
		post_roll_ms = excluded.post_roll_ms, retain_days = excluded.retain_days, retain_bytes = excluded.retain_bytes,
		updated_at = excluded.updated_at`,
		r.CameraID, string(r.Mode), r.PreRoll.Milliseconds(), r.PostRoll.Milliseconds(), r.RetainDays, r.RetainBytes, micros(r.UpdatedAt))
	return err
}

// RecordingCameras implements store.Store.
func (s *Store) RecordingCameras(ctx context.Context) ([]domain.RecordingSettings, error) {
	rows, err := s.on(ctx).QueryContext(ctx, s.q(`SELECT `+recordingCols+` FROM recording_settings WHERE mode <> ? ORDER BY camera_id`), string(domain.RecordOff))
	return collect(rows, s.classify(err), scanRecording)
}

const homeRecordingCols = `home_id, retain_days, retain_bytes, export_window_ms, updated_at`

// HomeRecording implements store.Store.
func (s *Store) HomeRecording(ctx context.Context, home domain.ID) (domain.HomeRecording, error) {
	var h domain.HomeRecording
	var window int64
	var updated sql.NullInt64
	err := s.on(ctx).QueryRowContext(ctx, s.q(`SELECT `+homeRecordingCols+` FROM home_recording WHERE home_id = ?`), home).
		Scan(&h.HomeID, &h.RetainDays, &h.RetainBytes, &window, &updated)
	h.ExportWindow, h.UpdatedAt = time.Duration(window)*time.Millisecond, fromMicros(updated)
	return h, s.classify(err)
}

// SetHomeRecording implements store.Store.
func (s *Store) SetHomeRecording(ctx context.Context, h domain.HomeRecording) error {
	_, err := s.exec(ctx, s.on(ctx), `INSERT INTO home_recording (`+homeRecordingCols+`) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (home_id) DO UPDATE SET retain_days = excluded.retain_days, retain_bytes = excluded.retain_bytes,
		export_window_ms = excluded.export_window_ms, updated_at = excluded.updated_at`,
		h.HomeID, h.RetainDays, h.RetainBytes, h.ExportWindow.Milliseconds(), micros(h.UpdatedAt))
	return err
}

const segmentCols = `id, camera_id, generation, home_id, start_us, end_us, size, init_size, key_id, blob_key, created_at, uploading_by`

func scanSegment(row scanner) (domain.Segment, error) {
	var g domain.Segment
	var start, end int64
	var created sql.NullInt64
	var uploading sql.NullString
	if err := row.Scan(&g.ID, &g.Camera.Camera, &g.Camera.Generation, &g.HomeID, &start, &end, &g.Size, &g.InitSize,
		&g.KeyID, &g.BlobKey, &created, &uploading); err != nil {
		return g, err
	}
	g.UploadingBy = uploading.String
	g.Start, g.End = time.UnixMicro(start).UTC(), time.UnixMicro(end).UTC()
	g.CreatedAt = fromMicros(created)
	return g, nil
}

// CreateSegment implements store.Store.
func (s *Store) CreateSegment(ctx context.Context, g domain.Segment) error {
	_, err := s.exec(ctx, s.on(ctx), `INSERT INTO segments (`+segmentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		g.ID, g.Camera.Camera, g.Camera.Generation, g.HomeID, g.Start.UnixMicro(), g.End.UnixMicro(), g.Size, g.InitSize,
		g.KeyID, g.BlobKey, micros(g.CreatedAt), sql.NullString{String: g.UploadingBy, Valid: g.UploadingBy != ""})
	return err
}

// MarkSegmentStored implements store.Store.
func (s *Store) MarkSegmentStored(ctx context.Context, id domain.ID) error {
	return s.execOne(ctx, s.on(ctx), `UPDATE segments SET uploading_by = NULL WHERE id = ?`, id)
}

// Segment implements store.Store.
func (s *Store) Segment(ctx context.Context, id domain.ID) (domain.Segment, error) {
	g, err := scanSegment(s.on(ctx).QueryRowContext(ctx, s.q(`SELECT `+segmentCols+` FROM segments WHERE id = ? AND uploading_by IS NULL`), id))
	return g, s.classify(err)
}

// Segments implements store.Store.
func (s *Store) Segments(ctx context.Context, f store.SegmentFilter) ([]domain.Segment, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) { where = append(where, cond); args = append(args, arg) }
	switch f.Upload {
	case store.StoredOnly:
		where = append(where, `uploading_by IS NULL`)
	case store.UploadingOnly:
		where = append(where, `uploading_by IS NOT NULL`)
	}
	if f.Camera != "" {
		add(`camera_id = ?`, f.Camera)
		if f.Generation != store.AnyGeneration {
			add(`generation = ?`, f.Generation)
		}
	}
	if f.HomeID != "" {
		add(`home_id = ?`, f.HomeID)
	}
	if !f.Since.IsZero() {
		add(`end_us > ?`, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		add(`start_us < ?`, f.Until.UnixMicro())
	}
	if !f.EndBefore.IsZero() {
		add(`end_us <= ?`, f.EndBefore.UnixMicro())
	}
	q := `SELECT ` + segmentCols + ` FROM segments`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY start_us, id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.on(ctx).QueryContext(ctx, s.q(q), args...)
	return collect(rows, s.classify(err), scanSegment)
}

// DeleteSegment implements store.Store.
func (s *Store) DeleteSegment(ctx context.Context, id domain.ID) error {
	return s.execOne(ctx, s.on(ctx), `DELETE FROM segments WHERE id = ?`, id)
}

// SegmentUsage implements store.Store.
func (s *Store) SegmentUsage(ctx context.Context) ([]store.SegmentUsage, error) {
	rows, err := s.on(ctx).QueryContext(ctx, s.q(`SELECT camera_id, generation, home_id, COUNT(*), SUM(size), MIN(start_us)
		FROM segments WHERE uploading_by IS NULL GROUP BY camera_id, generation, home_id ORDER BY camera_id, generation`))
	return collect(rows, s.classify(err), func(row scanner) (store.SegmentUsage, error) {
		var u store.SegmentUsage
		var oldest int64
		err := row.Scan(&u.Camera.Camera, &u.Camera.Generation, &u.HomeID, &u.Count, &u.Bytes, &oldest)
		u.Oldest = time.UnixMicro(oldest).UTC()
		return u, err
	})
}

const purgeCols = `camera_id, generation, home_id, due_at, created_at`

func scanPurge(row scanner) (domain.Purge, error) {
	var p domain.Purge
	var due int64
	var created sql.NullInt64
	err := row.Scan(&p.Camera.Camera, &p.Camera.Generation, &p.HomeID, &due, &created)
	p.DueAt, p.CreatedAt = time.UnixMicro(due).UTC(), fromMicros(created)
	return p, err
}

// SchedulePurge implements store.Store.
func (s *Store) SchedulePurge(ctx context.Context, p domain.Purge) error {
	_, err := s.exec(ctx, s.on(ctx), `INSERT INTO recording_purges (`+purgeCols+`) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (camera_id, generation) DO UPDATE SET due_at = excluded.due_at
		WHERE excluded.due_at < recording_purges.due_at`,
		p.Camera.Camera, p.Camera.Generation, p.HomeID, p.DueAt.UnixMicro(), micros(p.CreatedAt))
	return err
}

// DuePurges implements store.Store.
func (s *Store) DuePurges(ctx context.Context, now time.Time) ([]domain.Purge, error) {
	rows, err := s.on(ctx).QueryContext(ctx, s.q(`SELECT `+purgeCols+` FROM recording_purges WHERE due_at <= ? ORDER BY due_at, camera_id`), now.UnixMicro())
	return collect(rows, s.classify(err), scanPurge)
}

// Purges implements store.Store.
func (s *Store) Purges(ctx context.Context, home domain.ID) ([]domain.Purge, error) {
	rows, err := s.on(ctx).QueryContext(ctx, s.q(`SELECT `+purgeCols+` FROM recording_purges WHERE home_id = ? ORDER BY due_at, camera_id`), home)
	return collect(rows, s.classify(err), scanPurge)
}

// DeletePurge implements store.Store.
func (s *Store) DeletePurge(ctx context.Context, camera domain.CameraRef) error {
	return s.execOne(ctx, s.on(ctx), `DELETE FROM recording_purges WHERE camera_id = ? AND generation = ?`, camera.Camera, camera.Generation)
}
