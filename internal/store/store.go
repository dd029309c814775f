// Package store defines the metadata store: accounts, homes, memberships,
// cameras, invitations, sessions, passkeys and the audit log.
//
// Backends live in subpackages (sqlite, postgres) and are opened by URL with
// Open in package app. Every backend passes the conformance suite in
// storetest.
//
// Contracts every backend keeps:
//
//   - All methods are safe for concurrent use by multiple goroutines and
//     processes sharing the same database.
//   - A lookup of something that does not exist returns an error for which
//     errors.Is(err, ErrNotFound) is true, and never a zero value with a nil
//     error.
//   - Creating something whose unique key exists returns ErrConflict.
//   - Operations documented as atomic either happen entirely or not at all,
//     also under concurrent callers (single-use tokens are used once).
//   - Times are stored with at least microsecond precision and returned in
//     UTC.
//   - Slices returned are owned by the caller.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

// Lease is a chore held by this process (Store.Lead).
type Lease interface {
	// Check reports an error when the lease may be lost (its holding
	// connection broke): the holder must stop the chore.
	Check(ctx context.Context) error
	// Release gives the chore up.
	Release()
}

// Errors returned by every backend.
var (
	// ErrNotFound: the thing asked for does not exist. It is
	// domain.ErrNotFound, so layers that must not import the store can
	// test for it.
	ErrNotFound = domain.ErrNotFound
	// ErrConflict: a unique key already exists, or a single-use thing was
	// already used (domain.ErrConflict).
	ErrConflict = domain.ErrConflict
	// ErrRetired: the device key was retired (its camera left a home)
	// and may never enrol again.
	ErrRetired = errors.New("store: device key retired")
	// ErrLastOwner: the change would leave a home without an owner.
	ErrLastOwner = errors.New("store: home would have no owner")
	// ErrNotEmpty: CreateFirstAccount found accounts already.
	ErrNotEmpty = errors.New("store: accounts exist")
)

// Audit list limits.
const (
	DefaultAuditLimit = 200
	MaxAuditLimit     = 1000
)

