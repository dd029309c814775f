package whep

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/displaysim"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/fault"
	"github.com/camvault/camvault/internal/live"
	"github.com/camvault/camvault/internal/media"
)

// redeemer is a fake live.Redeemer.
type redeemer struct {
	redeem func(ctx context.Context, token string, camera domain.ID, protocol, addr string) (authz.Grant, live.Reauth, error)
}

func (r redeemer) RedeemStream(ctx context.Context, token string, camera domain.ID, protocol, addr string) (authz.Grant, live.Reauth, error) {
	return r.redeem(ctx, token, camera, protocol, addr)
}

var (
	testHome  = domain.ID("homeaaaaaaaaaaaaaaaaaaaaaa")
	testCam   = domain.Camera{ID: "camaaaaaaaaaaaaaaaaaaaaaaa", HomeID: testHome, Generation: 1}
	errDenied = &fault.Error{Kind: fault.KindUnauthenticated, Code: "unauthenticated", Message: "stream credential not valid"}
)

// ownerGrant mints a real live grant through the policy for an owner.
func ownerGrant(t testing.TB, account domain.ID) authz.Grant {
	m := &domain.Membership{HomeID: testHome, AccountID: account, Role: domain.RoleOwner}
	g, d := authz.Authorize(authz.Principal{Account: account}, domain.ActionLive, authz.Resource{Home: testHome, Camera: &testCam}, authz.Facts{Now: time.Now(), Membership: m})
	if !d.Allowed {
		t.Fatalf("grant: %+v", d)
	}
	return g
}

// feed publishes testCam's H.264 stream until the test ends.
func feed(t testing.TB, hub *media.Hub) {
	pub := hub.Publish(testCam.Ref(), media.Track{Codec: media.H264, SPS: []byte{0x67, 0x42, 0xc0, 0x1f}, PPS: []byte{0x68, 0xce, 0x3c, 0x80}})
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			nal := []byte{0x41, byte(i), 2, 3}
			if i%10 == 0 {
				nal[0] = 0x65
			}
			pub.Write(&media.AccessUnit{Origin: testCam.Ref(), PTS: time.Duration(i) * time.Second / 15, Key: i%10 == 0, NALUs: [][]byte{nal}})
		}
	}()
	t.Cleanup(func() { close(stop); <-done; pub.Close() })
}

// TestOfferPlaysAndEnds: a redeemed credential gets a WebRTC viewer the
// camera's pictures; a bad one is refused; withdrawing access the policy
// then refuses ends the session.
func TestOfferPlaysAndEnds(t *testing.T) {
	hub := media.New(media.Config{})
	feed(t, hub)
	acct := domain.NewID()
	rd := redeemer{redeem: func(_ context.Context, token string, camera domain.ID, protocol, _ string) (authz.Grant, live.Reauth, error) {
		if token != "good" || camera != testCam.ID || protocol != live.ProtoWebRTC {
			return authz.Grant{}, nil, errDenied
		}
		return ownerGrant(t, acct), func(context.Context) (authz.Grant, error) { return authz.Grant{}, errDenied }, nil
	}}
	bus := &events.Local{}
	v := live.New(live.Config{Hub: hub, Bus: bus})
	defer v.Close()
	s, err := New(Config{Redeemer: rd, Live: v})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mux := http.NewServeMux()
	for _, rt := range s.Routes() {
		switch rt.Method() {
		case "POST":
			mux.HandleFunc(rt.Pattern, s.offer)
		case "DELETE":
			mux.HandleFunc(rt.Pattern, s.remove)
		}
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	url := srv.URL + "/whep/cameras/" + string(testCam.ID)

	var we *displaysim.WHEPError
	if _, err := displaysim.DialWHEP(context.Background(), url+"?token=bad", func([][]byte) {}); !errors.As(err, &we) || we.Status != http.StatusUnauthorized {
		t.Fatalf("bad credential: %v", err)
	}
	var frames atomic.Int64
	pc, err := displaysim.DialWHEP(context.Background(), url+"?token=good", func([][]byte) { frames.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	waitFor(t, "pictures over WebRTC", func() bool { return frames.Load() >= 3 })
	if n := s.Sessions(); n != 1 {
		t.Fatalf("%d sessions", n)
	}
	if err := bus.Publish(context.Background(), events.Event{Kind: events.AccessRevoked, Account: acct}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session to end", func() bool { return s.Sessions() == 0 })
	if n := hub.ReadersOf(acct); n != 0 {
		t.Fatalf("%d readers left behind", n)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
