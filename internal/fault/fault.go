// Package fault holds the kinds of error camvault's use cases return, so
// that adapters can answer an error (an HTTP status, an RTSP code, a WHEP
// reply) without importing the service that made it. It imports nothing
// of camvault.
package fault

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error for the caller. Each adapter maps each kind to
// one answer of its protocol in one place.
type Kind int

// Error kinds.
const (
	KindInternal        Kind = iota // a bug or an unavailable dependency
	KindInvalid                     // the request is malformed or breaks a rule
	KindUnauthenticated             // no valid credentials
	KindMFARequired                 // the password was right; a second factor is needed
	KindNotFound                    // absent, or not the caller's to know about
	KindForbidden                   // visible to the caller, but not theirs to change
	KindConflict                    // clashes with the current state
	KindThrottled                   // too many attempts; retry later
	KindUnavailable                 // a dependency (a camera) cannot answer now
)

// Error is what use cases return. Message is safe to show the client; Err
// is for logs only.
type Error struct {
	Kind       Kind
	Code       string        // stable machine-readable code, e.g. "not_found"
	Message    string        // human text safe for clients
	RetryAfter time.Duration // for KindThrottled
	Err        error         // internal cause, never sent to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err; KindInternal for errors that are not
// *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}
