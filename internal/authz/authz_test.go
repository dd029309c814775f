package authz

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

var (
	now     = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	homeA   = domain.ID("homeaaaaaaaaaaaaaaaaaaaaaa")
	homeB   = domain.ID("homebbbbbbbbbbbbbbbbbbbbbb")
	acct    = domain.ID("acctaaaaaaaaaaaaaaaaaaaaaa")
	camA    = domain.Camera{ID: "camaaaaaaaaaaaaaaaaaaaaaaa", HomeID: homeA, Generation: 1}
	camA2   = domain.Camera{ID: "camaaaaaaaaaaaaaaaaaaaaaaa", HomeID: homeA, Generation: 2}
	camOthr = domain.Camera{ID: "camoooooooooooooooooooooooo", HomeID: homeA, Generation: 1}
)

// allActions is every action the matrix covers, home and camera.
var allActions = append(slices.Clone(domain.CameraActions), domain.HomeActions...)

// state is one situation the principal can be in.
type state struct {
	name   string
	build  func(role domain.Role) (Principal, Facts, domain.Camera)
	active bool
	// former asks about the camera's kept recordings of a generation it
	// has left.
	former bool
}

// membership builds acct's membership in home A. A guest is scoped to camA
// unless mod says otherwise: a guest's scope always names its cameras.
func membership(role domain.Role, mod func(*domain.Membership)) *domain.Membership {
	m := &domain.Membership{HomeID: homeA, AccountID: acct, Role: role}
	if role == domain.RoleGuest {
		m.Cameras = []domain.CameraRef{camA.Ref()}
	}
	if mod != nil {
		mod(m)
	}
	return m
}

func simple(mod func(*domain.Membership)) func(domain.Role) (Principal, Facts, domain.Camera) {
	return func(role domain.Role) (Principal, Facts, domain.Camera) {
		return Principal{Account: acct}, Facts{Now: now, Membership: membership(role, mod)}, camA
	}
}

var states = []state{
	{name: "active", build: simple(nil)},
	{name: "scope_includes_camera", build: simple(func(m *domain.Membership) {
		m.Cameras = []domain.CameraRef{camA.Ref()}
		m.Actions = []domain.Action{domain.ActionLive, domain.ActionPlayback}
	})},
	{name: "scope_other_camera", build: simple(func(m *domain.Membership) {
		m.Cameras = []domain.CameraRef{camOthr.Ref()}
	})},
	{name: "scope_other_action", build: simple(func(m *domain.Membership) {
		m.Actions = []domain.Action{domain.ActionPlayback}
	})},
	// A guest whose scope names no camera sees none (fail closed), even
	// with every guest action; the scope never applies to other roles.
	{name: "scope_empty", build: simple(func(m *domain.Membership) { m.Cameras = nil })},
	{name: "scope_empty_all_actions", build: simple(func(m *domain.Membership) {
		m.Cameras = []domain.CameraRef{}
		m.Actions = domain.GuestActions
	})},
	{name: "window_open", build: simple(func(m *domain.Membership) { m.Until = now.Add(time.Hour) })},
	{name: "window_ended", build: simple(func(m *domain.Membership) { m.Until = now.Add(-time.Second) })},
	{name: "window_ends_now", build: simple(func(m *domain.Membership) { m.Until = now })},
	{name: "removed_member", build: func(domain.Role) (Principal, Facts, domain.Camera) {
		return Principal{Account: acct}, Facts{Now: now}, camA
	}},
	{name: "other_home_member", build: func(role domain.Role) (Principal, Facts, domain.Camera) {
		m := membership(role, func(m *domain.Membership) { m.HomeID = homeB })
		return Principal{Account: acct}, Facts{Now: now, Membership: m}, camA
	}},
	{name: "someone_elses_membership", build: func(role domain.Role) (Principal, Facts, domain.Camera) {
		m := membership(role, func(m *domain.Membership) { m.AccountID = "someoneelseaaaaaaaaaaaaaaa" })
		return Principal{Account: acct}, Facts{Now: now, Membership: m}, camA
	}},
	{name: "instance_admin_without_membership", build: func(domain.Role) (Principal, Facts, domain.Camera) {
		return Principal{Account: acct, InstanceAdmin: true}, Facts{Now: now}, camA
	}},
	{name: "instance_admin_member", build: func(role domain.Role) (Principal, Facts, domain.Camera) {
		return Principal{Account: acct, InstanceAdmin: true}, Facts{Now: now, Membership: membership(role, nil)}, camA
	}},
	{name: "disabled_account", build: func(role domain.Role) (Principal, Facts, domain.Camera) {
		return Principal{Account: acct, Disabled: true}, Facts{Now: now, Membership: membership(role, nil)}, camA
	}},
	{name: "anonymous", build: func(role domain.Role) (Principal, Facts, domain.Camera) {
		return Principal{}, Facts{Now: now, Membership: membership(role, nil)}, camA
	}},
	// The camera changed hands: generation 2. A guest scoped to generation
	// 1 loses it; the home's own roles keep the camera at its new
	// generation (a new home would be a different HomeID).
	{name: "generation_changed_scoped", build: func(role domain.Role) (Principal, Facts, domain.Camera) {
		m := membership(role, func(m *domain.Membership) { m.Cameras = []domain.CameraRef{camA.Ref()} })
		return Principal{Account: acct}, Facts{Now: now, Membership: m}, camA2
	}},
	// A device-backed camera that left its home (removed, transferred,
	// reset) belongs to no home: nobody may do anything with it.
	{name: "camera_unclaimed", build: func(role domain.Role) (Principal, Facts, domain.Camera) {
		c := camA2
		c.HomeID = ""
		return Principal{Account: acct}, Facts{Now: now, Membership: membership(role, nil)}, c
	}},
	{name: "camera_of_other_home", build: func(role domain.Role) (Principal, Facts, domain.Camera) {
		c := camA
		c.HomeID = homeB
		return Principal{Account: acct}, Facts{Now: now, Membership: membership(role, nil)}, c
	}},
	// Generation 1 was reset (or removed, transferred): its recordings are
	// kept in home A for the export window, for the owners only.
	{name: "former_generation", former: true, build: simple(nil)},
	// A guest whose scope named the camera at that generation: the scope
	// died with it.
	{name: "former_generation_scoped", former: true, build: simple(func(m *domain.Membership) {
		m.Cameras = []domain.CameraRef{camA.Ref()}
		m.Actions = []domain.Action{domain.ActionLive, domain.ActionPlayback}
	})},
	{name: "former_generation_window_ended", former: true, build: simple(func(m *domain.Membership) { m.Until = now })},
	{name: "former_generation_other_home", former: true, build: func(role domain.Role) (Principal, Facts, domain.Camera) {
		c := camA
		c.HomeID = homeB
		return Principal{Account: acct}, Facts{Now: now, Membership: membership(role, nil)}, c
	}},
}

