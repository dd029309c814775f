package live_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/fault"
	"github.com/camvault/camvault/internal/live"
	"github.com/camvault/camvault/internal/live/livetest"
	"github.com/camvault/camvault/internal/media"
)

var (
	home = livetest.Home
	cam  = livetest.Camera
)

// grant mints a real grant through the policy for an owner of home, or
// for the integration link when link is set.
func grant(t testing.TB, account, link domain.ID, c domain.Camera) authz.Grant {
	t.Helper()
	m := &domain.Membership{HomeID: home, AccountID: account, Role: domain.RoleOwner}
	f := authz.Facts{Now: time.Now(), Membership: m}
	if link != "" {
		f.Via = &authz.Via{Link: domain.Link{ID: link, IntegrationID: "integration", HomeID: home, AccountID: account,
			Cameras: []domain.CameraRef{c.Ref()}, Actions: []domain.Action{domain.ActionLive}}, Integration: domain.Integration{ID: "integration", Enabled: true}}
	}
	g, d := authz.Authorize(authz.Principal{Account: account}, domain.ActionLive, authz.Resource{Home: home, Camera: &c}, f)
	if !d.Allowed {
		t.Fatalf("grant: %+v", d)
	}
	return g
}

// feed publishes c's stream until the test ends: a keyframe every ten
// units.
func feed(t testing.TB, hub *media.Hub, c domain.Camera) {
	t.Helper()
	pub := hub.Publish(c.Ref(), media.Track{Codec: media.H264, SPS: []byte{0x67, 0x42, 0xc0, 0x1f}, PPS: []byte{0x68, 0xce}})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			pub.Write(&media.AccessUnit{Origin: c.Ref(), PTS: time.Duration(i) * time.Second / 15, Key: i%10 == 0, NALUs: [][]byte{{0x65, byte(i)}}})
		}
	}()
	t.Cleanup(func() { close(stop); <-done; pub.Close() })
}

var errGone = &fault.Error{Kind: fault.KindNotFound, Code: "not_found", Message: "not found"}

