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
	livetest.Feed(t, hub, tr, 2*time.Millisecond, func(i int) *media.AccessUnit {
		nalus := aus[i%len(aus)]
		key := false
		for _, n := range nalus {
			key = key || bitstream.IsKey(bitstream.H264, n)
		}
		return &media.AccessUnit{Origin: testCam.Ref(), PTS: time.Duration(i) * time.Second / clips.FPS, Capture: time.Now(), Key: key, NALUs: nalus}
	})
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
	rd := redeemer{Redeem: func(_ context.Context, token string, camera domain.ID, protocol, addr string) (authz.Grant, live.Reauth, error) {
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
