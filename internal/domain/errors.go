package domain

import "errors"

// Errors that storage reports and that every layer above it may test for
// with errors.Is, without importing the store: adapters answer "not
// found" and "conflict" from these.
var (
	// ErrNotFound: the thing asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique key already exists, or a single-use thing was
	// already used.
	ErrConflict = errors.New("conflict")
)
