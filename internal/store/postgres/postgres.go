// Package postgres is the store backend for PostgreSQL, for servers that
// outgrow the embedded SQLite file or run several instances. Transactions
// are SERIALIZABLE and retried on serialization failures.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/camvault/camvault/internal/store"
	"github.com/camvault/camvault/internal/store/sqlstore"
)

// Store is the PostgreSQL store.
type Store = sqlstore.Store

// Open connects to the database at url (postgres://…; a search_path
// parameter selects a schema) and migrates it.
func Open(ctx context.Context, url string) (*Store, error) {
	if _, err := pgconn.ParseConfig(url); err != nil {
		// The parse error can echo the URL, password included.
		return nil, errors.New("postgres: invalid connection URL")
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, errors.New("postgres: invalid connection URL")
	}
	db.SetMaxOpenConns(20)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return sqlstore.New(db, sqlstore.Dialect{
		Numbered:      true,
		TxOptions:     &sql.TxOptions{Isolation: sql.LevelSerializable},
		Classify:      classify,
		AdvisoryLocks: true,
	}), nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := sqlstore.Migrations(sqlstore.Postgres)
	if err != nil {
		return err
	}
	// A session lock keeps two servers starting at once from migrating
	// concurrently.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("postgres migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres migrate: %w", err)
	}
	return nil
}

func classify(err error) error {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return nil
	}
	switch e.Code {
	case "23505":
		return store.ErrConflict
	case "23503":
		return store.ErrNotFound
	case "40001", "40P01":
		return sqlstore.ErrRetry
	}
	return nil
}