// formerOwner is what owners may do with a former generation's recordings.
const formerOwner = "playback export recording.delete"

const (
	ownerHome  = "home.view home.rename home.delete member.list member.manage invite.create camera.list camera.create audit.read home.leave link.manage home.recording"
	adminHome  = "home.view home.rename member.list member.manage invite.create camera.list camera.create audit.read home.leave"
	memberHome = "home.view member.list camera.list home.leave"
	guestHome  = "home.view camera.list home.leave"
	allCam     = "live snapshot playback export manage ptz transfer recording.delete"
	adminCam   = "live snapshot playback export manage ptz"
	memberCam  = "live snapshot playback export ptz"
)

// expected lists, for every state and role, exactly the allowed actions.
// Every (state, role) pair must appear: nothing is implicit.
var expected = map[string]map[domain.Role]string{
	"active": {
		domain.RoleOwner: allCam + " " + ownerHome, domain.RoleAdmin: adminCam + " " + adminHome,
		domain.RoleMember: memberCam + " " + memberHome, domain.RoleGuest: "live snapshot " + guestHome,
	},
	"scope_includes_camera": {
		domain.RoleOwner: allCam + " " + ownerHome, domain.RoleAdmin: adminCam + " " + adminHome,
		domain.RoleMember: memberCam + " " + memberHome, domain.RoleGuest: "live playback " + guestHome,
	},
	"scope_other_camera": {
		domain.RoleOwner: allCam + " " + ownerHome, domain.RoleAdmin: adminCam + " " + adminHome,
		domain.RoleMember: memberCam + " " + memberHome, domain.RoleGuest: guestHome,
	},
	"scope_other_action": {
		domain.RoleOwner: allCam + " " + ownerHome, domain.RoleAdmin: adminCam + " " + adminHome,
		domain.RoleMember: memberCam + " " + memberHome, domain.RoleGuest: "playback " + guestHome,
	},
	"scope_empty": {
		domain.RoleOwner: allCam + " " + ownerHome, domain.RoleAdmin: adminCam + " " + adminHome,
		domain.RoleMember: memberCam + " " + memberHome, domain.RoleGuest: guestHome,
	},
	"scope_empty_all_actions": {
		domain.RoleOwner: allCam + " " + ownerHome, domain.RoleAdmin: adminCam + " " + adminHome,
		domain.RoleMember: memberCam + " " + memberHome, domain.RoleGuest: guestHome,
	},
	"window_open": {
		domain.RoleOwner: allCam + " " + ownerHome, domain.RoleAdmin: adminCam + " " + adminHome,
		domain.RoleMember: memberCam + " " + memberHome, domain.RoleGuest: "live snapshot " + guestHome,
	},
	"window_ended":                      {domain.RoleOwner: "", domain.RoleAdmin: "", domain.RoleMember: "", domain.RoleGuest: ""},
	"window_ends_now":                   {domain.RoleOwner: "", domain.RoleAdmin: "", domain.RoleMember: "", domain.RoleGuest: ""},
	"removed_member":                    {domain.RoleOwner: "", domain.RoleAdmin: "", domain.RoleMember: "", domain.RoleGuest: ""},
	"other_home_member":                 {domain.RoleOwner: "", domain.RoleAdmin: "", domain.RoleMember: "", domain.RoleGuest: ""},
	"someone_elses_membership":          {domain.RoleOwner: "", domain.RoleAdmin: "", domain.RoleMember: "", domain.RoleGuest: ""},
	"instance_admin_without_membership": {domain.RoleOwner: "", domain.RoleAdmin: "", domain.RoleMember: "", domain.RoleGuest: ""},
	"instance_admin_member": {
		domain.RoleOwner: allCam + " " + ownerHome, domain.RoleAdmin: adminCam + " " + adminHome,
		domain.RoleMember: memberCam + " " + memberHome, domain.RoleGuest: "live snapshot " + guestHome,
	},
	"disabled_account": {domain.RoleOwner: "", domain.RoleAdmin: "", domain.RoleMember: "", domain.RoleGuest: ""},
	"anonymous":        {domain.RoleOwner: "", domain.RoleAdmin: "", domain.RoleMember: "", domain.RoleGuest: ""},
	"generation_changed_scoped": {
		domain.RoleOwner: allCam + " " + ownerHome, domain.RoleAdmin: adminCam + " " + adminHome,
		domain.RoleMember: memberCam + " " + memberHome, domain.RoleGuest: guestHome,
	},
	"camera_unclaimed": {
		domain.RoleOwner: ownerHome, domain.RoleAdmin: adminHome,
		domain.RoleMember: memberHome, domain.RoleGuest: guestHome,
	},
	"camera_of_other_home": {
		domain.RoleOwner: ownerHome, domain.RoleAdmin: adminHome,
		domain.RoleMember: memberHome, domain.RoleGuest: guestHome,
	},
	"former_generation": {
		domain.RoleOwner: formerOwner + " " + ownerHome, domain.RoleAdmin: adminHome,
		domain.RoleMember: memberHome, domain.RoleGuest: guestHome,
	},
	"former_generation_scoped": {
		domain.RoleOwner: formerOwner + " " + ownerHome, domain.RoleAdmin: adminHome,
		domain.RoleMember: memberHome, domain.RoleGuest: guestHome,
	},
	"former_generation_window_ended": {domain.RoleOwner: "", domain.RoleAdmin: "", domain.RoleMember: "", domain.RoleGuest: ""},
	"former_generation_other_home": {
		domain.RoleOwner: ownerHome, domain.RoleAdmin: adminHome,
		domain.RoleMember: memberHome, domain.RoleGuest: guestHome,
	},
}

