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
}

// ErrRetry is what Dialect.Classify returns for errors after which the
// transaction should be run again.
var ErrRetry = errors.New("sqlstore: retry transaction")

// Store is a store.Store over a *sql.DB.
type Store struct {
	db *sql.DB
	d  Dialect
}

var _ store.Store = (*Store)(nil)

// New returns a store over db, which must already be migrated.
func New(db *sql.DB, d Dialect) *Store { return &Store{db: db, d: d} }

// DB returns the underlying database.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

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

// tx runs fn in a transaction, retrying on serialization conflicts.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
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

func (s *Store) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, s.d.TxOptions)
	if err != nil {
		return s.classify(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return s.classify(tx.Commit())
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
