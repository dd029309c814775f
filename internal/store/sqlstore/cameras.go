package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

const cameraCols = `id, home_id, name, generation, state, created_at, device_key, agent_version, last_seen, pull_source, pull_snapshot`

func scanCamera(row scanner) (domain.Camera, error) {
	var c domain.Camera
	var home sql.NullString
	var created, seen sql.NullInt64
	err := row.Scan(&c.ID, &home, &c.Name, &c.Generation, &c.State, &created, &c.DeviceKey, &c.AgentVersion, &seen, &c.PullSource, &c.PullSnapshot)
	c.HomeID = domain.ID(home.String)
	c.CreatedAt, c.LastSeen = fromMicros(created), fromMicros(seen)
	if len(c.DeviceKey) == 0 {
		c.DeviceKey = nil
	}
	return c, err
}

// nullID stores an empty ID as NULL.
func nullID(id domain.ID) any {
	if id == "" {
		return nil
	}
	return string(id)
}

// nullBytes stores an empty byte slice as NULL.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func (s *Store) insertCamera(ctx context.Context, q querier, c domain.Camera) error {
	_, err := s.exec(ctx, q, `INSERT INTO cameras (`+cameraCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, nullID(c.HomeID), c.Name, c.Generation, c.State, micros(c.CreatedAt), nullBytes(c.DeviceKey), c.AgentVersion, micros(c.LastSeen), c.PullSource, c.PullSnapshot)
	return err
}

// CreateCamera implements store.Store.
func (s *Store) CreateCamera(ctx context.Context, c domain.Camera) error {
	return s.insertCamera(ctx, s.on(ctx), c)
}

// Camera implements store.Store.
func (s *Store) Camera(ctx context.Context, id domain.ID) (domain.Camera, error) {
	return s.camera(ctx, s.on(ctx), `id = ?`, id)
}

func (s *Store) camera(ctx context.Context, q querier, where string, arg any) (domain.Camera, error) {
	c, err := scanCamera(q.QueryRowContext(ctx, s.q(`SELECT `+cameraCols+` FROM cameras WHERE `+where), arg))
	return c, s.classify(err)
}

// Cameras implements store.Store, ordered by name.
func (s *Store) Cameras(ctx context.Context, home domain.ID) ([]domain.Camera, error) {
	rows, err := s.on(ctx).QueryContext(ctx, s.q(`SELECT `+cameraCols+` FROM cameras WHERE home_id = ? ORDER BY name, id`), home)
	return collect(rows, s.classify(err), scanCamera)
}

// RenameCamera implements store.Store.
func (s *Store) RenameCamera(ctx context.Context, id domain.ID, name string) error {
	return s.execOne(ctx, s.on(ctx), `UPDATE cameras SET name = ? WHERE id = ?`, name, id)
}

// DeleteCamera implements store.Store.
func (s *Store) DeleteCamera(ctx context.Context, id domain.ID) error {
	return s.execOne(ctx, s.on(ctx), `DELETE FROM cameras WHERE id = ?`, id)
}

// EnrollDevice implements store.Store.
func (s *Store) EnrollDevice(ctx context.Context, c domain.Camera, code domain.ClaimCode) error {
	if len(c.DeviceKey) == 0 || c.HomeID != "" {
		return errors.New("sqlstore: EnrollDevice needs a device key and no home")
	}
	return s.tx(ctx, func(tx querier) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM retired_device_keys WHERE key_hash = ?`), keyHash(c.DeviceKey)).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return store.ErrRetired
		}
		if err := s.insertCamera(ctx, tx, c); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, `INSERT INTO claim_codes (camera_id, hash, expires_at) VALUES (?, ?, ?)`, c.ID, code.Hash, micros(code.ExpiresAt))
		return err
	})
}

// keyHash is how a retired device key is remembered.
func keyHash(key []byte) []byte {
	h := sha256.Sum256(key)
	return h[:]
}

// CameraByDeviceKey implements store.Store.
func (s *Store) CameraByDeviceKey(ctx context.Context, key []byte) (domain.Camera, error) {
	if len(key) == 0 {
		return domain.Camera{}, store.ErrNotFound
	}
	return s.camera(ctx, s.on(ctx), `device_key = ?`, key)
}

// SetClaimCode implements store.Store.
func (s *Store) SetClaimCode(ctx context.Context, code domain.ClaimCode) error {
	return s.tx(ctx, func(tx querier) error {
		c, err := s.camera(ctx, tx, `id = ?`, code.CameraID)
		if err != nil {
			return err
		}
		if c.HomeID != "" || !c.DeviceBacked() {
			return store.ErrConflict
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM claim_codes WHERE camera_id = ?`, code.CameraID); err != nil {
			return err
		}
		_, err = s.exec(ctx, tx, `INSERT INTO claim_codes (camera_id, hash, expires_at) VALUES (?, ?, ?)`, code.CameraID, code.Hash, micros(code.ExpiresAt))
		return err
	})
}

