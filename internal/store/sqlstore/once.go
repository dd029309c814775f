package sqlstore

import (
	"context"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// PutOnce implements store.Store.
func (s *Store) PutOnce(ctx context.Context, o store.Once) error {
	payload := o.Payload
	if payload == nil {
		payload = []byte{}
	}
	_, err := s.exec(ctx, s.on(ctx), `INSERT INTO single_use (kind, key_hash, owner, payload, expires_at) VALUES (?, ?, ?, ?, ?)`,
		o.Kind, o.KeyHash, string(o.Owner), payload, o.Expires.UnixMicro())
	return err
}

// TakeOnce implements store.Store. One DELETE … RETURNING both finds and
// spends the row, so of racing takers the database lets exactly one have
// it. An expired row is spent too, and answered as not found.
func (s *Store) TakeOnce(ctx context.Context, kind string, keyHash []byte, now time.Time) (store.Once, error) {
	o := store.Once{Kind: kind, KeyHash: keyHash}
	var owner string
	var exp int64
	err := s.on(ctx).QueryRowContext(ctx, s.q(`DELETE FROM single_use WHERE kind = ? AND key_hash = ? RETURNING owner, payload, expires_at`),
		kind, keyHash).Scan(&owner, &o.Payload, &exp)
	if err != nil {
		return store.Once{}, s.classify(err)
	}
	o.Owner, o.Expires = domain.ID(owner), time.UnixMicro(exp).UTC()
	if !now.Before(o.Expires) {
		return store.Once{}, store.ErrNotFound
	}
	return o, nil
}

// CountOnce implements store.Store.
func (s *Store) CountOnce(ctx context.Context, kind string, owner domain.ID, now time.Time) (int, time.Time, error) {
	query, args := `SELECT COUNT(*), MIN(expires_at) FROM single_use WHERE kind = ? AND expires_at > ?`, []any{kind, now.UnixMicro()}
	if owner != "" {
		query, args = query+` AND owner = ?`, append(args, string(owner))
	}
	var n int
	var soonest *int64
	if err := s.on(ctx).QueryRowContext(ctx, s.q(query), args...).Scan(&n, &soonest); err != nil {
		return 0, time.Time{}, s.classify(err)
	}
	if soonest == nil {
		return n, time.Time{}, nil
	}
	return n, time.UnixMicro(*soonest).UTC(), nil
}

// DropOnce implements store.Store.
func (s *Store) DropOnce(ctx context.Context, kind string, owner domain.ID) (int, error) {
	n, err := s.exec(ctx, s.on(ctx), `DELETE FROM single_use WHERE kind = ? AND owner = ?`, kind, owner)
	return int(n), err
}

// PurgeOnce implements store.Store.
func (s *Store) PurgeOnce(ctx context.Context, now time.Time) (int, error) {
	n, err := s.exec(ctx, s.on(ctx), `DELETE FROM single_use WHERE expires_at <= ?`, now.UnixMicro())
	return int(n), err
}
