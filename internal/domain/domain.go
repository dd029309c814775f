// Package domain holds camvault's core types and their invariants: accounts,
// homes, memberships, cameras, invitations, sessions and audit events.
//
// It imports no I/O packages. Everything that decides who may do what lives
// in package authz; everything that stores these types lives in package
// store.
package domain

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"
)

// ID is an opaque, random identifier. IDs are never sequential and carry no
// meaning; compare them only for equality.
type ID string

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a fresh random ID with 128 bits of entropy.
func NewID() ID {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics on a broken system source)
	return ID(idEncoding.EncodeToString(b[:]))
}

// ValidID reports whether s has the form of an ID made by NewID. It is used
// to reject malformed path parameters before they reach the store.
func ValidID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// Role is a membership's role in a home. The zero value is RoleUnknown.
type Role string

// Roles, most powerful first.
const (
	RoleUnknown Role = ""
	RoleOwner   Role = "owner"
	RoleAdmin   Role = "admin"
	RoleMember  Role = "member"
	RoleGuest   Role = "guest"
)

// Roles lists every valid role.
var Roles = []Role{RoleOwner, RoleAdmin, RoleMember, RoleGuest}

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool {
	switch r {
	case RoleOwner, RoleAdmin, RoleMember, RoleGuest:
		return true
	}
	return false
}

// Action is something a principal may do. Camera actions apply to one
// camera; home actions to a home as a whole.
type Action string

// Camera actions.
const (
	ActionLive     Action = "live"
	ActionSnapshot Action = "snapshot"
	ActionPlayback Action = "playback"
	ActionExport   Action = "export"
	ActionManage   Action = "manage"
	ActionPTZ      Action = "ptz"
	// ActionTransfer releases a device-backed camera from its home so that
	// another home can claim it. Owners only.
	ActionTransfer Action = "transfer"
	// ActionRecordingDelete deletes a camera's recordings (a range or
	// all). Owners only.
	ActionRecordingDelete Action = "recording.delete"
)

// Home actions.
const (
	ActionHomeView      Action = "home.view"
	ActionHomeRename    Action = "home.rename"
	ActionHomeDelete    Action = "home.delete"
	ActionMemberList    Action = "member.list"
	ActionMemberManage  Action = "member.manage"
	ActionInviteCreate  Action = "invite.create"
	ActionCameraList    Action = "camera.list"
	ActionCameraCreate  Action = "camera.create"
	ActionAuditRead     Action = "audit.read"
	ActionHomeLeave     Action = "home.leave"
	ActionInstanceAdmin Action = "instance.admin"
	// ActionLinkManage sees and revokes every integration link of the
	// home, not only one's own. Owners only.
	ActionLinkManage Action = "link.manage"
	// ActionHomeRecording sets the home's retention and the export
	// window of cameras that leave it. Owners only.
	ActionHomeRecording Action = "home.recording"
)

// Account actions: what any signed-in, enabled account may do for itself.
const (
	// ActionAccountSelf covers reading and changing one's own account:
	// profile, password, second factors, sessions, API tokens.
	ActionAccountSelf Action = "account.self"
	// ActionHomeCreate creates a new home owned by the caller.
	ActionHomeCreate Action = "home.create"
	// ActionInviteAccept joins a home through an invitation the caller holds.
	ActionInviteAccept Action = "invite.accept"
)

// CameraActions lists every camera action.
var CameraActions = []Action{ActionLive, ActionSnapshot, ActionPlayback, ActionExport, ActionManage, ActionPTZ, ActionTransfer,
	ActionRecordingDelete}

// HomeActions lists every home action.
var HomeActions = []Action{ActionHomeView, ActionHomeRename, ActionHomeDelete, ActionMemberList,
	ActionMemberManage, ActionInviteCreate, ActionCameraList, ActionCameraCreate, ActionAuditRead, ActionHomeLeave,
	ActionLinkManage, ActionHomeRecording}

// GuestActions are the camera actions a guest membership may be given.
var GuestActions = []Action{ActionLive, ActionSnapshot, ActionPlayback, ActionPTZ}

