package sqlstore

import (
	"context"
	"database/sql"
	"strings"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

const exportCols = `id, account_id, camera_id, generation, home_id, since_us, until_us, created_at, state, progress, size, key_id, updated_at`

func scanExport(row scanner) (store.Export, error) {
	var e store.Export
	var since, until, created, updated sql.NullInt64
	err := row.Scan(&e.ID, &e.Account, &e.Camera.Camera, &e.Camera.Generation, &e.HomeID, &since, &until, &created,
		&e.State, &e.Progress, &e.Size, &e.KeyID, &updated)
	e.Since, e.Until, e.Created, e.Updated = fromMicros(since), fromMicros(until), fromMicros(created), fromMicros(updated)
	return e, err
}

// CreateExport implements store.Store. The count and the insert share a
// transaction, so racing creators cannot pass max together.
func (s *Store) CreateExport(ctx context.Context, e store.Export, max int) error {
	return s.tx(ctx, func(tx querier) error {
		if max > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM exports WHERE account_id = ?`), e.Account).Scan(&n); err != nil {
				return s.classify(err)
			}
			if n >= max {
				return store.ErrConflict
			}
		}
		_, err := s.exec(ctx, tx, `INSERT INTO exports (`+exportCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.Account, e.Camera.Camera, e.Camera.Generation, e.HomeID, micros(e.Since), micros(e.Until), micros(e.Created),
			e.State, e.Progress, e.Size, e.KeyID, micros(e.Updated))
		return err
	})
}

// Export implements store.Store.
func (s *Store) Export(ctx context.Context, id domain.ID) (store.Export, error) {
	e, err := scanExport(s.on(ctx).QueryRowContext(ctx, s.q(`SELECT `+exportCols+` FROM exports WHERE id = ?`), id))
	return e, s.classify(err)
}

// Exports implements store.Store.
func (s *Store) Exports(ctx context.Context, f store.ExportFilter) ([]store.Export, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.Account != "" {
		add("account_id = ?", f.Account)
	}
	if f.Camera != "" {
		add("camera_id = ?", f.Camera)
	}
	if f.HomeID != "" {
		add("home_id = ?", f.HomeID)
	}
	if f.State != "" {
		add("state = ?", f.State)
	}
	if !f.CreatedBefore.IsZero() {
		add("created_at < ?", micros(f.CreatedBefore))
	}
	q := `SELECT ` + exportCols + ` FROM exports`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := s.on(ctx).QueryContext(ctx, s.q(q+` ORDER BY created_at DESC, id`), args...)
	return collect(rows, s.classify(err), scanExport)
}

// UpdateExport implements store.Store.
func (s *Store) UpdateExport(ctx context.Context, e store.Export, from string) error {
	return s.execOne(ctx, s.on(ctx), `UPDATE exports SET state = ?, progress = ?, size = ?, key_id = ?, updated_at = ? WHERE id = ? AND state = ?`,
		e.State, e.Progress, e.Size, e.KeyID, micros(e.Updated), e.ID, from)
}

// DeleteExport implements store.Store.
func (s *Store) DeleteExport(ctx context.Context, id domain.ID) error {
	return s.execOne(ctx, s.on(ctx), `DELETE FROM exports WHERE id = ?`, id)
}