// Store is the metadata store.
type Store interface {
	// Atomically runs fn in one transaction: every change fn makes
	// through the store with the context it is given commits together,
	// or none does when fn returns an error. fn may run more than once
	// (the backend retries after a serialization conflict), so it must
	// do nothing but store calls and pure computation. Calls within fn
	// see its changes; Atomically within fn joins the same transaction.
	Atomically(ctx context.Context, fn func(ctx context.Context) error) error

	// CreateFirstAccount atomically creates the first account of an empty
	// store, its home and its owner membership. It returns ErrNotEmpty if
	// any account exists.
	CreateFirstAccount(ctx context.Context, a domain.Account, h domain.Home) error
	// CountAccounts returns the number of accounts.
	CountAccounts(ctx context.Context) (int, error)
	// CreateAccount adds an account; ErrConflict if the email is taken.
	CreateAccount(ctx context.Context, a domain.Account) error
	Account(ctx context.Context, id domain.ID) (domain.Account, error)
	AccountByEmail(ctx context.Context, email string) (domain.Account, error)
	// UpdateAccount replaces the mutable fields (password hash, TOTP,
	// flags) of an existing account.
	UpdateAccount(ctx context.Context, a domain.Account) error
	// SetRecoveryCodes replaces the account's recovery code hashes.
	SetRecoveryCodes(ctx context.Context, account domain.ID, hashes [][]byte) error
	// UseRecoveryCode atomically consumes a recovery code by its hash;
	// ErrNotFound if it is unknown or used.
	UseRecoveryCode(ctx context.Context, account domain.ID, hash []byte) error
	// CountRecoveryCodes returns the number of unused recovery codes.
	CountRecoveryCodes(ctx context.Context, account domain.ID) (int, error)
	// UseTOTPStep atomically records that the account used a TOTP code of
	// time step step; ErrConflict if it used that step or a later one
	// already (so a code is accepted at most once, also under racing
	// callers), ErrNotFound if there is no such account.
	UseTOTPStep(ctx context.Context, account domain.ID, step int64) error

	// CreateHome atomically creates a home with owner as its first owner.
	CreateHome(ctx context.Context, h domain.Home, owner domain.ID) error
	Home(ctx context.Context, id domain.ID) (domain.Home, error)
	// Homes lists the homes the account is a member of, with its role.
	Homes(ctx context.Context, account domain.ID) ([]domain.HomeView, error)

	// Membership returns the account's membership in the home.
	Membership(ctx context.Context, home, account domain.ID) (domain.Membership, error)
	// Members lists a home's memberships with the members' emails.
	Members(ctx context.Context, home domain.ID) ([]domain.MemberView, error)
	// UpdateMembership replaces an existing membership's role and limits;
	// ErrLastOwner if it would demote the home's last owner.
	UpdateMembership(ctx context.Context, m domain.Membership) error
	// DeleteMembership removes a membership; ErrLastOwner if it is the
	// home's last owner.
	DeleteMembership(ctx context.Context, home, account domain.ID) error

	CreateInvite(ctx context.Context, inv domain.Invite) error
	// InviteByTokenHash returns an invite whether used or not.
	InviteByTokenHash(ctx context.Context, hash []byte) (domain.Invite, error)
	// AcceptInvite atomically marks an unused, unexpired invite used by the
	// account and creates the membership it describes. It returns
	// ErrNotFound for an unknown or expired invite and ErrConflict if it
	// was used already or the account is a member of the home.
	AcceptInvite(ctx context.Context, hash []byte, account domain.ID, now time.Time) (domain.Membership, error)

	CreateCamera(ctx context.Context, c domain.Camera) error
	Camera(ctx context.Context, id domain.ID) (domain.Camera, error)
	// Cameras lists a home's cameras, ordered by name.
	Cameras(ctx context.Context, home domain.ID) ([]domain.Camera, error)
	// RenameCamera sets a camera's name.
	RenameCamera(ctx context.Context, id domain.ID, name string) error
	DeleteCamera(ctx context.Context, id domain.ID) error
	// DeleteHome deletes a home with its memberships, invitations, links
	// and recording settings; ErrConflict while a camera is still in it.
	DeleteHome(ctx context.Context, id domain.ID) error
	// DeleteAccount deletes an account with its sessions, credentials,
	// memberships and links; ErrLastOwner while it is the only owner of
	// a home.
	DeleteAccount(ctx context.Context, id domain.ID) error

	// EnrollDevice atomically creates an unclaimed, device-backed camera
	// (c.DeviceKey set, c.HomeID empty) and its claim code. ErrConflict if
	// the device key is enrolled already, ErrRetired if it was retired.
	EnrollDevice(ctx context.Context, c domain.Camera, code domain.ClaimCode) error
	// CameraByDeviceKey finds the camera whose enrolled device has key.
	CameraByDeviceKey(ctx context.Context, key []byte) (domain.Camera, error)
	// SetClaimCode replaces the claim code of an unclaimed camera.
	// ErrNotFound if there is no such camera, ErrConflict if a home owns
	// it.
	SetClaimCode(ctx context.Context, code domain.ClaimCode) error
	// ClaimCamera atomically uses the claim code with hash: the camera
	// joins home under name with its generation increased, and the code is
	// gone. ErrNotFound if no unexpired code has that hash — so of racing
	// claims exactly one succeeds.
	ClaimCamera(ctx context.Context, hash []byte, home domain.ID, name string, now time.Time) (domain.Camera, error)
	// ReleaseCamera atomically takes a device-backed camera at generation
	// out of its home: no home, generation increased, state set, claim
	// code removed, and with retireKey its device key forgotten and
	// remembered as retired (EnrollDevice refuses it from then on). It
	// returns the camera as it is now. ErrConflict if the camera's
	// generation is no longer generation; ErrNotFound if it is unknown.
	ReleaseCamera(ctx context.Context, id domain.ID, generation int64, state domain.CameraState, retireKey bool) (domain.Camera, error)
	// CountUnclaimedCameras counts the device-backed cameras that no home
	// has ever claimed (state unclaimed, generation 0).
	CountUnclaimedCameras(ctx context.Context) (int, error)
	// PurgeUnclaimedCameras deletes, with their claim codes, the cameras
	// that no home has ever claimed and that were enrolled before
	// enrolledBefore; a camera claimed meanwhile stays. It returns how
	// many it deleted.
	PurgeUnclaimedCameras(ctx context.Context, enrolledBefore time.Time) (int, error)
	// TouchCamera records that the camera's device was seen at t running
	// agentVersion.
	TouchCamera(ctx context.Context, id domain.ID, t time.Time, agentVersion string) error

	CreateSession(ctx context.Context, s domain.Session) error
	SessionByTokenHash(ctx context.Context, hash []byte) (domain.Session, error)
	// TouchSession records use of a session at t.
	TouchSession(ctx context.Context, id domain.ID, t time.Time) error
	// MarkReauth records that the holder of the account's session id
	// re-authenticated at t; ErrNotFound if the account has no such
	// session.
	MarkReauth(ctx context.Context, account, id domain.ID, t time.Time) error
	Sessions(ctx context.Context, account domain.ID) ([]domain.Session, error)
	// DeleteSession removes one of the account's sessions; ErrNotFound if
	// the account has no such session.
	DeleteSession(ctx context.Context, account, id domain.ID) error
	// DeleteOtherSessions removes the account's browser sessions and API
	// tokens except keep, and returns how many it removed.
	DeleteOtherSessions(ctx context.Context, account, keep domain.ID) (int, error)

	AddCredential(ctx context.Context, c domain.Credential) error
	Credentials(ctx context.Context, account domain.ID) ([]domain.Credential, error)
	// CredentialByID finds a passkey by its credential ID.
	CredentialByID(ctx context.Context, id []byte) (domain.Credential, error)
	// UpdateCredential stores new data (sign count, flags) and last use.
	UpdateCredential(ctx context.Context, c domain.Credential) error
	DeleteCredential(ctx context.Context, account domain.ID, id []byte) error
	// DeleteCredentialsAddedSince removes the account's passkeys created
	// at or after since by any session but keep (including those whose
	// session is unknown), and returns them.
	DeleteCredentialsAddedSince(ctx context.Context, account, keep domain.ID, since time.Time) ([]domain.Credential, error)

	AppendAudit(ctx context.Context, e domain.AuditEvent) error
	// Audit lists the events of f.HomeID (an empty HomeID means events
	// that belong to no home) matching f's other set fields, newest first:
	// at most f.Limit, DefaultAuditLimit when it is 0, never more than
	// MaxAuditLimit.
	Audit(ctx context.Context, f domain.AuditFilter) ([]domain.AuditEvent, error)

	// CreateIntegration registers an integration; ErrConflict if its
	// name or client ID is taken.
	CreateIntegration(ctx context.Context, in domain.Integration) error
	Integration(ctx context.Context, id domain.ID) (domain.Integration, error)
	IntegrationByClientID(ctx context.Context, clientID string) (domain.Integration, error)
	IntegrationByName(ctx context.Context, name string) (domain.Integration, error)
	// Integrations lists every integration by name.
	Integrations(ctx context.Context) ([]domain.Integration, error)
	// SetIntegrationEnabled turns an integration on or off. Turning it
	// off atomically revokes every live link of it (at), and returns
	// them; turning it on revives none.
	SetIntegrationEnabled(ctx context.Context, id domain.ID, enabled bool, at time.Time) ([]domain.Link, error)

	CreateLink(ctx context.Context, l domain.Link) error
	Link(ctx context.Context, id domain.ID) (domain.Link, error)
	// Links lists the links f matches, newest first.
	Links(ctx context.Context, f LinkFilter) ([]domain.Link, error)
	// RevokeLinks atomically revokes the live links f matches (at least
	// one of its IDs must be set) and returns them.
	RevokeLinks(ctx context.Context, f LinkFilter, at time.Time) ([]domain.Link, error)
	// TouchLink records a use of a link.
	TouchLink(ctx context.Context, id domain.ID, at time.Time) error

	// CreateOAuthToken stores an OAuth grant; ErrConflict if its kind
	// and signature exist.
	CreateOAuthToken(ctx context.Context, t domain.OAuthToken) error
	// OAuthToken returns the grant of kind with signature, active or not.
	OAuthToken(ctx context.Context, kind domain.OAuthTokenKind, signature string) (domain.OAuthToken, error)
	// DeactivateOAuthTokens marks the grants f matches inactive and
	// returns how many were active.
	DeactivateOAuthTokens(ctx context.Context, f OAuthTokenFilter) (int, error)
	// DeleteOAuthTokens deletes the grants f matches and returns how many.
	DeleteOAuthTokens(ctx context.Context, f OAuthTokenFilter) (int, error)

	// CreateDataKey stores a wrapped data key.
	CreateDataKey(ctx context.Context, k domain.DataKey) error
	// DataKey returns a data key, destroyed or not.
	DataKey(ctx context.Context, id domain.ID) (domain.DataKey, error)
	// DataKeys lists the data keys of a camera generation, newest first.
	DataKeys(ctx context.Context, camera domain.CameraRef) ([]domain.DataKey, error)
	// DestroyDataKeys erases the wrapped material of every live data key
	// of the camera generation (at) and returns how many it destroyed.
	DestroyDataKeys(ctx context.Context, camera domain.CameraRef, at time.Time) (int, error)
	// ReplaceWrappedKeys replaces the wrapped material of live data keys
	// (key rotation), all or none; ErrNotFound if one is gone or
	// destroyed.
	ReplaceWrappedKeys(ctx context.Context, wrapped map[domain.ID][]byte) error
	// AllDataKeys lists every live data key.
	AllDataKeys(ctx context.Context) ([]domain.DataKey, error)
	// Rekey rewrites, in one transaction (or in batches, see
	// Rekeying.Batch), everything sealed with the server key: live data
	// keys' wrapped material, TOTP seeds and pulled cameras' credentials,
	// through r, and returns how many values it rewrote. In one
	// transaction, an error from r changes nothing.
	Rekey(ctx context.Context, r Rekeying) (int, error)

	// RecordingSettings returns a camera's recording settings;
	// ErrNotFound if its owners never chose any.
	RecordingSettings(ctx context.Context, camera domain.ID) (domain.RecordingSettings, error)
	// SetRecordingSettings creates or replaces a camera's settings.
	SetRecordingSettings(ctx context.Context, s domain.RecordingSettings) error
	// RecordingCameras lists the settings of every camera that records.
	RecordingCameras(ctx context.Context) ([]domain.RecordingSettings, error)
	// HomeRecording returns a home's recording settings; ErrNotFound if
	// its owners never chose any.
	HomeRecording(ctx context.Context, home domain.ID) (domain.HomeRecording, error)
	// SetHomeRecording creates or replaces a home's settings.
	SetHomeRecording(ctx context.Context, h domain.HomeRecording) error

	// CreateSegment indexes a segment: a stored one, or one whose bytes
	// seg.UploadingBy is storing.
	CreateSegment(ctx context.Context, seg domain.Segment) error
	// MarkSegmentStored records that a segment's bytes are stored;
	// ErrNotFound when it is no longer indexed (deleted meanwhile).
	MarkSegmentStored(ctx context.Context, id domain.ID) error
	// Segment returns one stored segment.
	Segment(ctx context.Context, id domain.ID) (domain.Segment, error)
	// Segments lists the segments f selects, oldest first.
	Segments(ctx context.Context, f SegmentFilter) ([]domain.Segment, error)
	// DeleteSegment removes a segment from the index; ErrNotFound if it
	// is not there.
	DeleteSegment(ctx context.Context, id domain.ID) error
	// SegmentUsage sums the stored segments by camera generation and
	// home.
	SegmentUsage(ctx context.Context) ([]SegmentUsage, error)

	// SchedulePurge schedules a camera generation's recordings to be
	// shredded; an earlier schedule for it is kept if it is due sooner.
	SchedulePurge(ctx context.Context, p domain.Purge) error
	// DuePurges lists the purges due at now, soonest first.
	DuePurges(ctx context.Context, now time.Time) ([]domain.Purge, error)
	// Purges lists the purges of a home, soonest first.
	Purges(ctx context.Context, home domain.ID) ([]domain.Purge, error)
	// DeletePurge removes a done purge.
	DeletePurge(ctx context.Context, camera domain.CameraRef) error

	// ClusterIdentity checks a node's server keys against the
	// installation's. macs holds a MAC that only the key can make, by
	// server key ID. When none is recorded yet, all are; otherwise at
	// least one must equal the one recorded under its ID and none may
	// differ from it, else ErrConflict, and those not recorded yet are
	// then recorded (a key added to the ring). Concurrent callers take
	// turns. A node that shares no key with the cluster, or holds another
	// key under one of its IDs, must not run.
	ClusterIdentity(ctx context.Context, macs map[int][]byte, at time.Time) error
	// Lead leases the chore name to this process, or returns nil when
	// another holds it. A lease lasts until Release, or until its holder
	// dies: on PostgreSQL it is a session advisory lock, which the
	// database drops with the holder's connection.
	Lead(ctx context.Context, name string) (Lease, error)

	// ThrottleFail counts a failure of the throttle key at now, after
	// forgetting failures whose last was more than forget ago, and
	// returns the count; concurrent callers each count.
	ThrottleFail(ctx context.Context, key string, now time.Time, forget time.Duration) (int, error)
	// ThrottleBlock makes key wait until until, never shortening a
	// longer wait.
	ThrottleBlock(ctx context.Context, key string, until time.Time) error
	// ThrottleUntil returns the latest end of a wait among keys; zero
	// for none.
	ThrottleUntil(ctx context.Context, keys []string) (time.Time, error)
	// ThrottleForget drops keys' counts.
	ThrottleForget(ctx context.Context, keys []string) error
	// PruneThrottle drops counts idle and unblocked since before.
	PruneThrottle(ctx context.Context, before time.Time) (int, error)

	// AppendOutbox keeps an event for the nodes that poll for them and
	// returns its number.
	AppendOutbox(ctx context.Context, e OutboxEntry) (int64, error)
	// OutboxAfter returns up to limit entries numbered above after, in
	// order of their numbers.
	OutboxAfter(ctx context.Context, after int64, limit int) ([]OutboxEntry, error)
	// OutboxHead returns the highest entry number; 0 for none.
	OutboxHead(ctx context.Context) (int64, error)
	// PruneOutbox drops entries written before before.
	PruneOutbox(ctx context.Context, before time.Time) (int, error)

	// CreateExport records a requested export, unless its account has
	// max exports or more already (max > 0): ErrConflict then, also
	// when the ID exists. Of racing creators, also on other nodes, no
	// more than max succeed.
	CreateExport(ctx context.Context, e Export, max int) error
	// Export returns one export.
	Export(ctx context.Context, id domain.ID) (Export, error)
	// Exports lists the exports f selects, newest first.
	Exports(ctx context.Context, f ExportFilter) ([]Export, error)
	// UpdateExport writes e's State, Progress, Size, KeyID and Updated
	// when the export's state is from; ErrNotFound if it is gone or its
	// state is no longer from.
	UpdateExport(ctx context.Context, e Export, from string) error
	// DeleteExport removes an export; ErrNotFound if it is not there.
	DeleteExport(ctx context.Context, id domain.ID) error

	// PutOnce stores a single-use secret by its hash; ErrConflict if
	// o.Kind and o.KeyHash exist.
	PutOnce(ctx context.Context, o Once) error
	// TakeOnce atomically removes the single-use secret of kind with
	// keyHash and returns it; ErrNotFound if it is unknown, taken, or
	// expired at now. Of racing takers, also on other nodes, exactly one
	// gets it.
	TakeOnce(ctx context.Context, kind string, keyHash []byte, now time.Time) (Once, error)
	// CountOnce counts the unexpired single-use secrets of kind held by
	// owner (every one of kind when owner is empty), and returns the
	// soonest expiry among them (zero for none).
	CountOnce(ctx context.Context, kind string, owner domain.ID, now time.Time) (n int, soonest time.Time, err error)
	// DropOnce drops every single-use secret of kind held by owner and
	// returns how many.
	DropOnce(ctx context.Context, kind string, owner domain.ID) (int, error)
	// PurgeOnce drops single-use secrets expired at now and returns how
	// many.
	PurgeOnce(ctx context.Context, now time.Time) (int, error)

	Close() error
}

