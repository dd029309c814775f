// Package service holds camvault's use cases. Every method takes the
// Caller, loads the facts the policy needs, asks package authz, records the
// decision in the audit log when it concerns a camera or is a denial, and
// only then acts on the store.
//
// Adapters (the JSON API, the web UI) call the service and never the store.
// Errors are *Error values whose Kind the adapter maps to a status and whose
// Message is safe to show; their Err is for logs only.
//
// A Service is safe for concurrent use.
//
// Where things are:
//
//	service.go         Service, Config, the principal, authorizeHome/authorizeCamera, audit
//	errors.go          error kinds and their constructors
//	auth.go            setup, sign-in (password, TOTP, recovery codes), sessions, Authenticate
//	reauth.go          re-authentication before credential changes
//	account.go         the caller's own account: password, sessions, API tokens, TOTP
//	passkeys.go        passkeys (WebAuthn), also passwordless sign-in
//	knowndevice.go     known-browser cookies that spare the account-wide sign-in delay
//	loginlink.go       one-time sign-in links
//	throttle.go        throttle counts kept in the store; housekeeping
//	rates.go           bounded per-key rate limiters
//	abuse.go           limits on anonymous audit rows and unclaimed enrolments
//	homes.go           homes, members, invitations, guest scopes
//	deletion.go        deleting a home or an account (crypto-shredding)
//	cameras.go         cameras: list, view, rename, remove; the home's audit log
//	auditlog.go        the audit log with names; the account's own events
//	devices.go         device enrolment, claim, certificates, transfer, reset
//	pull.go            IP cameras the server pulls; pullrate.go limits adding them
//	live.go            live viewing: grants, withdrawals of live access
//	streams.go         single-use stream credentials for WHEP, LL-HLS and RTSPS
//	once.go            single-use secrets kept in the store, for every node
//	snapshot.go        snapshots, from devices or pulled cameras (ingest fetches snapshot URLs)
//	recorder.go        what the recorder records (the policy decides), kicks, event triggers
//	settings.go        cameras' and homes' recording settings
//	archive.go         who reaches which generation's recordings (the Grants archive reads take)
//	playback.go        recording listings, playback segments, timeline stills
//	retention.go       deleting recordings, crypto-shredding after the export window, retention limits
//	former.go          former camera generations' recordings, for owners
//	exports.go         exports and their download links
//	links.go           integration links (consent, revocation, kill switches)
//	integrations.go    registered integrations
//	secrets.go         secrets sealed with the server keys, and resealing them
package service

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/netguard"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/serverkey"
	"github.com/camvault/camvault/internal/store"
)

// Config configures a Service.
type Config struct {
	Store  store.Store
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// BaseURL prefixes setup and invitation links, without trailing slash.
	BaseURL string
	// SessionIdle and SessionMax bound browser sessions.
	SessionIdle, SessionMax time.Duration
	// OpenSignup lets anyone create an account.
	OpenSignup bool
	// Password hashing parameters; zero means authn.DefaultParams().
	Password authn.Params
	// Events, if set, is told about security-relevant outcomes (for
	// metrics). It must not block.
	Events func(name string, result domain.Result)
	// SecretKey is the per-install 32-byte key that seals secrets kept in
	// the store (TOTP seeds). Required unless ServerKeys is set.
	SecretKey []byte
	// ServerKeys, if set, are the server keys by ID in place of
	// SecretKey: secrets are sealed and tokens signed with the current
	// one, and read with whichever one they name.
	ServerKeys *serverkey.Ring
	// WebAuthn configures passkeys; nil disables them.
	WebAuthn *WebAuthnConfig
	// Devices configures device enrolment and certificates; without a CA
	// devices cannot enrol.
	Devices DeviceConfig
	// Video says the server carries live video (a stream hub that
	// package live and the recorder read with the service's grants).
	Video bool
	// Stills decodes a pulled camera's live keyframe to a snapshot
	// (package live/snapshot); nil when the server cannot (no video, or
	// no ffmpeg).
	Stills Stills
	// Live says where viewers reach live video.
	Live LiveConfig
	// Bus carries withdrawals of live access and deletions of
	// recordings to every process serving video; nil means an
	// in-process bus. The service publishes on it; package live's
	// subscriber applies withdrawals to the hub, ForgetDeleted
	// deletions to the archive.
	Bus events.Bus
	// Withdrawn, if set, applies a withdrawal in this process only: when
	// the bus fails, and for link revocations found in the store. The
	// wiring sets it to package live's subscriber.
	Withdrawn func(events.Event)
	// Node names this process among the nodes sharing the store (its
	// setup link replaces only its own); empty on a single server.
	Node string
	// PullNetworks are the networks the server may connect to for
	// pulled IP cameras; the zero policy allows none.
	PullNetworks netguard.Policy
	// FetchSnapshot gets a JPEG from a pulled camera's snapshot URL,
	// dialling only addresses nets allows; its errors must not quote the
	// URL (they are logged). Nil means pulled cameras' snapshot URLs
	// give no picture.
	FetchSnapshot func(ctx context.Context, nets netguard.Policy, url string) ([]byte, error)
	// Recordings is the recording archive; nil when the server keeps no
	// recordings.
	Recordings *record.Archive
	// AnonymousAudit bounds the audit rows of anonymous callers.
	AnonymousAudit AuditLimit
}