// IsCameraAction reports whether a applies to a single camera.
func (a Action) IsCameraAction() bool {
	for _, c := range CameraActions {
		if a == c {
			return true
		}
	}
	return false
}

// Account is a person who can log in.
type Account struct {
	ID            ID
	Email         string // normalised: trimmed, lower case
	PasswordHash  string // argon2id PHC string; empty for passkey-only accounts
	InstanceAdmin bool   // may run instance administration; grants nothing inside homes
	Disabled      bool
	TOTPSecret    string // base32 secret; set only while TOTPEnabled or being enrolled
	TOTPEnabled   bool
	CreatedAt     time.Time
}

// NormalizeEmail trims and lower-cases an email address.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidEmail does a deliberately simple syntax check: one @, something on
// both sides, a dot in the domain, no spaces, at most 254 bytes.
func ValidEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>\"'") {
		return false
	}
	at := strings.IndexByte(s, '@')
	if at < 1 || at != strings.LastIndexByte(s, '@') {
		return false
	}
	domainPart := s[at+1:]
	dot := strings.LastIndexByte(domainPart, '.')
	return dot > 0 && dot < len(domainPart)-1
}

// Home is the tenant: cameras, members and audit events belong to one home.
type Home struct {
	ID        ID
	Name      string
	CreatedAt time.Time
}

// CameraRef names a camera at one generation. Guest camera scopes and grants
// are bound to a generation, so they die when the camera changes hands.
type CameraRef struct {
	Camera     ID    `json:"camera"`
	Generation int64 `json:"generation"`
}

// Membership is an account's role in a home. For guests, Cameras, Actions,
// Until and HistoryFrom narrow what the role allows.
type Membership struct {
	HomeID    ID
	AccountID ID
	Role      Role
	// Cameras limits a guest to these cameras at these generations; empty
	// means no camera at all (a guest is never given the whole home by
	// omission).
	Cameras []CameraRef
	// Actions limits a guest to these camera actions; empty means the
	// guest default (live and snapshot).
	Actions []Action
	// Until ends the membership; zero means no end.
	Until time.Time
	// HistoryFrom hides recordings made before it from a guest; zero
	// means no limit. It outlives role changes: a guest made member and
	// then guest again is limited as before.
	HistoryFrom time.Time
	CreatedAt   time.Time
}

// Expired reports whether the membership has ended at now.
func (m Membership) Expired(now time.Time) bool {
	return !m.Until.IsZero() && !now.Before(m.Until)
}

// MemberView is a membership joined with the member's email, for listings.
type MemberView struct {
	Membership
	Email string
}

// HomeView is a home joined with the caller's role in it, for listings.
type HomeView struct {
	Home
	Role Role
}

// CameraState is a camera's lifecycle state. The zero value is unknown.
type CameraState string

// Camera states.
const (
	CameraStateUnknown CameraState = ""
	// CameraStateRegistered: created in the registry; no device bound yet.
	CameraStateRegistered CameraState = "registered"
	CameraStateActive     CameraState = "active"
	CameraStateDisabled   CameraState = "disabled"
	// CameraStateUnclaimed: a device has enrolled and waits for a home to
	// claim it with its claim code. It belongs to no home.
	CameraStateUnclaimed CameraState = "unclaimed"
	// CameraStateClaimed: a device-backed camera owned by a home.
	CameraStateClaimed CameraState = "claimed"
	// CameraStateReset: the device was factory reset, or the camera left
	// its home (removed, transferred); its key is retired
	// and the record only anchors the data recorded under it.
	CameraStateReset CameraState = "reset"
	// CameraStatePulled: an IP camera the server pulls over RTSP; its
	// video is unsigned.
	CameraStatePulled CameraState = "pulled"
)