func TestPolicyMatrix(t *testing.T) {
	if len(expected) != len(states) {
		t.Fatalf("expected table has %d states, matrix has %d", len(expected), len(states))
	}
	for _, st := range states {
		rows, ok := expected[st.name]
		if !ok {
			t.Fatalf("state %q has no expected row", st.name)
		}
		for _, role := range domain.Roles {
			want, ok := rows[role]
			if !ok {
				t.Fatalf("state %q role %q has no expected entry", st.name, role)
			}
			wantSet := strings.Fields(want)
			for _, a := range allActions {
				t.Run(fmt.Sprintf("%s/%s/%s", st.name, role, a), func(t *testing.T) {
					p, f, cam := st.build(role)
					r := Resource{Home: homeA, Camera: &cam, TargetRole: domain.RoleMember, Former: st.former}
					d := Decide(p, a, r, f)
					if wantAllowed := slices.Contains(wantSet, string(a)); d.Allowed != wantAllowed {
						t.Fatalf("Decide = %+v, want allowed=%v", d, wantAllowed)
					}
					if d.Allowed != (d.Reason == ReasonAllowed) {
						t.Fatalf("decision %+v: reason disagrees with outcome", d)
					}
					if !a.IsCameraAction() {
						return
					}
					g, ad := Authorize(p, a, r, f)
					if ad != d {
						t.Fatalf("Authorize decision %+v differs from Decide %+v", ad, d)
					}
					if got := g.Allows(a, cam.Ref(), now); got != d.Allowed {
						t.Fatalf("grant allows=%v, want %v", got, d.Allowed)
					}
				})
			}
		}
	}
}