// watch runs s.Watch until it has delivered n units, then signals on
// got; it returns Watch's result on the channel.
func watch(ctx context.Context, s *live.Session, got chan<- struct{}) <-chan error {
	ended := make(chan error, 1)
	go func() {
		ended <- s.Watch(ctx, func(*media.AccessUnit) error {
			select {
			case got <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	return ended
}

func wait[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// TestOpenDeliversAndCloses: a session delivers its camera's units and
// leaves the hub when its viewer goes.
func TestOpenDeliversAndCloses(t *testing.T) {
	hub := media.New(media.Config{})
	feed(t, hub, cam)
	v := live.New(live.Config{Hub: hub})
	defer v.Close()
	acct := domain.NewID()
	g := grant(t, acct, "", cam)
	s, err := v.Open(context.Background(), func(context.Context) (authz.Grant, error) { return g, nil },
		func(context.Context) (authz.Grant, error) { return authz.Grant{}, errGone })
	if err != nil {
		t.Fatal(err)
	}
	if s.Origin() != cam.Ref() || s.Principal() != acct {
		t.Fatalf("session of %v for %s", s.Origin(), s.Principal())
	}
	if tr, err := s.WaitTrack(context.Background()); err != nil || tr.Codec != media.H264 {
		t.Fatalf("track %+v, %v", tr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan struct{}, 1)
	ended := watch(ctx, s, got)
	wait(t, got, "a unit")
	cancel()
	if err := wait(t, ended, "the end of Watch"); err != nil {
		t.Fatalf("Watch after the viewer left: %v", err)
	}
	if n := hub.ReadersOf(acct); n != 0 {
		t.Fatalf("%d readers left behind", n)
	}
}

// TestMintErrorOpensNothing: a refused grant opens no reader.
func TestMintErrorOpensNothing(t *testing.T) {
	hub := media.New(media.Config{})
	v := live.New(live.Config{Hub: hub})
	defer v.Close()
	_, err := v.Open(context.Background(), func(context.Context) (authz.Grant, error) { return authz.Grant{}, errGone }, nil)
	if !errors.Is(err, errGone) {
		t.Fatalf("Open = %v, want the mint's error", err)
	}
	if st := hub.Stats(); st.Readers != 0 {
		t.Fatalf("%d readers", st.Readers)
	}
}

// TestWithdrawals: each withdrawal from the bus ends the sessions it
// concerns; a viewer the policy still allows goes on with a fresh grant,
// one it no longer allows ends with the policy's answer.
func TestWithdrawals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		link    bool
		event   func(acct, link domain.ID) events.Event
		touches bool // whether the event concerns the session
	}{
		{"access revoked", false, func(acct, _ domain.ID) events.Event { return events.Event{Kind: events.AccessRevoked, Account: acct} }, true},
		{"another account revoked", false, func(domain.ID, domain.ID) events.Event {
			return events.Event{Kind: events.AccessRevoked, Account: domain.NewID()}
		}, false},
		{"camera ended", false, func(domain.ID, domain.ID) events.Event { return events.Event{Kind: events.CameraEnded, Camera: cam.ID} }, true},
		{"link revoked", true, func(_, link domain.ID) events.Event { return events.Event{Kind: events.LinkRevoked, Link: link} }, true},
		{"another link revoked", true, func(domain.ID, domain.ID) events.Event {
			return events.Event{Kind: events.LinkRevoked, Link: domain.NewID()}
		}, false},
	} {
		for _, allowed := range []bool{true, false} {
			name := tc.name + "/still allowed"
			if !allowed {
				name = tc.name + "/no longer allowed"
			}
			t.Run(name, func(t *testing.T) {
				hub := media.New(media.Config{})
				feed(t, hub, cam)
				bus := &events.Local{}
				v := live.New(live.Config{Hub: hub, Bus: bus})
				defer v.Close()
				acct, link := domain.NewID(), domain.ID("")
				if tc.link {
					link = domain.NewID()
				}
				reauths := make(chan struct{}, 10)
				reauth := func(context.Context) (authz.Grant, error) {
					reauths <- struct{}{}
					if !allowed {
						return authz.Grant{}, errGone
					}
					return grant(t, acct, link, cam), nil
				}
				s, err := v.Open(context.Background(), func(context.Context) (authz.Grant, error) { return grant(t, acct, link, cam), nil }, reauth)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				got := make(chan struct{}, 1)
				ended := watch(ctx, s, got)
				wait(t, got, "a unit")
				if err := bus.Publish(ctx, tc.event(acct, link)); err != nil {
					t.Fatal(err)
				}
				switch {
				case !tc.touches:
					// Not this session's: it goes on without asking.
					<-got
					wait(t, got, "a unit after the event")
					if len(reauths) != 0 {
						t.Fatal("the policy was asked again for an event of someone else")
					}
				case tc.event(acct, link).Kind == events.CameraEnded:
					// The generation is over: even an allowed
					// viewer's new reader finds the stream ended.
					if err := wait(t, ended, "the end of Watch"); fault.KindOf(err) == fault.KindInternal {
						t.Fatalf("Watch ended with %v", err)
					}
				case allowed:
					wait(t, reauths, "the policy to be asked again")
					<-got
					wait(t, got, "a unit under the fresh grant")
				default:
					if err := wait(t, ended, "the end of Watch"); !errors.Is(err, errGone) {
						t.Fatalf("Watch ended with %v, want the policy's answer", err)
					}
				}
				cancel()
				if !tc.touches || allowed && tc.event(acct, link).Kind != events.CameraEnded {
					wait(t, ended, "the end of Watch")
				}
				if n := hub.ReadersOf(acct); n != 0 {
					t.Fatalf("%d readers left behind", n)
				}
			})
		}
	}
}

// TestRevocationRacingOpen: a revocation of the account that lands
// between the policy's answer and the reader's creation is not missed:
// Open asks again instead of keeping the reader of the old grant.
func TestRevocationRacingOpen(t *testing.T) {
	hub := media.New(media.Config{})
	v := live.New(live.Config{Hub: hub})
	defer v.Close()
	acct := domain.NewID()
	mints := 0
	s, err := v.Open(context.Background(), func(context.Context) (authz.Grant, error) {
		mints++
		g := grant(t, acct, "", cam)
		if mints == 1 {
			v.Apply(events.Event{Kind: events.AccessRevoked, Account: acct})
		}
		return g, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if mints != 2 {
		t.Fatalf("minted %d times, want 2: the raced grant was kept", mints)
	}
	if n := hub.ReadersOf(acct); n != 1 {
		t.Fatalf("%d readers, want 1", n)
	}
	// A revocation of someone else does not make Open ask again.
	other := 0
	s2, err := v.Open(context.Background(), func(context.Context) (authz.Grant, error) {
		other++
		if other == 1 {
			v.Apply(events.Event{Kind: events.AccessRevoked, Account: domain.NewID()})
		}
		return grant(t, acct, "", cam), nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if other != 1 {
		t.Fatalf("minted %d times for another account's revocation", other)
	}
}

// TestReopenKeepsGeneration: a fresh grant for another generation of the
// camera (it changed hands) does not continue the session.
func TestReopenKeepsGeneration(t *testing.T) {
	hub := media.New(media.Config{})
	feed(t, hub, cam)
	v := live.New(live.Config{Hub: hub})
	defer v.Close()
	acct := domain.NewID()
	next := cam
	next.Generation++
	s, err := v.Open(context.Background(), func(context.Context) (authz.Grant, error) { return grant(t, acct, "", cam), nil },
		func(context.Context) (authz.Grant, error) { return grant(t, acct, "", next), nil })
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1)
	ended := watch(context.Background(), s, got)
	wait(t, got, "a unit")
	v.Apply(events.Event{Kind: events.AccessRevoked, Account: acct})
	if err := wait(t, ended, "the end of Watch"); fault.KindOf(err) != fault.KindNotFound {
		t.Fatalf("Watch ended with %v, want not found", err)
	}
}

// TestStreamCap: an account holds at most MaxStreams sessions at once;
// the next is refused until one closes.
func TestStreamCap(t *testing.T) {
	hub := media.New(media.Config{})
	v := live.New(live.Config{Hub: hub})
	defer v.Close()
	acct := domain.NewID()
	mint := func(context.Context) (authz.Grant, error) { return grant(t, acct, "", cam), nil }
	var open []*live.Session
	for i := range live.MaxStreams {
		s, err := v.Open(context.Background(), mint, nil)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		open = append(open, s)
	}
	if _, err := v.Open(context.Background(), mint, nil); fault.KindOf(err) != fault.KindThrottled {
		t.Fatalf("stream over the cap: %v", err)
	}
	open[0].Close()
	s, err := v.Open(context.Background(), mint, nil)
	if err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	s.Close()
	for _, s := range open[1:] {
		s.Close()
	}
}

// TestRedeemReauthAfterRace: Redeem spends the credential once; a
// revocation that raced it is answered through the Reauth it returned.
func TestRedeemReauthAfterRace(t *testing.T) {
	hub := media.New(media.Config{})
	v := live.New(live.Config{Hub: hub})
	defer v.Close()
	acct := domain.NewID()
	redeems, reauths := 0, 0
	rd := redeemer{redeem: func(_ context.Context, token string, camera domain.ID, protocol, addr string) (authz.Grant, live.Reauth, error) {
		redeems++
		if token != "good" || camera != cam.ID || protocol != live.ProtoRTSP || addr != "192.0.2.1" {
			return authz.Grant{}, nil, errGone
		}
		v.Apply(events.Event{Kind: events.AccessRevoked, Account: acct})
		return grant(t, acct, "", cam), func(context.Context) (authz.Grant, error) { reauths++; return grant(t, acct, "", cam), nil }, nil
	}}
	if _, err := v.Redeem(context.Background(), rd, "bad", cam.ID, live.ProtoRTSP, "192.0.2.1"); !errors.Is(err, errGone) {
		t.Fatalf("bad credential: %v", err)
	}
	s, err := v.Redeem(context.Background(), rd, "good", cam.ID, live.ProtoRTSP, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if redeems != 2 || reauths != 1 {
		t.Fatalf("%d redeems, %d reauths; want 2 and 1", redeems, reauths)
	}
}

// redeemer is a fake live.Redeemer.
type redeemer struct {
	redeem func(ctx context.Context, token string, camera domain.ID, protocol, addr string) (authz.Grant, live.Reauth, error)
}

func (r redeemer) RedeemStream(ctx context.Context, token string, camera domain.ID, protocol, addr string) (authz.Grant, live.Reauth, error) {
	return r.redeem(ctx, token, camera, protocol, addr)
}

// TestFailClosed: while the node cannot hear withdrawals, every stream
// ends and none opens, even for a viewer the policy still allows; once
// it hears again, streams open.
func TestFailClosed(t *testing.T) {
	hub := media.New(media.Config{})
	feed(t, hub, cam)
	v := live.New(live.Config{Hub: hub})
	defer v.Close()
	acct := domain.NewID()
	mint := func(context.Context) (authz.Grant, error) { return grant(t, acct, "", cam), nil }
	s, err := v.Open(context.Background(), mint, mint)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1)
	ended := watch(context.Background(), s, got)
	wait(t, got, "a unit")

	v.FailClosed(true)
	if err := wait(t, ended, "the end of the stream"); fault.KindOf(err) != fault.KindUnavailable {
		t.Fatalf("Watch after failing closed: %v, want unavailable", err)
	}
	if _, err := v.Open(context.Background(), mint, mint); fault.KindOf(err) != fault.KindUnavailable {
		t.Fatalf("Open while failed closed: %v, want unavailable", err)
	}
	v.FailClosed(false)
	s, err = v.Open(context.Background(), mint, mint)
	if err != nil {
		t.Fatalf("Open after hearing again: %v", err)
	}
	s.Close()
}
