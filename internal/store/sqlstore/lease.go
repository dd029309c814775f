package sqlstore

import (
	"context"
	"database/sql"
	"hash/fnv"
	"time"

	"github.com/camvault/camvault/internal/store"
)

// Lead implements store.Store.
func (s *Store) Lead(ctx context.Context, name string) (store.Lease, error) {
	if !s.d.AdvisoryLocks {
		s.leaseMu.Lock()
		defer s.leaseMu.Unlock()
		if s.leased[name] {
			return nil, nil
		}
		if s.leased == nil {
			s.leased = map[string]bool{}
		}
		s.leased[name] = true
		return &localLease{s: s, name: name}, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	key := lockKey(name)
	var ok bool
	if err := conn.QueryRowContext(ctx, s.q(`SELECT pg_try_advisory_lock(?)`), key).Scan(&ok); err != nil {
		conn.Close()
		return nil, err
	}
	if !ok {
		conn.Close()
		return nil, nil
	}
	return &pgLease{s: s, conn: conn, key: key}, nil
}

// lockKey maps a chore's name to an advisory lock key.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("camvault chore\x00" + name))
	return int64(h.Sum64())
}

// localLease is a chore held in this process.
type localLease struct {
	s    *Store
	name string
}

func (l *localLease) Check(context.Context) error { return nil }

func (l *localLease) Release() {
	l.s.leaseMu.Lock()
	defer l.s.leaseMu.Unlock()
	delete(l.s.leased, l.name)
}

// pgLease holds a session advisory lock on a connection of its own; the
// database releases it when the connection ends, so a killed holder's
// chore is free at once.
type pgLease struct {
	s    *Store
	conn *sql.Conn
	key  int64
}

// Check pings the holding connection: if it broke, the lock is gone.
func (l *pgLease) Check(ctx context.Context) error {
	var one int
	return l.conn.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

func (l *pgLease) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.conn.ExecContext(ctx, l.s.q(`SELECT pg_advisory_unlock(?)`), l.key)
	l.conn.Close()
}
