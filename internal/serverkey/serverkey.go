// Package serverkey reads the server keys: the 32-byte keys that seal
// secrets in the store, wrap recordings' data keys and sign tokens. A
// Ring holds several, each under a numeric ID, so that a cluster's key can
// be rotated online: everything made under a key names its ID, every key
// of the ring reads, and only the current key makes.
//
// A key file holds either one raw 32-byte key (the format camvault always
// wrote, read as key 1) or lines of text:
//
//	# comments and blank lines are skipped
//	1:BASE64-OF-32-BYTES
//	2:BASE64-OF-32-BYTES
//	current:1
//
// The current key is the one the "current:" line names, else the one of
// the highest ID. A Ring is immutable and safe for concurrent use.
package serverkey

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Size is the length of a server key.
const Size = 32

// Legacy is the ID of a key read from a raw 32-byte file, and of values
// made before keys had IDs.
const Legacy = 1

// Ring is a set of server keys by ID, one of them current.
type Ring struct {
	keys    map[int][]byte
	current int
}

// New returns a ring of keys with current the one new values use.
func New(keys map[int][]byte, current int) (*Ring, error) {
	if len(keys) == 0 {
		return nil, errors.New("serverkey: no key")
	}
	r := &Ring{keys: make(map[int][]byte, len(keys)), current: current}
	for id, k := range keys {
		if id < 1 {
			return nil, fmt.Errorf("serverkey: key ID %d: IDs are positive", id)
		}
		if len(k) != Size {
			return nil, fmt.Errorf("serverkey: key %d holds %d bytes, want %d", id, len(k), Size)
		}
		r.keys[id] = bytes.Clone(k)
	}
	if _, ok := r.keys[current]; !ok {
		return nil, fmt.Errorf("serverkey: the current key %d is not in the ring", current)
	}
	return r, nil
}

// Single returns a ring of one key, with the legacy ID: a single server's
// key, or a key file in the old format.
func Single(key []byte) (*Ring, error) {
	return New(map[int][]byte{Legacy: key}, Legacy)
}

// Parse reads a key file's contents (see the package doc).
func Parse(b []byte) (*Ring, error) {
	if len(b) == Size {
		return Single(b)
	}
	keys := map[int][]byte{}
	current := 0
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, ":")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok {
			return nil, fmt.Errorf("serverkey: line %d: want ID:BASE64 or current:ID", n+1)
		}
		if name == "current" {
			id, err := strconv.Atoi(val)
			if err != nil || current != 0 {
				return nil, fmt.Errorf("serverkey: line %d: want one current:ID", n+1)
			}
			current = id
			continue
		}
		id, err := strconv.Atoi(name)
		if err != nil || id < 1 {
			return nil, fmt.Errorf("serverkey: line %d: the key ID must be a positive number", n+1)
		}
		if _, dup := keys[id]; dup {
			return nil, fmt.Errorf("serverkey: line %d: key %d is given twice", n+1, id)
		}
		k, err := base64.StdEncoding.DecodeString(val)
		if err != nil || len(k) != Size {
			return nil, fmt.Errorf("serverkey: line %d: key %d is not %d bytes in base64", n+1, id, Size)
		}
		keys[id] = k
	}
	if current == 0 && len(keys) > 0 {
		current = slices.Max(slices.Collect(maps.Keys(keys)))
	}
	return New(keys, current)
}

// Read reads a key file.
func Read(path string) (*Ring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Current returns the key new values are made with, and its ID.
func (r *Ring) Current() (int, []byte) { return r.current, r.keys[r.current] }

// Key returns the key of id, if the ring holds it.
func (r *Ring) Key(id int) ([]byte, bool) {
	k, ok := r.keys[id]
	return k, ok
}

// IDs lists the ring's key IDs in ascending order.
func (r *Ring) IDs() []int {
	return slices.Sorted(maps.Keys(r.keys))
}
