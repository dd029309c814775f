package service

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error for the caller. The API maps each kind to one
// HTTP status in one place.
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

// Error is what service methods return. Message is safe to show the
// client; Err is for logs only.
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

func invalid(msg string) error { return &Error{Kind: KindInvalid, Code: "invalid", Message: msg} }

func notFound() error {
	return &Error{Kind: KindNotFound, Code: "not_found", Message: "not found"}
}

func forbidden() error {
	return &Error{Kind: KindForbidden, Code: "forbidden", Message: "you are not allowed to do that"}
}

func conflict(msg string) error { return &Error{Kind: KindConflict, Code: "conflict", Message: msg} }

func unauthenticated(msg string) error {
	return &Error{Kind: KindUnauthenticated, Code: "unauthenticated", Message: msg}
}

func internal(op string, err error) error {
	return &Error{Kind: KindInternal, Code: "internal", Message: "internal error", Err: fmt.Errorf("%s: %w", op, err)}
}

// ErrLoginFailed is the one answer to a wrong email, a wrong password, a
// wrong second factor and a disabled account alike.
var errLoginFailed = &Error{Kind: KindUnauthenticated, Code: "login_failed", Message: "email or password is wrong"}
