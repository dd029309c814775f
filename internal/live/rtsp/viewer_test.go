package rtsp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/pion/rtp"

	"github.com/camvault/camvault/internal/authz"
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
	denyAll    = livetest.DenyAll
)

// feed publishes testCam's H.264 stream until the test ends.
func feed(t testing.TB, hub *media.Hub) {
	livetest.Feed(t, hub, livetest.Track, 5*time.Millisecond, func(i int) *media.AccessUnit {
		au := &media.AccessUnit{Origin: testCam.Ref(), PTS: time.Duration(i) * time.Second / 15, Key: i%10 == 0, NALUs: nalus(media.H264, 30)}
		if au.Key {
			au.NALUs[0][0] = 0x65
		}
		return au
	})
}

// client is a minimal RTSP player.
type client struct {
	t    *testing.T
	c    net.Conn
	br   *bufio.Reader
	cseq int
}

func dial(t *testing.T, addr string) *client {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

func (c *client) do(method, url string, header ...string) *base.Response {
	c.t.Helper()
	c.cseq++
	req := fmt.Sprintf("%s %s RTSP/1.0\r\nCSeq: %d\r\n%s\r\n", method, url, c.cseq, strings.Join(header, ""))
	if _, err := c.c.Write([]byte(req)); err != nil {
		c.t.Fatal(err)
	}
	var res base.Response
	if err := res.Unmarshal(c.br); err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
	return &res
}

// TestViewerPlays: a redeemed credential gets the viewer the camera's
// stream as interleaved RTP; withdrawing the viewer's access, which the
// policy then refuses, closes the connection.
func TestViewerPlays(t *testing.T) {
	hub := media.New(media.Config{})
	feed(t, hub)
	acct := domain.NewID()
	refused := make(chan struct{})
	rd := redeemer{Redeem: func(_ context.Context, token string, camera domain.ID, protocol, addr string) (authz.Grant, live.Reauth, error) {
		if token != "good" || camera != testCam.ID || protocol != live.ProtoRTSP || addr != "127.0.0.1" {
			return authz.Grant{}, nil, errDenied
		}
		return ownerGrant(t, acct), func(context.Context) (authz.Grant, error) {
			close(refused)
			return authz.Grant{}, errDenied
		}, nil
	}}
	bus := &events.Local{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	v := live.New(live.Config{Hub: hub, Bus: bus})
	defer v.Close()
	s, err := Start(Config{Redeemer: rd, Live: v}, l)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	url := "rtsp://" + l.Addr().String() + "/cameras/" + string(testCam.ID)

	if res := dial(t, l.Addr().String()).do("DESCRIBE", url+"?token=bad"); res.StatusCode != base.StatusUnauthorized {
		t.Fatalf("DESCRIBE with a bad credential: %d", res.StatusCode)
	}
	c := dial(t, l.Addr().String())
	res := c.do("DESCRIBE", url+"?token=good")
	if res.StatusCode != base.StatusOK || !strings.Contains(string(res.Body), "H264/90000") {
		t.Fatalf("DESCRIBE: %d %q", res.StatusCode, res.Body)
	}
	res = c.do("SETUP", url+"/trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
	if res.StatusCode != base.StatusOK {
		t.Fatalf("SETUP: %d", res.StatusCode)
	}
	var sess headers.Session
	if err := sess.Unmarshal(res.Header["Session"]); err != nil {
		t.Fatal(err)
	}
	if res := c.do("PLAY", url, "Session: "+sess.Session+"\r\n"); res.StatusCode != base.StatusOK {
		t.Fatalf("PLAY: %d", res.StatusCode)
	}
	for n := 0; n < 5; {
		var f base.InterleavedFrame
		if err := f.Unmarshal(c.br); err != nil {
			t.Fatalf("after %d packets: %v", n, err)
		}
		if f.Channel != 0 {
			continue
		}
		var p rtp.Packet
		if err := p.Unmarshal(f.Payload); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if err := bus.Publish(context.Background(), events.Event{Kind: events.AccessRevoked, Account: acct}); err != nil {
		t.Fatal(err)
	}
	<-refused
	for {
		var f base.InterleavedFrame
		if err := f.Unmarshal(c.br); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the connection still runs after access was withdrawn")
			}
			return
		}
	}
}
