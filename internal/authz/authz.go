// Package authz is camvault's one policy: a pure function that decides
// whether a principal may perform an action on a resource, given facts that
// the caller loads and passes in.
//
// Decide answers yes or no with a reason. Authorize does the same for a
// camera action and, when allowed, mints a Grant: the only value that media
// paths accept as proof of access. A Grant's fields are unexported, so no
// other package can make one; it is bound to a camera at one generation, an
// action set, an expiry and a history start.
//
// Typical use in a service method:
//
//	m, _ := store.Membership(ctx, cam.HomeID, p.Account)   // nil if none
//	g, d := authz.Authorize(p, domain.ActionLive, authz.Resource{Home: cam.HomeID, Camera: &cam},
//		authz.Facts{Now: now, Membership: m})
//	if !d.Allowed { ... audit denial, answer 404 ... }
//
// The package performs no I/O and keeps no state; it is safe for concurrent
// use.
package authz

import (
	"slices"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

// Principal is who is asking: an account, as loaded for this request.
type Principal struct {
	Account       domain.ID
	Disabled      bool
	InstanceAdmin bool
}

// Anonymous reports whether the principal is no account at all.
func (p Principal) Anonymous() bool { return p.Account == "" }

// Resource is what the action is on.
type Resource struct {
	// Home is the home the resource belongs to. Required for home and
	// camera actions.
	Home domain.ID
	// Camera is the camera as it is now, for camera actions.
	Camera *domain.Camera
	// TargetRole is, for member.manage and invite.create, the role of the
	// membership being changed, created or removed.
	TargetRole domain.Role
	// Former marks Camera as a generation the camera has left (removed,
	// transferred, factory reset, or claimed again): what is asked is
	// that generation's kept recordings, in the home it was in then.
	// Only that home's owners may play, export or delete them, until the
	// export window ends; nobody else, whatever the scope of their
	// membership or link named.
	Former bool
}

// Facts are what the caller loaded for this decision.
type Facts struct {
	Now time.Time
	// Membership is the principal's membership in Resource.Home, or nil if
	// it has none.
	Membership *domain.Membership
	// Via, when the principal acts through an integration, is the link
	// it acts under and the integration as it is now. The decision is
	// then the intersection of the link and the account's own rights:
	// the link alone never allows anything.
	Via *Via
}

// Via is an integration acting for an account under a link.
type Via struct {
	Link        domain.Link
	Integration domain.Integration
}

// Reason says why a decision went the way it did. It is recorded in audit
// events and never shown to the denied principal.
type Reason string

// Reasons.
const (
	ReasonAllowed       Reason = "allowed"
	ReasonAnonymous     Reason = "anonymous"
	ReasonDisabled      Reason = "account_disabled"
	ReasonNotMember     Reason = "not_a_member"
	ReasonExpired       Reason = "membership_expired"
	ReasonRole          Reason = "role_does_not_allow"
	ReasonCameraScope   Reason = "camera_not_in_scope"
	ReasonActionScope   Reason = "action_not_in_scope"
	ReasonWrongHome     Reason = "resource_not_in_home"
	ReasonBadRequest    Reason = "incomplete_request"
	ReasonTargetRole    Reason = "target_role_not_allowed"
	ReasonNotInstanceOp Reason = "not_instance_admin"
	ReasonFormer        Reason = "former_generation_owners_only"
	// Through an integration:
	ReasonLinkRevoked         Reason = "link_revoked"
	ReasonIntegrationDisabled Reason = "integration_disabled"
	ReasonLinkScope           Reason = "not_in_link"
)

// Decision is the policy's answer.
type Decision struct {
	Allowed bool
	Reason  Reason
}

func allow() Decision                             { return Decision{Allowed: true, Reason: ReasonAllowed} }
func deny(r Reason) Decision                      { return Decision{Reason: r} }
func has(a []domain.Action, x domain.Action) bool { return slices.Contains(a, x) }

// roleHomeActions is what each role may do to its home as a whole.
var roleHomeActions = map[domain.Role][]domain.Action{
	domain.RoleOwner: {domain.ActionHomeView, domain.ActionHomeRename, domain.ActionHomeDelete,
		domain.ActionMemberList, domain.ActionMemberManage, domain.ActionInviteCreate,
		domain.ActionCameraList, domain.ActionCameraCreate, domain.ActionAuditRead, domain.ActionHomeLeave,
		domain.ActionLinkManage, domain.ActionHomeRecording},
	domain.RoleAdmin: {domain.ActionHomeView, domain.ActionHomeRename,
		domain.ActionMemberList, domain.ActionMemberManage, domain.ActionInviteCreate,
		domain.ActionCameraList, domain.ActionCameraCreate, domain.ActionAuditRead, domain.ActionHomeLeave},
	domain.RoleMember: {domain.ActionHomeView, domain.ActionMemberList, domain.ActionCameraList, domain.ActionHomeLeave},
	domain.RoleGuest:  {domain.ActionHomeView, domain.ActionCameraList, domain.ActionHomeLeave},
}

// roleCameraActions is what each role may do to the home's cameras. A
// guest's set is further narrowed by its membership's Actions.
var roleCameraActions = map[domain.Role][]domain.Action{
	domain.RoleOwner: domain.CameraActions,
	domain.RoleAdmin: {domain.ActionLive, domain.ActionSnapshot, domain.ActionPlayback, domain.ActionExport,
		domain.ActionManage, domain.ActionPTZ},
	domain.RoleMember: {domain.ActionLive, domain.ActionSnapshot, domain.ActionPlayback, domain.ActionExport, domain.ActionPTZ},
	domain.RoleGuest:  domain.GuestActions,
}

// formerActions are what the owners may do with a former generation's
// kept recordings.
var formerActions = []domain.Action{domain.ActionPlayback, domain.ActionExport, domain.ActionRecordingDelete}

// GuestDefaultActions are a guest's camera actions when its invitation
// named none.
var GuestDefaultActions = []domain.Action{domain.ActionLive, domain.ActionSnapshot}

// Decide answers whether p may do a on r given f.
func Decide(p Principal, a domain.Action, r Resource, f Facts) Decision {
	if p.Anonymous() {
		return deny(ReasonAnonymous)
	}
	if p.Disabled {
		return deny(ReasonDisabled)
	}
	switch a {
	case domain.ActionAccountSelf, domain.ActionHomeCreate, domain.ActionInviteAccept:
		// The invitation token or the caller's own account is the
		// resource; being signed in and enabled is the whole rule.
		return allow()
	}
	if a == domain.ActionInstanceAdmin {
		if p.InstanceAdmin {
			return allow()
		}
		return deny(ReasonNotInstanceOp)
	}
	// Inside a home, being an instance admin counts for nothing: only a
	// membership does.
	m := f.Membership
	if r.Home == "" {
		return deny(ReasonBadRequest)
	}
	if m == nil || m.AccountID != p.Account || m.HomeID != r.Home || !m.Role.Valid() {
		return deny(ReasonNotMember)
	}
	if m.Expired(f.Now) {
		return deny(ReasonExpired)
	}
	if r.Former && f.Via != nil {
		// A link named the camera as it was: it died with the generation.
		return deny(ReasonLinkScope)
	}
	if f.Via != nil {
		// An integration acts on linked cameras only, never on the home.
		if d := decideVia(p, a, r, f.Via); !d.Allowed {
			return d
		}
	}
	if a.IsCameraAction() {
		return decideCamera(m, a, r)
	}
	if !has(roleHomeActions[m.Role], a) {
		return deny(ReasonRole)
	}
	switch a {
	case domain.ActionMemberManage, domain.ActionInviteCreate:
		if !r.TargetRole.Valid() {
			return deny(ReasonBadRequest)
		}
		// Only owners touch owners.
		if r.TargetRole == domain.RoleOwner && m.Role != domain.RoleOwner {
			return deny(ReasonTargetRole)
		}
	}
	return allow()
}

// decideVia checks the link an integration acts under: live, the
// principal's, in this home, of an enabled integration, and naming this
// camera at its current generation and the action.
func decideVia(p Principal, a domain.Action, r Resource, v *Via) Decision {
	l, in := v.Link, v.Integration
	switch {
	case l.AccountID != p.Account || l.HomeID != r.Home || l.IntegrationID != in.ID || l.ID == "":
		return deny(ReasonLinkScope)
	case !l.Live():
		return deny(ReasonLinkRevoked)
	case !in.Enabled:
		return deny(ReasonIntegrationDisabled)
	case !a.IsCameraAction() || r.Camera == nil:
		return deny(ReasonLinkScope)
	case !l.Covers(r.Camera.Ref(), a):
		return deny(ReasonLinkScope)
	}
	return allow()
}

func decideCamera(m *domain.Membership, a domain.Action, r Resource) Decision {
	c := r.Camera
	if c == nil {
		return deny(ReasonBadRequest)
	}
	if c.HomeID != r.Home {
		return deny(ReasonWrongHome)
	}
	if r.Former {
		// Scopes and roles were for the camera as it was; its kept
		// recordings are the owners' alone.
		if m.Role != domain.RoleOwner {
			return deny(ReasonFormer)
		}
		if !has(formerActions, a) {
			return deny(ReasonRole)
		}
		return allow()
	}
	// A camera outside a guest's scope is invisible to it, whatever the
	// action: the scope is decided before the role. An empty scope names
	// no camera, so it allows none: a guest sees only cameras it was
	// given by name.
	if m.Role == domain.RoleGuest && !slices.Contains(m.Cameras, c.Ref()) {
		return deny(ReasonCameraScope)
	}
	if !has(roleCameraActions[m.Role], a) {
		return deny(ReasonRole)
	}
	if m.Role != domain.RoleGuest {
		return allow()
	}
	if !has(guestActions(m), a) {
		return deny(ReasonActionScope)
	}
	return allow()
}

func guestActions(m *domain.Membership) []domain.Action {
	if len(m.Actions) == 0 {
		return GuestDefaultActions
	}
	return m.Actions
}

// CameraActionsFor returns every camera action the facts allow p on the
// camera, in the order of domain.CameraActions.
func CameraActionsFor(p Principal, r Resource, f Facts) []domain.Action {
	var out []domain.Action
	for _, a := range domain.CameraActions {
		if Decide(p, a, r, f).Allowed {
			out = append(out, a)
		}
	}
	return out
}
