package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunCreatesProfileDir: a profile directory that does not exist yet is
// created, parents included; one that cannot be is a clear error.
func TestRunCreatesProfileDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "profiles", "today")
	if _, err := Run(context.Background(), Config{ProfileDir: dir}, nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("profile directory not created: %v", err)
	}
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), Config{ProfileDir: filepath.Join(file, "sub")}, nil)
	if err == nil || !strings.Contains(err.Error(), "profile directory") || !strings.Contains(err.Error(), file) {
		t.Fatalf("a file in the way: %v", err)
	}
}
