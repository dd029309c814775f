// Package pgtest gives tests a PostgreSQL schema of their own on the
// server CAMVAULT_TEST_POSTGRES names, and skips them, saying why, when it
// is not set.
//
//	url := pgtest.SchemaURL(t) // postgres://…?search_path=camvault_test_…
package pgtest

import (
	"database/sql"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/camvault/camvault/internal/domain"
)

// SchemaURL creates a fresh schema for t and returns a URL whose
// connections use it; the schema is dropped when t ends.
func SchemaURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("CAMVAULT_TEST_POSTGRES")
	if base == "" {
		t.Skip("CAMVAULT_TEST_POSTGRES not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable); skipping the PostgreSQL tests")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	schema := "camvault_test_" + string(domain.NewID())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