// ClaimCamera implements store.Store. Deleting the code is the claim: of
// racing transactions only one deletes the row.
func (s *Store) ClaimCamera(ctx context.Context, hash []byte, home domain.ID, name string, now time.Time) (domain.Camera, error) {
	var claimed domain.Camera
	err := s.tx(ctx, func(tx querier) error {
		var id domain.ID
		var expires int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT camera_id, expires_at FROM claim_codes WHERE hash = ?`), hash).Scan(&id, &expires)
		if err != nil {
			return s.classify(err)
		}
		if now.UnixMicro() >= expires {
			return store.ErrNotFound
		}
		if err := s.execOne(ctx, tx, `DELETE FROM claim_codes WHERE camera_id = ? AND hash = ?`, id, hash); err != nil {
			return err
		}
		if err := s.execOne(ctx, tx, `UPDATE cameras SET home_id = ?, name = ?, generation = generation + 1, state = ?
			WHERE id = ? AND home_id IS NULL AND device_key IS NOT NULL`, home, name, domain.CameraStateClaimed, id); err != nil {
			return err
		}
		claimed, err = s.camera(ctx, tx, `id = ?`, id)
		return err
	})
	return claimed, err
}

// ReleaseCamera implements store.Store.
func (s *Store) ReleaseCamera(ctx context.Context, id domain.ID, generation int64, state domain.CameraState, retireKey bool) (domain.Camera, error) {
	var released domain.Camera
	err := s.tx(ctx, func(tx querier) error {
		c, err := s.camera(ctx, tx, `id = ?`, id)
		if err != nil {
			return err
		}
		if c.Generation != generation || !c.DeviceBacked() {
			return store.ErrConflict
		}
		key := any(c.DeviceKey)
		if retireKey {
			key = nil
			if _, err := s.exec(ctx, tx, `INSERT INTO retired_device_keys (key_hash, retired_at) VALUES (?, ?) ON CONFLICT (key_hash) DO NOTHING`,
				keyHash(c.DeviceKey), micros(time.Now())); err != nil {
				return err
			}
		}
		if err := s.execOne(ctx, tx, `UPDATE cameras SET home_id = NULL, generation = generation + 1, state = ?, device_key = ?
			WHERE id = ? AND generation = ?`, state, key, id, generation); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM claim_codes WHERE camera_id = ?`, id); err != nil {
			return err
		}
		released, err = s.camera(ctx, tx, `id = ?`, id)
		return err
	})
	return released, err
}

// unclaimedCameras selects the cameras that no home has ever claimed.
const unclaimedCameras = `home_id IS NULL AND state = 'unclaimed' AND generation = 0`

// CountUnclaimedCameras implements store.Store.
func (s *Store) CountUnclaimedCameras(ctx context.Context) (int, error) {
	var n int
	err := s.on(ctx).QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM cameras WHERE `+unclaimedCameras)).Scan(&n)
	return n, s.classify(err)
}

// PurgeUnclaimedCameras implements store.Store.
func (s *Store) PurgeUnclaimedCameras(ctx context.Context, enrolledBefore time.Time) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx querier) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM claim_codes WHERE camera_id IN
			(SELECT id FROM cameras WHERE `+unclaimedCameras+` AND created_at < ?)`, micros(enrolledBefore)); err != nil {
			return err
		}
		var err error
		n, err = s.exec(ctx, tx, `DELETE FROM cameras WHERE `+unclaimedCameras+` AND created_at < ?`, micros(enrolledBefore))
		return err
	})
	return int(n), err
}

// TouchCamera implements store.Store.
func (s *Store) TouchCamera(ctx context.Context, id domain.ID, t time.Time, agentVersion string) error {
	return s.execOne(ctx, s.on(ctx), `UPDATE cameras SET last_seen = ?, agent_version = ? WHERE id = ?`, micros(t), agentVersion, id)
}