// TestTargetRoles covers who may invite or manage whom.
func TestTargetRoles(t *testing.T) {
	want := map[domain.Role]map[domain.Role]bool{
		domain.RoleOwner:  {domain.RoleOwner: true, domain.RoleAdmin: true, domain.RoleMember: true, domain.RoleGuest: true},
		domain.RoleAdmin:  {domain.RoleOwner: false, domain.RoleAdmin: true, domain.RoleMember: true, domain.RoleGuest: true},
		domain.RoleMember: {domain.RoleOwner: false, domain.RoleAdmin: false, domain.RoleMember: false, domain.RoleGuest: false},
		domain.RoleGuest:  {domain.RoleOwner: false, domain.RoleAdmin: false, domain.RoleMember: false, domain.RoleGuest: false},
	}
	for _, actor := range domain.Roles {
		for _, target := range append(slices.Clone(domain.Roles), domain.RoleUnknown, "superuser") {
			for _, a := range []domain.Action{domain.ActionMemberManage, domain.ActionInviteCreate} {
				t.Run(fmt.Sprintf("%s/%s/%s", actor, a, target), func(t *testing.T) {
					d := Decide(Principal{Account: acct}, a, Resource{Home: homeA, TargetRole: target},
						Facts{Now: now, Membership: membership(actor, nil)})
					if d.Allowed != want[actor][target] {
						t.Fatalf("got %+v, want allowed=%v", d, want[actor][target])
					}
				})
			}
		}
	}
}

func TestGrant(t *testing.T) {
	p := Principal{Account: acct}
	r := Resource{Home: homeA, Camera: &camA}
	m := membership(domain.RoleGuest, func(m *domain.Membership) {
		m.Until = now.Add(time.Minute)
		m.HistoryFrom = now.Add(-time.Hour)
	})
	g, d := Authorize(p, domain.ActionLive, r, Facts{Now: now, Membership: m})
	if !d.Allowed {
		t.Fatalf("denied: %+v", d)
	}
	tests := []struct {
		name   string
		action domain.Action
		origin domain.CameraRef
		at     time.Time
		want   bool
	}{
		{"same camera and generation", domain.ActionLive, camA.Ref(), now, true},
		{"snapshot carried", domain.ActionSnapshot, camA.Ref(), now, true},
		{"action not held", domain.ActionPlayback, camA.Ref(), now, false},
		{"generation changed", domain.ActionLive, camA2.Ref(), now, false},
		{"other camera", domain.ActionLive, camOthr.Ref(), now, false},
		{"membership ended", domain.ActionLive, camA.Ref(), now.Add(time.Minute), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := g.Allows(tt.action, tt.origin, tt.at); got != tt.want {
				t.Fatalf("Allows = %v, want %v", got, tt.want)
			}
		})
	}
	if !g.HistoryFrom().Equal(now.Add(-time.Hour)) || g.Principal() != acct || g.Camera() != camA.Ref() {
		t.Fatalf("grant fields wrong: %+v", g)
	}
	// Without a membership end, the grant still expires.
	g2, _ := Authorize(p, domain.ActionLive, r, Facts{Now: now, Membership: membership(domain.RoleOwner, nil)})
	if !g2.Expires().Equal(now.Add(GrantTTL)) {
		t.Fatalf("expiry %v, want %v", g2.Expires(), now.Add(GrantTTL))
	}
	if (Grant{}).Allows(domain.ActionLive, domain.CameraRef{}, now) {
		t.Fatal("zero grant allows")
	}
	if _, d := Authorize(p, domain.ActionHomeView, r, Facts{Now: now, Membership: m}); d.Allowed {
		t.Fatal("Authorize minted a grant for a home action")
	}
}