// Stills makes a JPEG of the current keyframe of a grant's camera. Its
// errors are *Error values.
type Stills interface {
	Still(ctx context.Context, g authz.Grant) ([]byte, error)
}

// Service implements camvault's use cases.
type Service struct {
	st       store.Store
	log      *slog.Logger
	now      func() time.Time
	cfg      Config
	throttle *authn.Throttle
	passkeys *passkeys // nil when disabled
	box      *secretBox
	// deviceKeys sign known-device tokens, by server key ID; the current
	// one signs new tokens.
	deviceKeys  map[int][]byte
	deviceKeyID int
	dev         devices
	snaps       snapshots
	rec         recordings
	auditLim    auditLimits
	pull        *rates // pulled-camera additions per account and home
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("service: no store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Password == (authn.Params{}) {
		cfg.Password = authn.DefaultParams()
	}
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = 7 * 24 * time.Hour
	}
	if cfg.SessionMax == 0 {
		cfg.SessionMax = 30 * 24 * time.Hour
	}
	if cfg.Events == nil {
		cfg.Events = func(string, domain.Result) {}
	}
	ring, err := ringOf(cfg.ServerKeys, cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	box, err := newSecretBox(ring)
	if err != nil {
		return nil, err
	}
	s := &Service{st: cfg.Store, log: cfg.Logger, now: cfg.Now, cfg: cfg, throttle: authn.NewSharedThrottle(cfg.Now, storeCounts{cfg.Store}), box: box}
	s.deviceKeys, s.deviceKeyID = newKnownDeviceKeys(ring)
	s.dev = newDevices(cfg.Devices)
	s.pull = pullLimits()
	if s.cfg.Bus == nil {
		s.cfg.Bus = &events.Local{}
	}
	if cfg.WebAuthn != nil {
		pk, err := newPasskeys(*cfg.WebAuthn)
		if err != nil {
			return nil, err
		}
		s.passkeys = pk
	}
	return s, nil
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error {
	if _, err := s.st.CountAccounts(ctx); err != nil {
		return internal("store not ready", err)
	}
	return nil
}

// Caller is who is making a request and from where. The zero Account is
// anonymous.
type Caller struct {
	Account   domain.Account
	SessionID domain.ID
	Addr      string
	UserAgent string
	// Link, when an integration acts for the account, is the link it
	// acts under: every decision is then the intersection of the link
	// and the account's rights, and re-authorization goes through it
	// again.
	Link domain.ID
	// ReauthAt is when the session last re-authenticated (password or
	// second factor); Authenticate and Reauthenticate set it.
	ReauthAt time.Time
}

// Anonymous reports whether no account is signed in.
func (c Caller) Anonymous() bool { return c.Account.ID == "" }

func (c Caller) principal() authz.Principal {
	return authz.Principal{Account: c.Account.ID, Disabled: c.Account.Disabled, InstanceAdmin: c.Account.InstanceAdmin}
}

// audit records an event. A failure to record is logged loudly; it does not
// fail the request, whose outcome is already decided.
func (s *Service) audit(ctx context.Context, c Caller, e domain.AuditEvent) {
	e.ID = domain.NewID()
	e.Time = s.now()
	if e.Principal == "" {
		e.Principal = c.Account.ID
	}
	e.Client = c.Addr
	// Anonymous events of no home are bounded: beyond the limit they are
	// only counted, and summed up by FlushAuditSummary.
	if c.Anonymous() && e.HomeID == "" && !s.anonymousAuditAllowed(c.Addr, e.Action) {
		s.cfg.Events(EventAuditSuppressed, e.Result)
		return
	}
	if err := s.st.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("audit write failed", "action", e.Action, "home", e.HomeID, "err", err)
	}
	s.cfg.Events(e.Action, e.Result)
}

// RecordDenied audits a request refused before it reached a use case (no
// credentials). It belongs to no home.
func (s *Service) RecordDenied(ctx context.Context, c Caller, action domain.Action, detail string) {
	s.audit(ctx, c, domain.AuditEvent{Action: string(action), Result: domain.ResultDenied, Detail: detail})
}

// membership loads the caller's membership in home; nil if there is none.
func (s *Service) membership(ctx context.Context, c Caller, home domain.ID) (*domain.Membership, error) {
	if c.Anonymous() {
		return nil, nil
	}
	m, err := s.st.Membership(ctx, home, c.Account.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, internal("load membership", err)
	}
	return &m, nil
}

