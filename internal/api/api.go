// Package api is camvault's JSON API v1 under /api/v1, described in
// api/openapi.yaml at the repository root.
//
// Browsers authenticate with the session cookie, programs with
// "Authorization: Bearer <token>" carrying a session token from login or a
// personal API token. Errors are {"error":{"code","message"}}. Bodies over
// 1 MiB answer 413 and unknown JSON fields 400. A resource of another home
// answers 404, exactly like one that does not exist.
//
// The package only adapts HTTP to package service; it never touches the
// store.
package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/service"
)

// Config configures the API.
type Config struct {
	Service *service.Service
	Logger  *slog.Logger
	// TLS marks cookies Secure.
	TLS bool
	// SessionMax is the session cookie's lifetime.
	SessionMax time.Duration
}

// API serves /api/v1.
type API struct {
	svc *service.Service
	log *slog.Logger
	cfg Config
}

// New returns the API.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{svc: cfg.Service, log: cfg.Logger, cfg: cfg}
}

// Routes returns the API's entries for the route table.
func (a *API) Routes() []httpserver.Route {
	const (
		setupReason  = "first-run setup: the one-time setup token printed by the server is the credential"
		loginReason  = "sign-in: the submitted credentials are checked, throttled and audited"
		inviteReason = "the single-use invitation token in the path is the credential"
		deviceReason = "devices prove possession of their own key by signing a single-use server nonce; rate-limited per address"
	)
	return append([]httpserver.Route{
		{Pattern: "POST /api/v1/setup", Public: setupReason, Handler: a.setup},
		{Pattern: "POST /api/v1/login", Public: loginReason, Handler: a.login},
		{Pattern: "POST /api/v1/login/passkey/begin", Public: loginReason, Handler: a.passkeyLoginBegin},
		{Pattern: "POST /api/v1/login/passkey/finish", Public: loginReason, Handler: a.passkeyLoginFinish},
		{Pattern: "POST /api/v1/signup", Public: "open sign-up, answers 404 unless the instance enables it", Handler: a.signup},
		{Pattern: "POST /api/v1/logout", Action: domain.ActionAccountSelf, Handler: a.logout},
		{Pattern: "GET /api/v1/me", Action: domain.ActionAccountSelf, Handler: a.me},
		{Pattern: "DELETE /api/v1/me", Action: domain.ActionAccountSelf, Handler: a.deleteAccount},
		{Pattern: "POST /api/v1/me/reauth", Action: domain.ActionAccountSelf, Handler: a.reauth},
		{Pattern: "POST /api/v1/me/password", Action: domain.ActionAccountSelf, Handler: a.changePassword},
		{Pattern: "GET /api/v1/me/sessions", Action: domain.ActionAccountSelf, Handler: a.sessions},
		{Pattern: "GET /api/v1/me/events", Action: domain.ActionAccountSelf, Handler: a.accountEvents},
		{Pattern: "DELETE /api/v1/me/sessions/{session}", Action: domain.ActionAccountSelf, Handler: a.revokeSession},
		{Pattern: "POST /api/v1/me/tokens", Action: domain.ActionAccountSelf, Handler: a.createToken},
		{Pattern: "POST /api/v1/me/totp", Action: domain.ActionAccountSelf, Handler: a.beginTOTP},
		{Pattern: "POST /api/v1/me/totp/confirm", Action: domain.ActionAccountSelf, Handler: a.confirmTOTP},
		{Pattern: "POST /api/v1/me/totp/disable", Action: domain.ActionAccountSelf, Handler: a.disableTOTP},
		{Pattern: "GET /api/v1/me/passkeys", Action: domain.ActionAccountSelf, Handler: a.passkeys},
		{Pattern: "POST /api/v1/me/passkeys/begin", Action: domain.ActionAccountSelf, Handler: a.passkeyAddBegin},
		{Pattern: "POST /api/v1/me/passkeys/finish", Action: domain.ActionAccountSelf, Handler: a.passkeyAddFinish},
		{Pattern: "DELETE /api/v1/me/passkeys/{passkey}", Action: domain.ActionAccountSelf, Handler: a.deletePasskey},

		{Pattern: "GET /api/v1/homes", Action: domain.ActionHomeView, Handler: a.homes},
		{Pattern: "POST /api/v1/homes", Action: domain.ActionHomeCreate, Handler: a.createHome},
		{Pattern: "GET /api/v1/homes/{home}", Action: domain.ActionHomeView, Handler: a.home},
		{Pattern: "DELETE /api/v1/homes/{home}", Action: domain.ActionHomeDelete, Handler: a.deleteHome},
		{Pattern: "GET /api/v1/homes/{home}/members", Action: domain.ActionMemberList, Handler: a.members},
		{Pattern: "PATCH /api/v1/homes/{home}/members/{account}", Action: domain.ActionMemberManage, Handler: a.updateMember},
		{Pattern: "DELETE /api/v1/homes/{home}/members/{account}", Action: domain.ActionMemberManage, Handler: a.removeMember},
		{Pattern: "POST /api/v1/homes/{home}/invites", Action: domain.ActionInviteCreate, Handler: a.createInvite},
		{Pattern: "GET /api/v1/invites/{token}", Public: inviteReason, Handler: a.lookupInvite},
		{Pattern: "POST /api/v1/invites/{token}/accept", Public: inviteReason + "; a signed-in caller joins, an anonymous one creates its account", Handler: a.acceptInvite},
		{Pattern: "GET /api/v1/homes/{home}/cameras", Action: domain.ActionCameraList, Handler: a.cameras},
		{Pattern: "POST /api/v1/homes/{home}/cameras", Action: domain.ActionCameraCreate, Handler: a.createCamera},
		{Pattern: "GET /api/v1/cameras/{camera}", Action: domain.ActionCameraList, Handler: a.camera},
		{Pattern: "PATCH /api/v1/cameras/{camera}", Action: domain.ActionManage, Handler: a.renameCamera},
		{Pattern: "DELETE /api/v1/cameras/{camera}", Action: domain.ActionManage, Handler: a.deleteCamera},
		{Pattern: "GET /api/v1/homes/{home}/audit", Action: domain.ActionAuditRead, Handler: a.audit},
		{Pattern: "POST /api/v1/homes/{home}/cameras/claim", Action: domain.ActionCameraCreate, Handler: a.claimCamera},
		{Pattern: "POST /api/v1/homes/{home}/cameras/pull", Action: domain.ActionCameraCreate, Handler: a.pullCamera},
		{Pattern: "POST /api/v1/cameras/{camera}/transfer", Action: domain.ActionTransfer, Handler: a.transferCamera},
		{Pattern: "POST /api/v1/cameras/{camera}/streams", Action: domain.ActionLive, Handler: a.createStream},
		{Pattern: "GET /api/v1/cameras/{camera}/snapshot", Action: domain.ActionSnapshot, Handler: a.snapshot},

		{Pattern: "POST /api/v1/devices/challenge", Public: deviceReason, Handler: a.deviceChallenge},
		{Pattern: "POST /api/v1/devices/enroll", Public: deviceReason, Handler: a.enroll},
		{Pattern: "POST /api/v1/devices/certificate", Public: deviceReason, Handler: a.deviceCertificate},
	}, a.recordingRoutes()...)
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpserver.WriteError(w, r, err, a.log)
}

func id(r *http.Request, name string) domain.ID { return domain.ID(r.PathValue(name)) }

// decode reads the JSON body into v, answering the error itself; it
// reports whether the handler should go on.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := httpserver.DecodeJSON(r, v); err != nil {
		a.fail(w, r, err)
		return false
	}
	return true
}

func badRequest(msg string) error {
	return &service.Error{Kind: service.KindInvalid, Code: "invalid", Message: msg}
}
