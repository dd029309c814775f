// Package blobtest is the conformance suite every blob.Store passes.
//
//	func TestConformance(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) blob.Store { ... a fresh, empty store ... })
//	}
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/camvault/camvault/internal/blob"
)

// Run runs the suite; open returns a fresh, empty store.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"PutOpen", testPutOpen},
		{"Ranges", testRanges},
		{"Replace", testReplace},
		{"Delete", testDelete},
		{"List", testList},
		{"InvalidKeys", testInvalidKeys},
		{"FailedPut", testFailedPut},
		{"ConcurrentPuts", testConcurrentPuts},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var ctx = context.Background()

func put(t *testing.T, s blob.Store, key string, data []byte) {
	t.Helper()
	info, err := s.Put(ctx, key, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	if info.Key != key || info.Size != int64(len(data)) {
		t.Fatalf("put %s: info %+v", key, info)
	}
}

func read(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	o, err := s.Open(ctx, key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer o.Close()
	b := make([]byte, o.Size())
	if _, err := o.ReadAt(b, 0); err != nil && err != io.EOF {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

func data(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func testPutOpen(t *testing.T, s blob.Store) {
	d := data(300_000)
	put(t, s, "cameras/abc/segments/000001.cvs", d)
	if got := read(t, s, "cameras/abc/segments/000001.cvs"); !bytes.Equal(got, d) {
		t.Fatal("read back differs")
	}
	info, err := s.Stat(ctx, "cameras/abc/segments/000001.cvs")
	if err != nil || info.Size != int64(len(d)) || info.Modified.IsZero() {
		t.Fatalf("stat: %+v %v", info, err)
	}
	put(t, s, "empty", nil)
	if got := read(t, s, "empty"); len(got) != 0 {
		t.Fatal("empty object is not empty")
	}
	if _, err := s.Open(ctx, "cameras/abc/segments/000002.cvs"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("open missing: %v", err)
	}
	if _, err := s.Stat(ctx, "cameras/abc"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("a key's parent is not an object: %v", err)
	}
}

func testRanges(t *testing.T, s blob.Store) {
	d := data(100_000)
	put(t, s, "r", d)
	o, err := s.Open(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for _, r := range [][2]int{{0, 1}, {0, 65536}, {65536, 34464}, {12345, 999}, {99_999, 1}} {
		b := make([]byte, r[1])
		n, err := o.ReadAt(b, int64(r[0]))
		if n != r[1] || (err != nil && err != io.EOF) || !bytes.Equal(b, d[r[0]:r[0]+r[1]]) {
			t.Fatalf("range %v: n=%d err=%v", r, n, err)
		}
	}
	b := make([]byte, 10)
	if n, err := o.ReadAt(b, 99_995); n != 5 || err != io.EOF {
		t.Fatalf("read past the end: n=%d err=%v, want 5 and io.EOF", n, err)
	}
}

func testReplace(t *testing.T, s blob.Store) {
	put(t, s, "k", data(1000))
	put(t, s, "k", []byte("new"))
	if got := read(t, s, "k"); string(got) != "new" {
		t.Fatalf("after replace: %q", got)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	put(t, s, "a/b/c", data(10))
	if err := s.Delete(ctx, "a/b/c"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, "a/b/c"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("open after delete: %v", err)
	}
	if err := s.Delete(ctx, "a/b/c"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if list, _ := s.List(ctx, ""); len(list) != 0 {
		t.Fatalf("left after delete: %+v", list)
	}
}

func testList(t *testing.T, s blob.Store) {
	for _, k := range []string{"cams/b/2", "cams/a/1", "cams/a/2", "other/x", "cams/ab/1"} {
		put(t, s, k, []byte(k))
	}
	keys := func(prefix string) string {
		list, err := s.List(ctx, prefix)
		if err != nil {
			t.Fatalf("list %q: %v", prefix, err)
		}
		var ks []string
		for _, i := range list {
			if i.Size != int64(len(i.Key)) {
				t.Fatalf("list %q: %+v", prefix, i)
			}
			ks = append(ks, i.Key)
		}
		return strings.Join(ks, " ")
	}
	for prefix, want := range map[string]string{
		"":         "cams/a/1 cams/a/2 cams/ab/1 cams/b/2 other/x",
		"cams/a/":  "cams/a/1 cams/a/2",
		"cams/a":   "cams/a/1 cams/a/2 cams/ab/1",
		"nothing/": "",
	} {
		if got := keys(prefix); got != want {
			t.Errorf("list %q = %q, want %q", prefix, got, want)
		}
	}
}

func testInvalidKeys(t *testing.T, s blob.Store) {
	for _, k := range []string{"", "/abs", "a//b", "a/../b", "..", "a/.", "A", "a b", "a\\b", "a/", strings.Repeat("a", blob.MaxKeyLen+1), "TMP/x", "ü"} {
		if _, err := s.Put(ctx, k, strings.NewReader("x")); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("put %q: %v", k, err)
		}
		if _, err := s.Open(ctx, k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("open %q: %v", k, err)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("delete %q: %v", k, err)
		}
	}
	if _, err := s.List(ctx, "../"); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("list ../: %v", err)
	}
}

// failing fails after n bytes.
type failing struct{ n int }

func (f *failing) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("source failed")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func testFailedPut(t *testing.T, s blob.Store) {
	put(t, s, "keep", []byte("old"))
	if _, err := s.Put(ctx, "keep", &failing{n: 5000}); err == nil {
		t.Fatal("a failing source was stored")
	}
	if got := read(t, s, "keep"); string(got) != "old" {
		t.Fatalf("a failed put changed the object: %q", got)
	}
	if _, err := s.Put(ctx, "new", &failing{n: 10}); err == nil {
		t.Fatal("a failing source was stored")
	}
	if _, err := s.Stat(ctx, "new"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("a failed put left an object: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(cctx, "cancelled", bytes.NewReader(data(10))); err == nil {
		t.Fatal("a put with a cancelled context stored")
	}
	if list, _ := s.List(ctx, ""); len(list) != 1 {
		t.Fatalf("objects after failed puts: %+v", list)
	}
}

func testConcurrentPuts(t *testing.T, s blob.Store) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			d := bytes.Repeat([]byte{byte(i)}, 50_000)
			if _, err := s.Put(ctx, "same", bytes.NewReader(d)); err != nil {
				t.Error(err)
			}
			if _, err := s.Put(ctx, fmt.Sprintf("own/%d", i), bytes.NewReader(d)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got := read(t, s, "same")
	if len(got) != 50_000 || !bytes.Equal(got, bytes.Repeat(got[:1], 50_000)) {
		t.Fatal("concurrent puts mixed their bytes")
	}
	if list, _ := s.List(ctx, "own/"); len(list) != 8 {
		t.Fatalf("own objects: %d", len(list))
	}
}
