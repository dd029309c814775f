package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

const dataKeyCols = `id, camera_id, generation, wrapped, created_at, destroyed_at`

func scanDataKey(row scanner) (domain.DataKey, error) {
	var k domain.DataKey
	var created, destroyed sql.NullInt64
	if err := row.Scan(&k.ID, &k.CameraID, &k.Generation, &k.Wrapped, &created, &destroyed); err != nil {
		return k, err
	}
	k.CreatedAt, k.DestroyedAt = fromMicros(created), fromMicros(destroyed)
	return k, nil
}

// CreateDataKey implements store.Store.
func (s *Store) CreateDataKey(ctx context.Context, k domain.DataKey) error {
	_, err := s.exec(ctx, s.pool, `INSERT INTO data_keys (`+dataKeyCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.CameraID, k.Generation, k.Wrapped, micros(k.CreatedAt), micros(k.DestroyedAt))
	return err
}

// DataKey implements store.Store.
func (s *Store) DataKey(ctx context.Context, id domain.ID) (domain.DataKey, error) {
	k, err := scanDataKey(s.pool.QueryRowContext(ctx, s.q(`SELECT `+dataKeyCols+` FROM data_keys WHERE id = ?`), id))
	return k, s.classify(err)
}

// DataKeys implements store.Store.
func (s *Store) DataKeys(ctx context.Context, camera domain.CameraRef) ([]domain.DataKey, error) {
	rows, err := s.pool.QueryContext(ctx, s.q(`SELECT `+dataKeyCols+` FROM data_keys WHERE camera_id = ? AND generation = ? ORDER BY created_at DESC, id`),
		camera.Camera, camera.Generation)
	return collect(rows, s.classify(err), scanDataKey)
}

// AllDataKeys implements store.Store.
func (s *Store) AllDataKeys(ctx context.Context) ([]domain.DataKey, error) {
	rows, err := s.pool.QueryContext(ctx, s.q(`SELECT `+dataKeyCols+` FROM data_keys WHERE destroyed_at IS NULL ORDER BY id`))
	return collect(rows, s.classify(err), scanDataKey)
}

// DestroyDataKeys implements store.Store.
func (s *Store) DestroyDataKeys(ctx context.Context, camera domain.CameraRef, at time.Time) (int, error) {
	n, err := s.exec(ctx, s.pool, `UPDATE data_keys SET wrapped = NULL, destroyed_at = ? WHERE camera_id = ? AND generation = ? AND destroyed_at IS NULL`,
		micros(at), camera.Camera, camera.Generation)
	return int(n), err
}

// ReplaceWrappedKeys implements store.Store.
func (s *Store) ReplaceWrappedKeys(ctx context.Context, wrapped map[domain.ID][]byte) error {
	return s.tx(ctx, func(tx querier) error {
		for id, w := range wrapped {
			if err := s.execOne(ctx, tx, `UPDATE data_keys SET wrapped = ? WHERE id = ? AND destroyed_at IS NULL`, w, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// Rekey implements store.Store.
func (s *Store) Rekey(ctx context.Context, r store.Rekeying) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx querier) error {
		n = 0
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+dataKeyCols+` FROM data_keys WHERE destroyed_at IS NULL`))
		list, err := collect(rows, s.classify(err), scanDataKey)
		if err != nil {
			return err
		}
		for _, k := range list {
			w, err := r.DataKey(k)
			if err != nil {
				return err
			}
			if err := s.execOne(ctx, tx, `UPDATE data_keys SET wrapped = ? WHERE id = ?`, w, k.ID); err != nil {
				return err
			}
			n++
		}
		type sealed struct{ id, a, b string }
		scan := func(row scanner) (sealed, error) {
			var v sealed
			return v, row.Scan(&v.id, &v.a, &v.b)
		}
		rows, err = tx.QueryContext(ctx, s.q(`SELECT id, totp_secret, '' FROM accounts WHERE totp_secret <> ''`))
		accts, err := collect(rows, s.classify(err), scan)
		if err != nil {
			return err
		}
		for _, a := range accts {
			v, err := r.Sealed(a.a, a.id)
			if err != nil {
				return err
			}
			if err := s.execOne(ctx, tx, `UPDATE accounts SET totp_secret = ? WHERE id = ?`, v, a.id); err != nil {
				return err
			}
			n++
		}
		rows, err = tx.QueryContext(ctx, s.q(`SELECT id, pull_source, pull_snapshot FROM cameras WHERE pull_source <> '' OR pull_snapshot <> ''`))
		cams, err := collect(rows, s.classify(err), scan)
		if err != nil {
			return err
		}
		for _, c := range cams {
			src, snap := c.a, c.b
			if src != "" {
				if src, err = r.Sealed(src, "pull:"+c.id); err != nil {
					return err
				}
				n++
			}
			if snap != "" {
				if snap, err = r.Sealed(snap, "pull-snapshot:"+c.id); err != nil {
					return err
				}
				n++
			}
			if err := s.execOne(ctx, tx, `UPDATE cameras SET pull_source = ?, pull_snapshot = ? WHERE id = ?`, src, snap, c.id); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
