package domain

import "time"

// OAuthTokenFilter selects OAuth grants by every field set; at least one
// of Signature, RequestID, LinkID and ExpiredBefore must be.
type OAuthTokenFilter struct {
	// Kind, when empty, matches every kind.
	Kind          OAuthTokenKind
	Signature     string
	RequestID     string
	LinkID        ID
	ExpiredBefore time.Time
}

// Empty reports whether f names nothing to select by.
func (f OAuthTokenFilter) Empty() bool {
	return f.Signature == "" && f.RequestID == "" && f.LinkID == "" && f.ExpiredBefore.IsZero()
}

// LinkFilter selects links by every field set; Revoked includes revoked
// links.
type LinkFilter struct {
	ID, IntegrationID, HomeID, AccountID ID
	Revoked                              bool
	// RevokedSince, when set, selects only links revoked at or after it.
	RevokedSince time.Time
}

// Empty reports whether f names nothing to select by.
func (f LinkFilter) Empty() bool {
	return f.ID == "" && f.IntegrationID == "" && f.HomeID == "" && f.AccountID == ""
}
