// Package blob is camvault's object storage for recordings and snapshots:
// an interface every backend implements (local disk now, S3-compatible
// later), checked by one conformance suite (package blobtest). Objects are
// written whole and atomically and read by byte range, so that playback
// can fetch the encrypted chunks it needs without reading a whole
// segment. Keys are slash-separated paths of lower-case letters, digits,
// dots, dashes and underscores; nothing else reaches a backend.
package blob

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// Errors every backend returns.
var (
	ErrNotFound   = errors.New("blob: not found")
	ErrInvalidKey = errors.New("blob: invalid key")
)

// MaxKeyLen bounds a key.
const MaxKeyLen = 512

// Info describes a stored object.
type Info struct {
	Key      string
	Size     int64
	Modified time.Time
}

// Object is an open stored object, read by range.
type Object interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Store is an object store.
type Store interface {
	// Put stores r's bytes under key, replacing any object there. A
	// reader sees the old object or the new one, never a part; a failed
	// Put leaves no trace.
	Put(ctx context.Context, key string, r io.Reader) (Info, error)
	// Open opens key for ranged reads.
	Open(ctx context.Context, key string) (Object, error)
	// Stat describes key.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes key; ErrNotFound if there is none.
	Delete(ctx context.Context, key string) error
	// List lists the objects whose keys start with prefix, by key.
	List(ctx context.Context, prefix string) ([]Info, error)
}

// ValidKey reports whether key may name an object: 1 to MaxKeyLen bytes,
// segments of [a-z0-9._-] separated by single slashes, no segment "." or
// "..", no leading or trailing slash.
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLen {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for _, c := range []byte(seg) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ValidPrefix reports whether prefix may be listed: empty, or a valid key
// optionally ending in a slash.
func ValidPrefix(prefix string) bool {
	return prefix == "" || ValidKey(strings.TrimSuffix(prefix, "/"))
}
