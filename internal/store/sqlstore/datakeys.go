package sqlstore

import (
	"bytes"
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
	_, err := s.exec(ctx, s.on(ctx), `INSERT INTO data_keys (`+dataKeyCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.CameraID, k.Generation, k.Wrapped, micros(k.CreatedAt), micros(k.DestroyedAt))
	return err
}

// DataKey implements store.Store.
func (s *Store) DataKey(ctx context.Context, id domain.ID) (domain.DataKey, error) {
	k, err := scanDataKey(s.on(ctx).QueryRowContext(ctx, s.q(`SELECT `+dataKeyCols+` FROM data_keys WHERE id = ?`), id))
	return k, s.classify(err)
}

// DataKeys implements store.Store.
func (s *Store) DataKeys(ctx context.Context, camera domain.CameraRef) ([]domain.DataKey, error) {
	rows, err := s.on(ctx).QueryContext(ctx, s.q(`SELECT `+dataKeyCols+` FROM data_keys WHERE camera_id = ? AND generation = ? ORDER BY created_at DESC, id`),
		camera.Camera, camera.Generation)
	return collect(rows, s.classify(err), scanDataKey)
}

// AllDataKeys implements store.Store.
func (s *Store) AllDataKeys(ctx context.Context) ([]domain.DataKey, error) {
	rows, err := s.on(ctx).QueryContext(ctx, s.q(`SELECT `+dataKeyCols+` FROM data_keys WHERE destroyed_at IS NULL ORDER BY id`))
	return collect(rows, s.classify(err), scanDataKey)
}

// DestroyDataKeys implements store.Store.
func (s *Store) DestroyDataKeys(ctx context.Context, camera domain.CameraRef, at time.Time) (int, error) {
	n, err := s.exec(ctx, s.on(ctx), `UPDATE data_keys SET wrapped = NULL, destroyed_at = ? WHERE camera_id = ? AND generation = ? AND destroyed_at IS NULL`,
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
	if r.Batch > 0 {
		return s.rekeyBatches(ctx, r)
	}
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

// rekeyBatches is Rekey in transactions of at most r.Batch values, each
// written only if it is as it was read.
func (s *Store) rekeyBatches(ctx context.Context, r store.Rekeying) (int, error) {
	total := 0
	n, err := s.inBatches(ctx, r.Batch, func(tx querier, after string) (string, int, int, error) {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+dataKeyCols+` FROM data_keys WHERE destroyed_at IS NULL AND id > ? ORDER BY id LIMIT ?`), after, r.Batch)
		list, err := collect(rows, s.classify(err), scanDataKey)
		if err != nil || len(list) == 0 {
			return "", 0, 0, err
		}
		n := 0
		for _, k := range list {
			w, err := r.DataKey(k)
			if err != nil {
				return "", 0, 0, err
			}
			if bytes.Equal(w, k.Wrapped) {
				continue
			}
			c, err := s.exec(ctx, tx, `UPDATE data_keys SET wrapped = ? WHERE id = ? AND wrapped = ? AND destroyed_at IS NULL`, w, k.ID, k.Wrapped)
			if err != nil {
				return "", 0, 0, err
			}
			n += int(c)
		}
		return string(list[len(list)-1].ID), len(list), n, nil
	})
	total += n
	if err != nil {
		return total, err
	}
	type sealed struct{ id, a, b string }
	scan := func(row scanner) (sealed, error) {
		var v sealed
		return v, row.Scan(&v.id, &v.a, &v.b)
	}
	n, err = s.inBatches(ctx, r.Batch, func(tx querier, after string) (string, int, int, error) {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT id, totp_secret, '' FROM accounts WHERE totp_secret <> '' AND id > ? ORDER BY id LIMIT ?`), after, r.Batch)
		list, err := collect(rows, s.classify(err), scan)
		if err != nil || len(list) == 0 {
			return "", 0, 0, err
		}
		n := 0
		for _, a := range list {
			v, err := r.Sealed(a.a, a.id)
			if err != nil {
				return "", 0, 0, err
			}
			if v == a.a {
				continue
			}
			c, err := s.exec(ctx, tx, `UPDATE accounts SET totp_secret = ? WHERE id = ? AND totp_secret = ?`, v, a.id, a.a)
			if err != nil {
				return "", 0, 0, err
			}
			n += int(c)
		}
		return list[len(list)-1].id, len(list), n, nil
	})
	total += n
	if err != nil {
		return total, err
	}
	n, err = s.inBatches(ctx, r.Batch, func(tx querier, after string) (string, int, int, error) {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT id, pull_source, pull_snapshot FROM cameras WHERE (pull_source <> '' OR pull_snapshot <> '') AND id > ? ORDER BY id LIMIT ?`), after, r.Batch)
		list, err := collect(rows, s.classify(err), scan)
		if err != nil || len(list) == 0 {
			return "", 0, 0, err
		}
		n := 0
		for _, c := range list {
			src, snap, changed := c.a, c.b, 0
			if src != "" {
				if src, err = r.Sealed(src, "pull:"+c.id); err != nil {
					return "", 0, 0, err
				}
				changed += b2i(src != c.a)
			}
			if snap != "" {
				if snap, err = r.Sealed(snap, "pull-snapshot:"+c.id); err != nil {
					return "", 0, 0, err
				}
				changed += b2i(snap != c.b)
			}
			if changed == 0 {
				continue
			}
			u, err := s.exec(ctx, tx, `UPDATE cameras SET pull_source = ?, pull_snapshot = ? WHERE id = ? AND pull_source = ? AND pull_snapshot = ?`,
				src, snap, c.id, c.a, c.b)
			if err != nil {
				return "", 0, 0, err
			}
			n += int(u) * changed
		}
		return list[len(list)-1].id, len(list), n, nil
	})
	return total + n, err
}

// inBatches runs batch, each time in its own transaction, on the rows
// after the last one the time before, until it reads fewer than size.
// batch returns the last row's ID, how many rows it read and how many
// values it rewrote; inBatches returns the sum of those.
func (s *Store) inBatches(ctx context.Context, size int, batch func(tx querier, after string) (last string, read, rewrote int, err error)) (int, error) {
	total, after := 0, ""
	for {
		var last string
		var read, rewrote int
		err := s.tx(ctx, func(tx querier) error {
			var err error
			last, read, rewrote, err = batch(tx, after)
			return err
		})
		if err != nil {
			return total, err
		}
		total += rewrote
		if read < size {
			return total, nil
		}
		after = last
	}
}
