// Package sqlstore implements store.Store over database/sql for the SQL
// backends (sqlite, postgres), which differ only in their Dialect and
// migrations.
//
// Storage conventions: times are BIGINT microseconds since the Unix epoch
// in UTC (NULL for the zero time), booleans INTEGER 0/1, lists JSON text.
// Every multi-statement change runs in one transaction at the strongest
// isolation the backend offers and is retried when the database reports a
// serialization conflict, so that invariants such as "a home keeps an
// owner" and "an invitation is used once" hold under concurrent callers.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// Dialect is what differs between SQL backends.
type Dialect struct {
	// Numbered makes placeholders $1, $2, … instead of ?.
	Numbered bool
	// TxOptions are used for every transaction.
	TxOptions *sql.TxOptions
	// Classify maps a driver error to store.ErrConflict (unique
	// violation), store.ErrNotFound (foreign key violation) or errRetry
	// (serialization failure or deadlock); nil leaves err as it is.
	Classify func(err error) error
	// AdvisoryLocks says the database has session advisory locks
	// (PostgreSQL): leases hold one on a connection of their own.
	// Without them a lease is held within this process only, which is
	// right for a database that one process uses (SQLite).
	AdvisoryLocks bool
}

// ErrRetry is what Dialect.Classify returns for errors after which the
// transaction should be run again.
var ErrRetry = errors.New("sqlstore: retry transaction")

// Store is a store.Store over a *sql.DB.
type Store struct {
	db    *sql.DB
	d     Dialect
	stmts *stmtCache
	pool  querier // db, with prepared statements

	leaseMu sync.Mutex      // guards leased
	leased  map[string]bool // chores leased in this process
}

var _ store.Store = (*Store)(nil)

// New returns a store over db, which must already be migrated.
func New(db *sql.DB, d Dialect) *Store {
	c := &stmtCache{db: db, m: map[string]*sql.Stmt{}}
	return &Store{db: db, d: d, stmts: c, pool: pooled{c}}
}

// DB returns the underlying database.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.close()
	return s.db.Close()
}

// q rewrites ? placeholders for the dialect. Queries in this package hold
// no ? inside string literals.
func (s *Store) q(query string) string {
	if !s.d.Numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// classify maps driver errors to store errors.
func (s *Store) classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if s.d.Classify != nil {
		if c := s.d.Classify(err); c != nil {
			if c == ErrRetry {
				return fmt.Errorf("%w: %v", ErrRetry, err)
			}
			return c
		}
	}
	return err
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) exec(ctx context.Context, q querier, query string, args ...any) (int64, error) {
	res, err := q.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return 0, s.classify(err)
	}
	n, err := res.RowsAffected()
	return n, err
}

// execOne runs a statement that must change exactly one row, or answers
// store.ErrNotFound.
func (s *Store) execOne(ctx context.Context, q querier, query string, args ...any) error {
	n, err := s.exec(ctx, q, query, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// maxAttempts bounds retries of a transaction after serialization
// conflicts.
const maxAttempts = 10

// txKey marks a context that carries a transaction of the store s
// (Atomically).
type txKey struct{ s *Store }

// on returns what a query made with ctx runs on: the transaction ctx
// carries, if Atomically opened one, else the pool.
func (s *Store) on(ctx context.Context) querier {
	if q, ok := ctx.Value(txKey{s}).(querier); ok {
		return q
	}
	return s.pool
}

// Atomically implements store.Store.
func (s *Store) Atomically(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{s}).(querier); ok {
		return fn(ctx)
	}
	return s.tx(ctx, func(q querier) error { return fn(context.WithValue(ctx, txKey{s}, q)) })
}

// tx runs fn in a transaction, retrying on serialization conflicts. Within
// Atomically, fn runs in its transaction, and a conflict is retried there.
func (s *Store) tx(ctx context.Context, fn func(tx querier) error) error {
	if q, ok := ctx.Value(txKey{s}).(querier); ok {
		return fn(q)
	}
	var err error
	for attempt := range maxAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * time.Millisecond):
			}
		}
		err = s.tryTx(ctx, fn)
		if !errors.Is(err, ErrRetry) {
			return err
		}
	}
	return err
}

func (s *Store) tryTx(ctx context.Context, fn func(tx querier) error) error {
	tx, err := s.db.BeginTx(ctx, s.d.TxOptions)
	if err != nil {
		return s.classify(err)
	}
	if err := fn(inTx{c: s.stmts, tx: tx}); err != nil {
		tx.Rollback()
		return err
	}
	return s.classify(tx.Commit())
}

// maxStmts bounds the prepared statements kept. The package's queries are
// a fixed set (filters combine a few conditions), far below it.
const maxStmts = 512

// stmtCache keeps one prepared statement per query text, so that a query
// is parsed and planned once, not on every call; database/sql prepares
// it again on each connection that needs it.
type stmtCache struct {
	db *sql.DB

	mu sync.RWMutex // guards m
	m  map[string]*sql.Stmt
}

// cached returns the prepared statement of query, or nil.
func (c *stmtCache) cached(query string) *sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[query]
}

// stmt returns the prepared statement of query, preparing it on a miss,
// or nil when the cache is full (the caller then runs the query
// unprepared). No lock is held while preparing, which takes a connection:
// a transaction holding one must never wait for the cache.
func (c *stmtCache) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := c.cached(query); st != nil {
		return st, nil
	}
	c.mu.RLock()
	full := len(c.m) >= maxStmts
	c.mu.RUnlock()
	if full {
		return nil, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		st.Close()
		return prev, nil
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// pooled runs queries on the pool with prepared statements.
type pooled struct{ c *stmtCache }

func (p pooled) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := p.c.stmt(ctx, query)
	if err != nil || st == nil {
		return p.c.db.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

func (p pooled) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.c.stmt(ctx, query)
	if err != nil || st == nil {
		return p.c.db.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

func (p pooled) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := p.c.stmt(ctx, query)
	if err != nil || st == nil {
		// The unprepared query reports the error through the row.
		return p.c.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// inTx runs queries in a transaction with the cache's prepared statements
// when they are there; it never prepares (that would take a second
// connection while the transaction holds one).
type inTx struct {
	c  *stmtCache
	tx *sql.Tx
}

func (t inTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st := t.c.cached(query)
	if st == nil {
		return t.tx.ExecContext(ctx, query, args...)
	}
	return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

func (t inTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st := t.c.cached(query)
	if st == nil {
		return t.tx.QueryContext(ctx, query, args...)
	}
	return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

func (t inTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st := t.c.cached(query)
	if st == nil {
		return t.tx.QueryRowContext(ctx, query, args...)
	}
	return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}

// Conversions between domain values and columns.

func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only slices of plain values are passed
	}
	return string(b)
}

func parseRefs(s string) ([]domain.CameraRef, error) {
	var refs []domain.CameraRef
	if err := json.Unmarshal([]byte(s), &refs); err != nil {
		return nil, fmt.Errorf("decode camera list: %w", err)
	}
	return refs, nil
}

func parseActions(s string) ([]domain.Action, error) {
	var as []domain.Action
	if err := json.Unmarshal([]byte(s), &as); err != nil {
		return nil, fmt.Errorf("decode action list: %w", err)
	}
	return as, nil
}

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, err error, scan func(row scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }
