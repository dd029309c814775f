package sqlstore

import (
	"context"
	"strings"
	"time"
)

// ThrottleFail implements store.Store.
func (s *Store) ThrottleFail(ctx context.Context, key string, now time.Time, forget time.Duration) (int, error) {
	var fails int
	err := s.on(ctx).QueryRowContext(ctx, s.q(`INSERT INTO throttle (key, fails, last_at, until_at) VALUES (?, 1, ?, 0)
		ON CONFLICT (key) DO UPDATE SET
			fails = CASE WHEN throttle.last_at < ? THEN 1 ELSE throttle.fails + 1 END,
			until_at = CASE WHEN throttle.last_at < ? THEN 0 ELSE throttle.until_at END,
			last_at = excluded.last_at
		RETURNING fails`), key, micros(now), micros(now.Add(-forget)), micros(now.Add(-forget))).Scan(&fails)
	return fails, s.classify(err)
}

// ThrottleBlock implements store.Store.
func (s *Store) ThrottleBlock(ctx context.Context, key string, until time.Time) error {
	_, err := s.exec(ctx, s.on(ctx), `UPDATE throttle SET until_at = ? WHERE key = ? AND until_at < ?`, micros(until), key, micros(until))
	return err
}

// ThrottleUntil implements store.Store.
func (s *Store) ThrottleUntil(ctx context.Context, keys []string) (time.Time, error) {
	if len(keys) == 0 {
		return time.Time{}, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	var until *int64
	err := s.on(ctx).QueryRowContext(ctx, s.q(`SELECT MAX(until_at) FROM throttle WHERE key IN (?`+strings.Repeat(", ?", len(keys)-1)+`)`), args...).Scan(&until)
	if err != nil || until == nil || *until == 0 {
		return time.Time{}, s.classify(err)
	}
	return time.UnixMicro(*until).UTC(), nil
}

// ThrottleForget implements store.Store.
func (s *Store) ThrottleForget(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	_, err := s.exec(ctx, s.on(ctx), `DELETE FROM throttle WHERE key IN (?`+strings.Repeat(", ?", len(keys)-1)+`)`, args...)
	return err
}

// PruneThrottle implements store.Store.
func (s *Store) PruneThrottle(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, s.on(ctx), `DELETE FROM throttle WHERE last_at < ? AND until_at < ?`, micros(before), micros(before))
	return int(n), err
}
