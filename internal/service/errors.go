package service

import (
	"fmt"

	"github.com/camvault/camvault/internal/fault"
)

// Kind classifies an error for the caller; the kinds live in the leaf
// package fault so adapters can answer errors without importing service.
type Kind = fault.Kind

// Error is what service methods return. Message is safe to show the
// client; Err is for logs only.
type Error = fault.Error

// Error kinds.
const (
	KindInternal        = fault.KindInternal
	KindInvalid         = fault.KindInvalid
	KindUnauthenticated = fault.KindUnauthenticated
	KindMFARequired     = fault.KindMFARequired
	KindNotFound        = fault.KindNotFound
	KindForbidden       = fault.KindForbidden
	KindConflict        = fault.KindConflict
	KindThrottled       = fault.KindThrottled
	KindUnavailable     = fault.KindUnavailable
)

// KindOf returns the kind of err; KindInternal for errors that are not
// *Error.
func KindOf(err error) Kind { return fault.KindOf(err) }

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
