package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/camvault/camvault/internal/domain"
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