// denial turns a policy refusal into the error the caller sees: a resource
// the caller cannot see at all answers "not found", exactly like one that
// does not exist; one it can see but may not change answers "forbidden".
func denial(c Caller, d authz.Decision) error {
	switch d.Reason {
	case authz.ReasonAnonymous:
		return unauthenticated("sign in first")
	case authz.ReasonRole, authz.ReasonActionScope, authz.ReasonTargetRole:
		return forbidden()
	}
	return notFound()
}

// authorizeHome loads a home and decides a home action on it.
func (s *Service) authorizeHome(ctx context.Context, c Caller, id domain.ID, a domain.Action, target domain.Role) (domain.Home, *domain.Membership, error) {
	if !domain.ValidID(string(id)) {
		return domain.Home{}, nil, notFound()
	}
	h, err := s.st.Home(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return domain.Home{}, nil, notFound()
	}
	if err != nil {
		return domain.Home{}, nil, internal("load home", err)
	}
	m, err := s.membership(ctx, c, id)
	if err != nil {
		return domain.Home{}, nil, err
	}
	via, _, err := s.via(ctx, c)
	if err != nil {
		return domain.Home{}, nil, err
	}
	d := authz.Decide(c.principal(), a, authz.Resource{Home: id, TargetRole: target}, authz.Facts{Now: s.now(), Membership: m, Via: via})
	if !d.Allowed {
		s.audit(ctx, c, domain.AuditEvent{HomeID: id, Action: string(a), Result: domain.ResultDenied, Detail: string(d.Reason)})
		return domain.Home{}, nil, denial(c, d)
	}
	return h, m, nil
}

// cameraAccess is the outcome of authorizing a camera action.
type cameraAccess struct {
	camera  domain.Camera
	grant   authz.Grant
	actions []domain.Action
}

// authorizeCamera loads a camera and decides a camera action on it. Every
// decision, allowed or denied, is audited. auditAction names the operation
// in the audit log when it is more specific than the policy action.
// via loads the link a caller acting through an integration acts under,
// and says so for the audit log ("via Kitchen display"). A link or
// integration that is gone yields a Via that allows nothing.
func (s *Service) via(ctx context.Context, c Caller) (*authz.Via, string, error) {
	return s.viaTouch(ctx, c, true)
}

// viaTouch is via; touch records the use of the link.
func (s *Service) viaTouch(ctx context.Context, c Caller, touch bool) (*authz.Via, string, error) {
	if c.Link == "" {
		return nil, "", nil
	}
	l, err := s.st.Link(ctx, c.Link)
	if errors.Is(err, store.ErrNotFound) {
		return &authz.Via{}, "via a removed link", nil
	}
	if err != nil {
		return nil, "", internal("load link", err)
	}
	in, err := s.st.Integration(ctx, l.IntegrationID)
	if errors.Is(err, store.ErrNotFound) {
		return &authz.Via{Link: l}, "via a removed integration", nil
	}
	if err != nil {
		return nil, "", internal("load integration", err)
	}
	if touch && l.Live() && s.now().Sub(l.LastUsedAt) > time.Minute {
		if err := s.st.TouchLink(ctx, l.ID, s.now()); err != nil {
			s.log.Warn("touch link failed", "err", err)
		}
	}
	return &authz.Via{Link: l, Integration: in}, "via " + in.Name + " (linked by " + c.Account.Email + ")", nil
}

func (s *Service) authorizeCamera(ctx context.Context, c Caller, id domain.ID, a domain.Action, auditAction string) (cameraAccess, error) {
	if !domain.ValidID(string(id)) {
		return cameraAccess{}, notFound()
	}
	cam, err := s.st.Camera(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return cameraAccess{}, notFound()
	}
	if err != nil {
		return cameraAccess{}, internal("load camera", err)
	}
	m, err := s.membership(ctx, c, cam.HomeID)
	if err != nil {
		return cameraAccess{}, err
	}
	via, through, err := s.via(ctx, c)
	if err != nil {
		return cameraAccess{}, err
	}
	r := authz.Resource{Home: cam.HomeID, Camera: &cam}
	f := authz.Facts{Now: s.now(), Membership: m, Via: via}
	if auditAction == "" {
		auditAction = string(a)
	}
	ev := domain.AuditEvent{HomeID: cam.HomeID, CameraID: cam.ID, Action: auditAction, Detail: through}
	g, d := authz.Authorize(c.principal(), a, r, f)
	if !d.Allowed {
		ev.Result, ev.Detail = domain.ResultDenied, strings.TrimSpace(string(d.Reason)+" "+through)
		s.audit(ctx, c, ev)
		return cameraAccess{}, denial(c, d)
	}
	ev.Result = domain.ResultAllowed
	s.audit(ctx, c, ev)
	return cameraAccess{camera: cam, grant: g, actions: g.Actions()}, nil
}
