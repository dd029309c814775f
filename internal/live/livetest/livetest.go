// Package livetest holds what the tests of package live and its viewer
// adapters share: a fake live.Redeemer made of a function, a camera and
// an owner's grant minted by the real policy, and a feed that publishes a
// camera's stream to a real hub. No server is needed.
package livetest

import (
	"context"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/fault"
	"github.com/camvault/camvault/internal/live"
	"github.com/camvault/camvault/internal/media"
)

// The home and camera the tests watch.
var (
	Home   = domain.ID("homeaaaaaaaaaaaaaaaaaaaaaa")
	Camera = domain.Camera{ID: "camaaaaaaaaaaaaaaaaaaaaaaa", HomeID: Home, Generation: 1}
)

// ErrDenied is a refused stream credential, as the service answers it.
var ErrDenied = &fault.Error{Kind: fault.KindUnauthenticated, Code: "unauthenticated", Message: "stream credential not valid"}

// Redeemer is a fake live.Redeemer.
type Redeemer struct {
	Redeem func(ctx context.Context, token string, camera domain.ID, protocol, addr string) (authz.Grant, live.Reauth, error)
}

// RedeemStream implements live.Redeemer.
func (r Redeemer) RedeemStream(ctx context.Context, token string, camera domain.ID, protocol, addr string) (authz.Grant, live.Reauth, error) {
	return r.Redeem(ctx, token, camera, protocol, addr)
}

// DenyAll knows no credential.
func DenyAll() Redeemer {
	return Redeemer{Redeem: func(context.Context, string, domain.ID, string, string) (authz.Grant, live.Reauth, error) {
		return authz.Grant{}, nil, ErrDenied
	}}
}

// OwnerGrant mints a real live grant on Camera through the policy, for an
// owner of Home.
func OwnerGrant(t testing.TB, account domain.ID) authz.Grant {
	t.Helper()
	m := &domain.Membership{HomeID: Home, AccountID: account, Role: domain.RoleOwner}
	g, d := authz.Authorize(authz.Principal{Account: account}, domain.ActionLive, authz.Resource{Home: Home, Camera: &Camera},
		authz.Facts{Now: time.Now(), Membership: m})
	if !d.Allowed {
		t.Fatalf("grant: %+v", d)
	}
	return g
}

// Feed publishes Camera's stream with track on hub, one unit(i) every
// every, until the test ends.
func Feed(t testing.TB, hub *media.Hub, track media.Track, every time.Duration, unit func(i int) *media.AccessUnit) {
	pub := hub.Publish(Camera.Ref(), track)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(every):
			}
			pub.Write(unit(i))
		}
	}()
	t.Cleanup(func() { close(stop); <-done; pub.Close() })
}

// Track is a small H.264 track's parameter sets.
var Track = media.Track{Codec: media.H264, SPS: []byte{0x67, 0x42, 0xc0, 0x1f}, PPS: []byte{0x68, 0xce, 0x3c, 0x80}}

// Unit is a tiny H.264 access unit of Camera at 15 fps: a keyframe every
// ten.
func Unit(i int) *media.AccessUnit {
	nal := []byte{0x41, byte(i), 2, 3}
	if i%10 == 0 {
		nal[0] = 0x65
	}
	return &media.AccessUnit{Origin: Camera.Ref(), PTS: time.Duration(i) * time.Second / 15, Key: i%10 == 0, NALUs: [][]byte{nal}}
}
