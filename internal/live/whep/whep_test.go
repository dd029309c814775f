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
	"github.com/camvault/camvault/internal/live"
	"github.com/camvault/camvault/internal/live/livetest"
	"github.com/camvault/camvault/internal/media"
)

type redeemer = livetest.Redeemer

var (
	testCam    = livetest.Camera
	errDenied  = livetest.ErrDenied
	ownerGrant = livetest.OwnerGrant
)

// feed publishes testCam's H.264 stream until the test ends.
func feed(t testing.TB, hub *media.Hub) {
	livetest.Feed(t, hub, livetest.Track, 10*time.Millisecond, livetest.Unit)
}

// TestOfferPlaysAndEnds: a redeemed credential gets a WebRTC viewer the
// camera's pictures; a bad one is refused; withdrawing access the policy
// then refuses ends the session.
func TestOfferPlaysAndEnds(t *testing.T) {
	hub := media.New(media.Config{})
	feed(t, hub)
	acct := domain.NewID()
	rd := redeemer{Redeem: func(_ context.Context, token string, camera domain.ID, protocol, _ string) (authz.Grant, live.Reauth, error) {
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