// TestGrantHistoryFrom: the history limit on a membership binds a guest
// and only a guest. The limit stays on the membership through role
// changes, so a guest made member and guest again is limited again.
func TestGrantHistoryFrom(t *testing.T) {
	from := now.Add(-time.Hour)
	for _, role := range domain.Roles {
		t.Run(string(role), func(t *testing.T) {
			m := membership(role, func(m *domain.Membership) { m.HistoryFrom = from })
			g, d := Authorize(Principal{Account: acct}, domain.ActionLive, Resource{Home: homeA, Camera: &camA}, Facts{Now: now, Membership: m})
			if !d.Allowed {
				t.Fatalf("denied: %+v", d)
			}
			want := time.Time{}
			if role == domain.RoleGuest {
				want = from
			}
			if !g.HistoryFrom().Equal(want) {
				t.Fatalf("history from %v, want %v", g.HistoryFrom(), want)
			}
		})
	}
}

// TestAccountActions covers actions on the caller's own account and
// instance administration, which need no home.
func TestAccountActions(t *testing.T) {
	actions := []domain.Action{domain.ActionAccountSelf, domain.ActionHomeCreate, domain.ActionInviteAccept, domain.ActionInstanceAdmin}
	principals := []struct {
		name string
		p    Principal
		want string
	}{
		{"anonymous", Principal{}, ""},
		{"disabled", Principal{Account: acct, Disabled: true}, ""},
		{"disabled_instance_admin", Principal{Account: acct, Disabled: true, InstanceAdmin: true}, ""},
		{"account", Principal{Account: acct}, "account.self home.create invite.accept"},
		{"instance_admin", Principal{Account: acct, InstanceAdmin: true}, "account.self home.create invite.accept instance.admin"},
	}
	for _, pp := range principals {
		for _, a := range actions {
			t.Run(pp.name+"/"+string(a), func(t *testing.T) {
				want := slices.Contains(strings.Fields(pp.want), string(a))
				if d := Decide(pp.p, a, Resource{}, Facts{Now: now}); d.Allowed != want {
					t.Fatalf("got %+v, want allowed=%v", d, want)
				}
			})
		}
	}
}

// TestGuestScopeBeforeRole: a camera outside a guest's scope is invisible,
// so even actions no guest may do are refused as out of scope (answered as
// "not found"), not as a role limit (which would reveal the camera).
func TestGuestScopeBeforeRole(t *testing.T) {
	m := membership(domain.RoleGuest, func(m *domain.Membership) { m.Cameras = []domain.CameraRef{camA.Ref()} })
	p := Principal{Account: acct}
	for _, a := range domain.CameraActions {
		d := Decide(p, a, Resource{Home: homeA, Camera: &camOthr}, Facts{Now: now, Membership: m})
		if d.Allowed || d.Reason != ReasonCameraScope {
			t.Errorf("%s on an out-of-scope camera: %+v, want denied as %s", a, d, ReasonCameraScope)
		}
	}
	if d := Decide(p, domain.ActionManage, Resource{Home: homeA, Camera: &camA}, Facts{Now: now, Membership: m}); d.Reason != ReasonRole {
		t.Errorf("manage on the guest's own camera: %+v, want denied as %s", d, ReasonRole)
	}
}

// TestAuthorizeRecording: the recorder reads a camera only while it is in
// a home whose owners turned recording on, at its current generation.
func TestAuthorizeRecording(t *testing.T) {
	cam := camA
	cam.State = domain.CameraStateClaimed
	on := domain.RecordingSettings{CameraID: cam.ID, Mode: domain.RecordContinuous}
	g, d := AuthorizeRecording(cam, on, now)
	if !d.Allowed || !g.Allows(domain.ActionLive, cam.Ref(), now) || g.Principal() != Recorder {
		t.Fatalf("recording a claimed camera: %+v", d)
	}
	next := cam.Ref()
	next.Generation++
	if g.Allows(domain.ActionLive, next, now) || g.Allows(domain.ActionPlayback, cam.Ref(), now) || g.Allows(domain.ActionLive, cam.Ref(), now.Add(GrantTTL)) {
		t.Fatal("the recorder's grant reaches beyond live reading of this generation for its lifetime")
	}
	unclaimed := cam
	unclaimed.HomeID, unclaimed.State = "", domain.CameraStateUnclaimed
	reset := cam
	reset.State = domain.CameraStateReset
	other := on
	other.CameraID = camOthr.ID
	for name, tc := range map[string]struct {
		cam domain.Camera
		s   domain.RecordingSettings
	}{
		"off":            {cam, domain.RecordingSettings{CameraID: cam.ID, Mode: domain.RecordOff}},
		"unknown mode":   {cam, domain.RecordingSettings{CameraID: cam.ID, Mode: "always"}},
		"unclaimed":      {unclaimed, on},
		"reset":          {reset, on},
		"other settings": {cam, other},
	} {
		if _, d := AuthorizeRecording(tc.cam, tc.s, now); d.Allowed {
			t.Errorf("%s: recorded", name)
		}
	}
}
