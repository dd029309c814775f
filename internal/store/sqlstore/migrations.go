package sqlstore

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"testing/fstest"
	"text/template"
)

// The schema's migrations, written once for both SQL dialects. Each file
// is a text/template: {{bytes}} is the byte-string column type, {{serial}}
// an auto-incrementing integer primary key, and {{if sqlite}}…{{else}}…{{end}}
// holds what only one dialect can say (SQLite rebuilds a table to relax a
// NOT NULL).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// Dialect names for Migrations.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Migrations returns the migrations rendered for dialect, for goose.
func Migrations(dialect string) (fs.FS, error) {
	types := map[string][2]string{
		SQLite:   {"BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT"},
		Postgres: {"BYTEA", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
	}
	t, ok := types[dialect]
	if !ok {
		return nil, fmt.Errorf("sqlstore: unknown dialect %q", dialect)
	}
	funcs := template.FuncMap{
		"bytes":  func() string { return t[0] },
		"serial": func() string { return t[1] },
		"sqlite": func() bool { return dialect == SQLite },
	}
	out := fstest.MapFS{}
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		src, err := fs.ReadFile(migrationFiles, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		tmpl, err := template.New(e.Name()).Funcs(funcs).Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migration %s: %w", e.Name(), err)
		}
		var b bytes.Buffer
		if err := tmpl.Execute(&b, nil); err != nil {
			return nil, fmt.Errorf("sqlstore: migration %s: %w", e.Name(), err)
		}
		out[e.Name()] = &fstest.MapFile{Data: b.Bytes(), Mode: 0o444}
	}
	return out, nil
}