// OAuthTokenFilter selects OAuth grants (domain.OAuthTokenFilter).
type OAuthTokenFilter = domain.OAuthTokenFilter

// LinkFilter selects links (domain.LinkFilter).
type LinkFilter = domain.LinkFilter

// SegmentFilter selects segments by every field set. Since and Until
// select segments that overlap [Since, Until); EndBefore those that ended
// at or before it.
type SegmentFilter struct {
	Camera domain.ID
	// Generation, with Camera, selects one generation; AnyGeneration
	// selects all.
	Generation   int64
	HomeID       domain.ID
	Since, Until time.Time
	EndBefore    time.Time
	Limit        int
	// Upload selects by upload state; the zero value selects stored
	// segments only.
	Upload UploadState
}

// UploadState selects segments by whether their bytes are stored yet.
type UploadState int

// Upload states in a SegmentFilter.
const (
	StoredOnly    UploadState = iota // bytes stored: what may be played
	UploadingOnly                    // bytes still being stored
	AnyUpload                        // both
)

// OutboxEntry is an event (a withdrawal of live access, a deletion of
// recordings) as the outbox keeps it; the fields are those of the events
// package's Event. Numbers grow with each entry, though entries may
// become visible out of order.
type OutboxEntry struct {
	Seq        int64
	Kind       string
	Account    domain.ID
	Camera     domain.ID
	Generation int64
	Link       domain.ID
	// Since and Until are the recording times a deletion covers; zero
	// is unbounded.
	Since, Until time.Time
	At           time.Time
}

