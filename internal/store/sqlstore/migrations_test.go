package sqlstore_test

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/camvault/camvault/internal/store/sqlstore"
)

// TestMigrationsRender: every migration renders for both dialects, with no
// template text or other dialect's types left, and the two dialects get the
// same files.
func TestMigrationsRender(t *testing.T) {
	names := map[string][]string{}
	for _, tc := range []struct{ dialect, foreign string }{{sqlstore.SQLite, "BYTEA"}, {sqlstore.Postgres, "BLOB"}} {
		fsys, err := sqlstore.Migrations(tc.dialect)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil || len(entries) == 0 {
			t.Fatalf("%s: %d migrations, %v", tc.dialect, len(entries), err)
		}
		for _, e := range entries {
			names[tc.dialect] = append(names[tc.dialect], e.Name())
			b, _ := fs.ReadFile(fsys, e.Name())
			s := string(b)
			if strings.Contains(s, "{{") || strings.Contains(s, tc.foreign) || !strings.HasPrefix(s, "-- +goose Up") {
				t.Errorf("%s %s renders wrong:\n%s", tc.dialect, e.Name(), s)
			}
		}
	}
	if strings.Join(names[sqlstore.SQLite], " ") != strings.Join(names[sqlstore.Postgres], " ") {
		t.Fatalf("dialects differ: %v", names)
	}
	if _, err := sqlstore.Migrations("mysql"); err == nil {
		t.Fatal("an unknown dialect rendered")
	}
}