// Camera belongs to at most one home at a time: a device-backed camera
// that no home has claimed (or that left its home) has an empty HomeID.
// Generation increases whenever the camera changes hands — claim, removal,
// transfer, factory reset; everything bound to an older generation is dead.
type Camera struct {
	ID         ID
	HomeID     ID // empty while unclaimed
	Name       string
	Generation int64
	State      CameraState
	CreatedAt  time.Time

	// DeviceKey is the enrolled device's public key (PKIX DER); empty for
	// registry-only cameras and after a factory reset. It, not any ID the
	// device sends, identifies the device.
	DeviceKey []byte
	// AgentVersion is what the device's agent last reported.
	AgentVersion string
	// LastSeen is when the device last spoke to the server.
	LastSeen time.Time
	// PullSource is, for a camera the server pulls over RTSP itself (no
	// agent), its URL with credentials, sealed with the server key. It is
	// never logged or returned to clients.
	PullSource string
	// PullSnapshot is, for a pulled camera, the optional http(s) URL of its
	// JPEG snapshot, sealed and kept like PullSource.
	PullSnapshot string
}

// Pulled reports whether the server pulls the camera's video itself.
func (c Camera) Pulled() bool { return c.PullSource != "" }

// DeviceBacked reports whether an enrolled device stands behind the camera.
func (c Camera) DeviceBacked() bool { return len(c.DeviceKey) > 0 }

// ClaimCode is a device's one-time code, stored hashed, that lets a home's
// owner or admin claim it.
type ClaimCode struct {
	CameraID  ID
	Hash      []byte
	ExpiresAt time.Time
}

// Ref returns the camera at its current generation.
func (c Camera) Ref() CameraRef { return CameraRef{Camera: c.ID, Generation: c.Generation} }

// Invite is a single-use invitation into a home. Only the SHA-256 of its
// token is stored.
type Invite struct {
	ID        ID
	TokenHash []byte
	HomeID    ID
	Role      Role
	Cameras   []CameraRef
	Actions   []Action
	// AccessUntil ends the membership the invite creates; zero means none.
	AccessUntil time.Time
	// NoHistory hides recordings from before acceptance.
	NoHistory bool
	ExpiresAt time.Time // the link itself stops working then
	CreatedBy ID
	CreatedAt time.Time
	UsedAt    time.Time
	UsedBy    ID
}

// SessionKind tells browser sessions from personal API tokens.
type SessionKind string

// Session kinds.
const (
	SessionBrowser  SessionKind = "session"
	SessionAPIToken SessionKind = "api_token"
)

// Session is a login session or a personal API token. Only the SHA-256 of
// its token is stored.
type Session struct {
	ID        ID
	TokenHash []byte
	AccountID ID
	Kind      SessionKind
	Name      string // for API tokens: the owner's label
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time // absolute expiry
	Client    string    // client address at creation
	UserAgent string
	// ReauthAt is when the holder last re-authenticated in this session
	// (password or second factor); zero if never.
	ReauthAt time.Time
}

// Credential is a WebAuthn passkey registered to an account.
type Credential struct {
	ID        []byte // credential ID from the authenticator
	AccountID ID
	Name      string
	Data      []byte // the library's serialised credential (public key, flags, counters)
	CreatedAt time.Time
	LastUsed  time.Time
	// AddedBy is the session that registered the passkey; empty if
	// unknown.
	AddedBy ID
}

// Result is the outcome recorded in an audit event.
type Result string

// Audit results.
const (
	ResultAllowed Result = "allowed"
	ResultDenied  Result = "denied"
	ResultOK      Result = "ok"
	ResultFailed  Result = "failed"
)

// AuditEvent records a decision about a camera or a security event.
type AuditEvent struct {
	ID        ID
	Time      time.Time
	HomeID    ID // empty for events that belong to no home (e.g. login)
	CameraID  ID
	Principal ID // account ID, empty for anonymous
	Action    string
	Result    Result
	Client    string
	Detail    string // short, never secret
}

// AuditFilter selects audit events of one home.
type AuditFilter struct {
	HomeID    ID
	CameraID  ID
	Principal ID
	Action    string
	Since     time.Time // inclusive; zero for no bound
	Until     time.Time // exclusive; zero for no bound
	Limit     int       // at most this many, newest first; 0 means the default
}