// Export is a requested export of recordings; its bytes are sealed in
// blob storage under its ID. Every node reads it: the one building it
// writes its progress now and then.
type Export struct {
	ID domain.ID
	// Account is the requester, the only one who sees it.
	Account      domain.ID
	Camera       domain.CameraRef
	HomeID       domain.ID
	Since, Until time.Time
	Created      time.Time
	// State is the service's (running, done, failed), opaque to the
	// store.
	State string
	// Progress is per mille.
	Progress int
	// Size and KeyID, once done, are the plaintext size and the data
	// key it is sealed with.
	Size  int64
	KeyID domain.ID
	// Updated is when State or Progress was last written.
	Updated time.Time
}

// ExportFilter selects exports by every field set; the zero filter
// selects all.
type ExportFilter struct {
	Account domain.ID
	Camera  domain.ID
	HomeID  domain.ID
	State   string
	// CreatedBefore selects exports created before it.
	CreatedBefore time.Time
}

// AnyGeneration in a SegmentFilter selects every generation.
const AnyGeneration = -1

// SegmentUsage is the index summed over one camera generation in a home.
type SegmentUsage struct {
	Camera domain.CameraRef
	HomeID domain.ID
	Count  int
	Bytes  int64
	Oldest time.Time
}

// Once is a single-use secret (a stream credential, a challenge, a
// one-time link) kept by the hash of the secret, never the secret: shared
// by every node, so it works at any of them, and only once.
type Once struct {
	// Kind separates the uses, e.g. "stream" or "device.nonce".
	Kind    string
	KeyHash []byte
	// Owner is the account it belongs to, if any (for per-account caps).
	Owner domain.ID
	// Payload is what the use needs back, opaque to the store.
	Payload []byte
	Expires time.Time
}

// Rekeying says how to rewrite each kind of sealed value in Rekey.
type Rekeying struct {
	DataKey func(k domain.DataKey) ([]byte, error)
	// Sealed rewrites a sealed string kept under context (as the
	// service seals it).
	Sealed func(sealed, context string) (string, error)
	// Batch, when above zero, rewrites in transactions of at most Batch
	// values each instead of one, so that servers may run meanwhile: a
	// value is written only if it has not changed since it was read (a
	// value written or a key shredded meanwhile stays as it is), and a
	// value DataKey or Sealed returns unchanged is not written. An error
	// then keeps the batches done before it.
	Batch int
}
