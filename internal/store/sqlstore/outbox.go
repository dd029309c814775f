package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/camvault/camvault/internal/store"
)

// AppendOutbox implements store.Store.
func (s *Store) AppendOutbox(ctx context.Context, e store.OutboxEntry) (int64, error) {
	var seq int64
	err := s.on(ctx).QueryRowContext(ctx, s.q(`INSERT INTO outbox (kind, account_id, camera_id, generation, link_id, since_us, until_us, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`), e.Kind, e.Account, e.Camera, e.Generation, e.Link, micros(e.Since), micros(e.Until),
		micros(e.At)).Scan(&seq)
	return seq, s.classify(err)
}

// OutboxAfter implements store.Store.
func (s *Store) OutboxAfter(ctx context.Context, after int64, limit int) ([]store.OutboxEntry, error) {
	rows, err := s.on(ctx).QueryContext(ctx, s.q(`SELECT seq, kind, account_id, camera_id, generation, link_id, since_us, until_us, at
		FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`), after, limit)
	return collect(rows, s.classify(err), func(row scanner) (store.OutboxEntry, error) {
		var e store.OutboxEntry
		var since, until, at sql.NullInt64
		err := row.Scan(&e.Seq, &e.Kind, &e.Account, &e.Camera, &e.Generation, &e.Link, &since, &until, &at)
		e.Since, e.Until, e.At = fromMicros(since), fromMicros(until), fromMicros(at)
		return e, err
	})
}

// OutboxHead implements store.Store.
func (s *Store) OutboxHead(ctx context.Context) (int64, error) {
	var head int64
	err := s.on(ctx).QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM outbox`).Scan(&head)
	return head, s.classify(err)
}

// PruneOutbox implements store.Store.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, s.on(ctx), `DELETE FROM outbox WHERE at < ?`, micros(before))
	return int(n), err
}
