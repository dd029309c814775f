package authz

import (
	"slices"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

// GrantTTL bounds how long a Grant lives even when the membership does not
// end sooner. Long-lived consumers (live streams) re-check on revocation
// events and re-authorize before it runs out.
const GrantTTL = 10 * time.Minute

// Grant is proof that the policy allowed a principal some actions on one
// camera at one generation. Only Authorize makes a valid Grant; the zero
// Grant allows nothing.
type Grant struct {
	principal   domain.ID
	link        domain.ID // the link an integration acts under, if any
	camera      domain.CameraRef
	actions     []domain.Action
	expires     time.Time
	historyFrom time.Time
}

// Authorize decides a camera action and, if allowed, mints a Grant carrying
// every camera action the principal holds on that camera.
func Authorize(p Principal, a domain.Action, r Resource, f Facts) (Grant, Decision) {
	if !a.IsCameraAction() {
		return Grant{}, deny(ReasonBadRequest)
	}
	d := Decide(p, a, r, f)
	if !d.Allowed {
		return Grant{}, d
	}
	exp := f.Now.Add(GrantTTL)
	if m := f.Membership; !m.Until.IsZero() && m.Until.Before(exp) {
		exp = m.Until
	}
	var link domain.ID
	if f.Via != nil {
		link = f.Via.Link.ID
	}
	return Grant{
		principal:   p.Account,
		link:        link,
		camera:      r.Camera.Ref(),
		actions:     CameraActionsFor(p, r, f),
		expires:     exp,
		historyFrom: historyFrom(f.Membership),
	}, d
}

// historyFrom is the earliest recording time m may see. The limit is a
// guest's: it is kept on the membership through role changes, so that a
// guest made member and then guest again is limited as before, but only a
// guest is held to it.
func historyFrom(m *domain.Membership) time.Time {
	if m.Role != domain.RoleGuest {
		return time.Time{}
	}
	return m.HistoryFrom
}

// Principal is the account the grant was made for.
func (g Grant) Principal() domain.ID { return g.principal }

// Link is the link an integration acts under; empty for the account
// acting itself.
func (g Grant) Link() domain.ID { return g.link }

// Camera is the camera and generation the grant is bound to.
func (g Grant) Camera() domain.CameraRef { return g.camera }

// Expires is when the grant stops being valid.
func (g Grant) Expires() time.Time { return g.expires }

// HistoryFrom is the earliest recording time the grant may see; zero means
// no limit.
func (g Grant) HistoryFrom() time.Time { return g.historyFrom }

// Actions returns the camera actions the grant carries.
func (g Grant) Actions() []domain.Action { return slices.Clone(g.actions) }

// Allows reports whether the grant permits action a on origin at now: the
// grant is minted, unexpired, bound to exactly that camera and generation,
// and carries a.
func (g Grant) Allows(a domain.Action, origin domain.CameraRef, now time.Time) bool {
	return g.principal != "" &&
		g.camera == origin &&
		now.Before(g.expires) &&
		slices.Contains(g.actions, a)
}

// Recorder is the principal the server records cameras as. It is no
// account: no session, token or link can act as it.
const Recorder domain.ID = "system:recorder"

// AuthorizeRecording decides whether the server records cam as it is now,
// given the settings its owners chose, and if so mints the recorder's
// grant: live reading of that camera at its current generation only, so
// that a camera changing hands ends the recording of it at once.
func AuthorizeRecording(cam domain.Camera, s domain.RecordingSettings, now time.Time) (Grant, Decision) {
	switch {
	case cam.ID == "" || s.CameraID != cam.ID || !s.Mode.Valid():
		return Grant{}, deny(ReasonBadRequest)
	case s.Mode == domain.RecordOff:
		return Grant{}, deny(ReasonActionScope)
	case cam.HomeID == "":
		return Grant{}, deny(ReasonNotMember)
	}
	switch cam.State {
	case domain.CameraStateClaimed, domain.CameraStatePulled, domain.CameraStateActive, domain.CameraStateRegistered:
	default:
		return Grant{}, deny(ReasonWrongHome)
	}
	return Grant{principal: Recorder, camera: cam.Ref(), actions: []domain.Action{domain.ActionLive}, expires: now.Add(GrantTTL)}, allow()
}
