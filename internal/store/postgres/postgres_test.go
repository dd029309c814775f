package postgres_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
	"github.com/camvault/camvault/internal/store/postgres"
	"github.com/camvault/camvault/internal/store/storetest"
)

// schemaURL creates a fresh schema for one test and returns a URL whose
// connections use it; the schema is dropped when the test ends.
func schemaURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("CAMVAULT_TEST_POSTGRES")
	if base == "" {
		t.Skip("CAMVAULT_TEST_POSTGRES not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable); skipping the PostgreSQL store tests")
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

func TestConformance(t *testing.T) {
	if os.Getenv("CAMVAULT_TEST_POSTGRES") == "" {
		t.Skip("CAMVAULT_TEST_POSTGRES not set; skipping the PostgreSQL store tests")
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		st, err := postgres.Open(context.Background(), schemaURL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func TestBadURLDoesNotEchoPassword(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://u:s3cret-pass@127.0.0.1:1/x?sslmode=bogus")
	if err == nil {
		t.Fatal("bad URL accepted")
	}
	if strings.Contains(err.Error(), "s3cret-pass") {
		t.Fatalf("error echoes the password: %v", err)
	}
}
