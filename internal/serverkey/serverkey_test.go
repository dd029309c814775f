package serverkey_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/camvault/camvault/internal/serverkey"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, serverkey.Size) }

func line(id string, b byte) string {
	return id + ":" + base64.StdEncoding.EncodeToString(key(b)) + "\n"
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string
		ids     []int
		current int
	}{
		{"legacy raw key", string(key(7)), []int{1}, 1},
		{"one line", line("1", 7), []int{1}, 1},
		{"newest is current", line("1", 7) + line("2", 8), []int{1, 2}, 2},
		{"explicit current", "# rotation, step a\n" + line("2", 8) + "\n" + line("1", 7) + "current: 1\n", []int{1, 2}, 1},
		{"spaces and CRLF", " 3 : " + base64.StdEncoding.EncodeToString(key(3)) + "\r\n" + line("10", 10), []int{3, 10}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := serverkey.Parse([]byte(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := r.IDs(); !slices.Equal(got, tc.ids) {
				t.Fatalf("IDs %v, want %v", got, tc.ids)
			}
			if id, k := r.Current(); id != tc.current || len(k) != serverkey.Size {
				t.Fatalf("current %d, want %d", id, tc.current)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ name, file string }{
		{"empty", ""},
		{"comments only", "# nothing\n"},
		{"short key", "1:" + base64.StdEncoding.EncodeToString(key(1)[:16]) + "\n"},
		{"not base64", "1:!!!\n"},
		{"ID zero", line("0", 1)},
		{"ID not a number", line("a", 1)},
		{"same ID twice", line("1", 1) + line("1", 2)},
		{"no colon", "1 " + base64.StdEncoding.EncodeToString(key(1)) + "\n"},
		{"current not in the ring", line("1", 1) + "current:2\n"},
		{"two currents", line("1", 1) + line("2", 2) + "current:1\ncurrent:2\n"},
		{"raw key of another size", string(key(1)[:31])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r, err := serverkey.Parse([]byte(tc.file)); err == nil {
				t.Fatalf("parsed into %v", r.IDs())
			}
		})
	}
}

func TestLookup(t *testing.T) {
	r, err := serverkey.New(map[int][]byte{1: key(1), 2: key(2)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := r.Key(2); !ok || !bytes.Equal(k, key(2)) {
		t.Fatal("key 2 not found")
	}
	if _, ok := r.Key(3); ok {
		t.Fatal("found a key the ring does not hold")
	}
	if id, k := r.Current(); id != 1 || !bytes.Equal(k, key(1)) {
		t.Fatalf("current %d", id)
	}
	s, err := serverkey.Single(key(9))
	if err != nil {
		t.Fatal(err)
	}
	if id, k := s.Current(); id != serverkey.Legacy || !bytes.Equal(k, key(9)) {
		t.Fatalf("single key's ID %d", id)
	}
	if _, err := serverkey.Single(key(9)[:8]); err == nil {
		t.Fatal("a short single key was taken")
	}
}

// TestRead: the legacy file a cluster was set up with reads as key 1.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	legacy := filepath.Join(dir, "server.key")
	os.WriteFile(legacy, key(5), 0o600)
	r, err := serverkey.Read(legacy)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := r.Key(1); !ok || !bytes.Equal(k, key(5)) {
		t.Fatal("the legacy key is not key 1")
	}
	if _, err := serverkey.Read(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("read a missing file")
	}
}
