package authz

import (
	"slices"
	"testing"

	"github.com/camvault/camvault/internal/domain"
)

// TestVia: through an integration the policy allows the intersection of
// the link and the account's own rights — never the link alone — and
// nothing once the link, the integration, the membership or the camera's
// generation changed.
func TestVia(t *testing.T) {
	integration := domain.Integration{ID: "intaaaaaaaaaaaaaaaaaaaaaaa", Enabled: true}
	link := func(mod func(*domain.Link)) *Via {
		l := domain.Link{ID: "linkaaaaaaaaaaaaaaaaaaaaaa", IntegrationID: integration.ID, HomeID: homeA, AccountID: acct,
			Cameras: []domain.CameraRef{camA.Ref()}, Actions: []domain.Action{domain.ActionLive, domain.ActionSnapshot}}
		if mod != nil {
			mod(&l)
		}
		return &Via{Link: l, Integration: integration}
	}
	owner := membership(domain.RoleOwner, nil)
	p := Principal{Account: acct}
	tests := []struct {
		name   string
		via    *Via
		m      *domain.Membership
		camera domain.Camera
		action domain.Action
		want   Reason
	}{
		{"linked camera, linked action", link(nil), owner, camA, domain.ActionLive, ReasonAllowed},
		{"snapshot linked", link(nil), owner, camA, domain.ActionSnapshot, ReasonAllowed},
		{"owner's right not in the link", link(nil), owner, camA, domain.ActionPlayback, ReasonLinkScope},
		{"camera not linked", link(nil), owner, camOthr, domain.ActionLive, ReasonLinkScope},
		{"camera reset and reclaimed", link(nil), owner, camA2, domain.ActionLive, ReasonLinkScope},
		{"home action", link(nil), owner, camA, domain.ActionHomeView, ReasonLinkScope},
		{"link revoked", link(func(l *domain.Link) { l.RevokedAt = now }), owner, camA, domain.ActionLive, ReasonLinkRevoked},
		{"integration disabled", &Via{Link: link(nil).Link, Integration: domain.Integration{ID: integration.ID}}, owner, camA, domain.ActionLive, ReasonIntegrationDisabled},
		{"another account's link", link(func(l *domain.Link) { l.AccountID = "acctbbbbbbbbbbbbbbbbbbbbbb" }), owner, camA, domain.ActionLive, ReasonLinkScope},
		{"another home's link", link(func(l *domain.Link) { l.HomeID = homeB }), owner, camA, domain.ActionLive, ReasonLinkScope},
		{"another integration's link", link(func(l *domain.Link) { l.IntegrationID = "intbbbbbbbbbbbbbbbbbbbbbbb" }), owner, camA, domain.ActionLive, ReasonLinkScope},
		{"account left the home", link(nil), nil, camA, domain.ActionLive, ReasonNotMember},
		{"guest window over", link(nil), membership(domain.RoleGuest, func(m *domain.Membership) { m.Until = now }), camA, domain.ActionLive, ReasonExpired},
		{"guest may not snapshot", link(nil), membership(domain.RoleGuest, func(m *domain.Membership) { m.Actions = []domain.Action{domain.ActionLive} }), camA, domain.ActionSnapshot, ReasonActionScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cam := tt.camera
			d := Decide(p, tt.action, Resource{Home: homeA, Camera: &cam}, Facts{Now: now, Membership: tt.m, Via: tt.via})
			if d.Reason != tt.want || d.Allowed != (tt.want == ReasonAllowed) {
				t.Fatalf("got %+v, want %s", d, tt.want)
			}
		})
	}
	g, d := Authorize(p, domain.ActionLive, Resource{Home: homeA, Camera: &camA}, Facts{Now: now, Membership: owner, Via: link(nil)})
	if !d.Allowed || g.Link() != "linkaaaaaaaaaaaaaaaaaaaaaa" {
		t.Fatalf("grant through a link: %+v %+v", g, d)
	}
	if got := g.Actions(); !slices.Equal(got, []domain.Action{domain.ActionLive, domain.ActionSnapshot}) {
		t.Fatalf("a link grant carries %v, want only the linked actions", got)
	}
	if own, _ := Authorize(p, domain.ActionLive, Resource{Home: homeA, Camera: &camA}, Facts{Now: now, Membership: owner}); own.Link() != "" {
		t.Fatal("an account's own grant names a link")
	}
	// A link that named the camera at a generation it has left reaches
	// none of that generation's kept recordings, even for an owner.
	playback := link(func(l *domain.Link) { l.Actions = []domain.Action{domain.ActionPlayback} })
	if d := Decide(p, domain.ActionPlayback, Resource{Home: homeA, Camera: &camA, Former: true}, Facts{Now: now, Membership: owner, Via: playback}); d.Allowed || d.Reason != ReasonLinkScope {
		t.Fatalf("a link reached a former generation's recordings: %+v", d)
	}
}
