package localfs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camvault/camvault/internal/blob"
	"github.com/camvault/camvault/internal/blob/blobtest"
	"github.com/camvault/camvault/internal/blob/localfs"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := localfs.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestCrashLeftovers: a temporary file a crash left is removed when the
// store opens, and never listed.
func TestCrashLeftovers(t *testing.T) {
	root := t.TempDir()
	s, err := localfs.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), "a/b", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(root, "TMP", "0123")
	os.WriteFile(leftover, []byte("half"), 0o600)
	if list, _ := s.List(context.Background(), ""); len(list) != 1 {
		t.Fatalf("listed %+v", list)
	}
	if _, err := localfs.Open(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatal("the leftover survived reopening")
	}
}

// FuzzValidKey: a key that passes never leaves the store's directory.
func FuzzValidKey(f *testing.F) {
	for _, k := range []string{"a/b", "../x", "a/./b", "TMP/x", "a//b"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if !blob.ValidKey(k) {
			return
		}
		p := filepath.Join("/root-dir", filepath.FromSlash(k))
		if !strings.HasPrefix(p, "/root-dir/") || strings.HasPrefix(p, "/root-dir/TMP") {
			t.Fatalf("key %q maps to %q", k, p)
		}
	})
}
