package domain

import (
	"slices"
	"time"
)

// Integration is a registered third-party client — a smart-display or
// assistant platform — that accounts may link to their homes through
// OAuth 2.0.
type Integration struct {
	ID ID
	// Name is unique and shown on the consent page and in the audit log.
	Name string
	// ClientID is the OAuth client_id.
	ClientID string
	// SecretHash is the hex SHA-256 of the client secret, which is shown
	// once when the integration is registered (it carries 256 random
	// bits, like every camvault token).
	SecretHash string
	// RedirectURIs are matched exactly.
	RedirectURIs []string
	// NotifyURL, when set, is where the platform takes change
	// notifications (request sync, report state).
	NotifyURL string
	// Enabled is false once an instance administrator disabled it: it
	// then gets no tokens, and disabling revoked every link.
	Enabled   bool
	CreatedAt time.Time
	ChangedAt time.Time
}

// LinkActions are the camera actions a link may carry.
var LinkActions = []Action{ActionLive, ActionSnapshot}

// Link is one account's consent for an integration in one home: which
// cameras, each at the generation it had when consent was given, and
// which actions. The policy grants through a link only what the link
// names and the account itself may still do.
type Link struct {
	ID            ID
	IntegrationID ID
	HomeID        ID
	AccountID     ID
	Cameras       []CameraRef
	Actions       []Action
	CreatedAt     time.Time
	// RevokedAt is zero while the link is live.
	RevokedAt  time.Time
	LastUsedAt time.Time
}

// Live reports whether the link has not been revoked.
func (l Link) Live() bool { return l.RevokedAt.IsZero() }

// Covers reports whether the live link names the camera at that
// generation and the action.
func (l Link) Covers(ref CameraRef, a Action) bool {
	return l.Live() && slices.Contains(l.Cameras, ref) && slices.Contains(l.Actions, a)
}

// OAuthTokenKind names what an OAuth grant record is.
type OAuthTokenKind string

// OAuth grant record kinds.
const (
	OAuthCode    OAuthTokenKind = "code"
	OAuthPKCE    OAuthTokenKind = "pkce"
	OAuthAccess  OAuthTokenKind = "access"
	OAuthRefresh OAuthTokenKind = "refresh"
)

// OAuthToken is one stored OAuth grant: an authorization code, its PKCE
// challenge, an access or a refresh token. It is kept under the token's
// HMAC signature, never the token. RequestID is shared by everything
// issued from one authorization, so a reused code or refresh token
// revokes the whole family.
type OAuthToken struct {
	Kind      OAuthTokenKind
	Signature string
	RequestID string
	LinkID    ID
	// Active is false for a used code or a rotated refresh token, kept
	// so that their reuse is recognised.
	Active    bool
	ExpiresAt time.Time
	// Data is the authorization request the token stands for, as the
	// OAuth server encodes it.
	Data []byte
}
