package hls

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/clips"
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

// feed publishes the porch clip as testCam's stream until the test ends,
// faster than real time.
func feed(t testing.TB, hub *media.Hub) {
	aus := bitstream.AccessUnits(bitstream.H264, bitstream.SplitAnnexB(clips.PorchH264))
	tr := media.Track{Codec: media.H264}
	for _, au := range aus {
		for _, n := range au {
			switch n[0] & 0x1f {
			case 7:
				tr.SPS = n
			case 8:
				tr.PPS = n
			}
		}
	}
	pub := hub.Publish(testCam.Ref(), tr)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			nalus := aus[i%len(aus)]
			key := false
			for _, n := range nalus {
				key = key || bitstream.IsKey(bitstream.H264, n)
			}
			pub.Write(&media.AccessUnit{Origin: testCam.Ref(), PTS: time.Duration(i) * time.Second / clips.FPS, Capture: time.Now(), Key: key, NALUs: nalus})
		}
	}()
	t.Cleanup(func() { close(stop); <-done; pub.Close() })
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestSessionPlaysAndEnds: the first playlist request spends the
// credential and opens the viewer's session; a bad credential or a file
// of no session is refused; withdrawing access the policy then refuses
// ends the session.
func TestSessionPlaysAndEnds(t *testing.T) {
	hub := media.New(media.Config{})
	feed(t, hub)
	acct := domain.NewID()
	redeemed := 0
	rd := redeemer{redeem: func(_ context.Context, token string, camera domain.ID, protocol, addr string) (authz.Grant, live.Reauth, error) {
		if token != "good" || camera != testCam.ID || protocol != live.ProtoHLS || addr != "127.0.0.1" || redeemed > 0 {
			return authz.Grant{}, nil, errDenied
		}
		redeemed++
		return ownerGrant(t, acct), func(context.Context) (authz.Grant, error) { return authz.Grant{}, errDenied }, nil
	}}
	bus := &events.Local{}
	v := live.New(live.Config{Hub: hub, Bus: bus})
	defer v.Close()
	s := New(Config{Redeemer: rd, Live: v})
	defer s.Close()
	mux := http.NewServeMux()
	for _, rt := range s.Routes() {
		mux.HandleFunc(rt.Pattern, s.serve)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base := srv.URL + "/hls/cameras/" + string(testCam.ID) + "/"

	if code, _ := get(t, base+"index.m3u8?token=bad"); code != http.StatusUnauthorized {
		t.Fatalf("bad credential: %d", code)
	}
	if code, _ := get(t, base+"stream.m3u8?token=good"); code != http.StatusNotFound {
		t.Fatalf("a file of no session: %d", code)
	}
	code, body := get(t, base+"index.m3u8?token=good")
	if code != http.StatusOK || !strings.HasPrefix(body, "#EXTM3U") || !strings.Contains(body, "token=good") {
		t.Fatalf("playlist: %d %q", code, body)
	}
	if n := s.Sessions(); n != 1 {
		t.Fatalf("%d sessions", n)
	}
	// The session, not a second redemption, answers the next request.
	if code, _ := get(t, base+"index.m3u8?token=good"); code != http.StatusOK {
		t.Fatalf("playlist again: %d", code)
	}
	if err := bus.Publish(context.Background(), events.Event{Kind: events.AccessRevoked, Account: acct}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Sessions() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session still runs after access was withdrawn")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := hub.ReadersOf(acct); n != 0 {
		t.Fatalf("%d readers left behind", n)
	}
}
