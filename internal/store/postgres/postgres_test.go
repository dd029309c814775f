package postgres_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/camvault/camvault/internal/store"
	"github.com/camvault/camvault/internal/store/postgres"
	"github.com/camvault/camvault/internal/store/postgres/pgtest"
	"github.com/camvault/camvault/internal/store/storetest"
)

// schemaURL is a fresh schema for one test.
func schemaURL(t *testing.T) string { return pgtest.SchemaURL(t) }

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
