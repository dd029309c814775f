// Package localfs stores blobs as files under a directory: written to a
// temporary file, synced, and renamed into place, so that a crash leaves
// the old object or the new one and a temporary file that Open removes.
package localfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/camvault/camvault/internal/blob"
)

// tmpDir holds objects being written; it is not a valid key segment
// (keys have no upper case), so no object can collide with it.
const tmpDir = "TMP"

// Store is a blob.Store on the local file system.
type Store struct {
	root string
}

var _ blob.Store = (*Store)(nil)

// Open opens (creating) a store at root and removes temporary files a
// crash left behind.
func Open(root string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(root, tmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("localfs: %w", err)
	}
	entries, err := os.ReadDir(filepath.Join(root, tmpDir))
	if err != nil {
		return nil, fmt.Errorf("localfs: %w", err)
	}
	for _, e := range entries {
		os.Remove(filepath.Join(root, tmpDir, e.Name()))
	}
	return &Store{root: root}, nil
}

func (s *Store) path(key string) (string, error) {
	if !blob.ValidKey(key) {
		return "", blob.ErrInvalidKey
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (blob.Info, error) {
	dst, err := s.path(key)
	if err != nil {
		return blob.Info{}, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return blob.Info{}, err
	}
	var rnd [12]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(s.root, tmpDir, hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return blob.Info{}, err
	}
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return blob.Info{}, err
	}
	syncDir(filepath.Dir(dst))
	st, err := os.Stat(dst)
	if err != nil {
		return blob.Info{}, err
	}
	return blob.Info{Key: key, Size: n, Modified: st.ModTime().UTC()}, nil
}

// syncDir makes a rename durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type object struct {
	*os.File
	size int64
}

func (o object) Size() int64 { return o.size }

// Open implements blob.Store.
func (s *Store) Open(ctx context.Context, key string) (blob.Object, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, blob.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, blob.ErrNotFound
	}
	return object{File: f, size: st.Size()}, nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	p, err := s.path(key)
	if err != nil {
		return blob.Info{}, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !st.Mode().IsRegular()) {
		return blob.Info{}, blob.ErrNotFound
	}
	if err != nil {
		return blob.Info{}, err
	}
	return blob.Info{Key: key, Size: st.Size(), Modified: st.ModTime().UTC()}, nil
}

// Delete implements blob.Store. Directories left empty are removed.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if st, err := os.Stat(p); err == nil && !st.Mode().IsRegular() {
		return blob.ErrNotFound
	}
	if err := os.Remove(p); errors.Is(err, fs.ErrNotExist) {
		return blob.ErrNotFound
	} else if err != nil {
		return err
	}
	for dir := filepath.Dir(p); dir != s.root && strings.HasPrefix(dir, s.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// List implements blob.Store.
func (s *Store) List(ctx context.Context, prefix string) ([]blob.Info, error) {
	if !blob.ValidPrefix(prefix) {
		return nil, blob.ErrInvalidKey
	}
	var out []blob.Info
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == tmpDir {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !blob.ValidKey(rel) || !strings.HasPrefix(rel, prefix) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		out = append(out, blob.Info{Key: rel, Size: info.Size(), Modified: info.ModTime().UTC()})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, err
}
