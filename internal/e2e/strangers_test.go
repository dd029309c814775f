package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/displaysim"
	"github.com/camvault/camvault/internal/domain"
)

// chaos is a TCP proxy that drops, delays and resets connections.
type chaos struct {
	l      net.Listener
	target string
	conns  sync.WaitGroup

	dropped, delayed, reset atomic.Int64
}

func newChaos(t *testing.T, target string) *chaos {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &chaos{l: l, target: target}
	go c.serve()
	t.Cleanup(func() { l.Close() })
	return c
}

func (c *chaos) addr() string { return c.l.Addr().String() }

func (c *chaos) serve() {
	for {
		in, err := c.l.Accept()
		if err != nil {
			return
		}
		go c.handle(in)
	}
}

func (c *chaos) handle(in net.Conn) {
	defer in.Close()
	r := rand.Float64()
	if r < 0.03 {
		c.dropped.Add(1)
		return
	}
	out, err := net.Dial("tcp", c.target)
	if err != nil {
		return
	}
	defer out.Close()
	var delay time.Duration
	if r < 0.25 {
		c.delayed.Add(1)
		delay = time.Duration(rand.IntN(120)) * time.Millisecond
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if delay > 0 {
					time.Sleep(delay)
				}
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go pipe(out, in)
	go pipe(in, out)
	if r < 0.10 {
		// Reset: a hard close (RST) after a while.
		select {
		case <-done:
		case <-time.After(time.Duration(500+rand.IntN(4000)) * time.Millisecond):
			c.reset.Add(1)
			if tc, ok := in.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
		}
		return
	}
	<-done
}

// strangerTally counts what the displays checked and every violation.
type strangerTally struct {
	frames, gops, claims, gaps, snapshots, refused, streams, syncs, refreshes, relinks, expired atomic.Int64

	mu         sync.Mutex // guards violations
	violations []string
}

func (s *strangerTally) violate(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestStrangersCamera is the test of the incident that makes people afraid
// of smart cameras. Many homes, each with one camera and one linked
// display, stream and fetch snapshots at once, through a proxy that drops,
// delays and resets connections, while access tokens expire and refresh,
// cameras reconnect and the server restarts once. Every display also asks
// for a stranger's camera now and then. No frame or snapshot may reach a
// display from a camera it is not linked to: every frame's and snapshot's
// signature is checked against the key of the camera the display asked
// for, which the test knows without trusting the server.
//
// CAMVAULT_TEST_STRANGER_HOMES (default 200) and
// CAMVAULT_TEST_STRANGER_SECONDS (default 120, the least it runs) size
// it; -short runs 20 homes for 20 seconds. On a loaded machine it runs on
// until every display could have been checked once.
func TestStrangersCamera(t *testing.T) {
	homes, seconds := envInt("CAMVAULT_TEST_STRANGER_HOMES", 200), envInt("CAMVAULT_TEST_STRANGER_SECONDS", 120)
	if testing.Short() {
		homes, seconds = 20, 20
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen, cfg.Devices.Listen, cfg.Devices.IngestListen, cfg.Live.RTSPListen = freePort(t), freePort(t), freePort(t), ""
	cfg.Auth.OpenSignup = true
	// Every camera and display of the test shares one address.
	cfg.Devices.Rate, cfg.Devices.Burst = 10000, 10000
	cfg.Devices.MaxUnclaimedPerAddress = 10000 // every camera enrols from loopback
	cfg.OAuth.AccessTokenTTL = config.Duration(30 * time.Second)
	logs := &syncBuffer{}
	s := runServer(t, cfg, logs)
	d := display(t, s, "Kitchen display")
	proxy := newChaos(t, cfg.Listen)
	serverHost, proxied := strings.TrimPrefix(s.url, "http://"), "http://"+proxy.addr()

	type home struct {
		owner  owner
		email  string
		dir    string
		camera domain.ID
		key    []byte
		stop   func()
		disp   *displaysim.Client
	}
	clip, err := filepath.Abs("testdata/tiny-160x90-5fps-h264.h264")
	if err != nil {
		t.Fatal(err)
	}
	source := "file:" + clip
	hs := make([]*home, homes)
	start := time.Now()
	var setup sync.WaitGroup
	work := make(chan int)
	var setupErr atomic.Value
	for range 8 {
		setup.Go(func() {
			for i := range work {
				h := &home{email: fmt.Sprintf("home%03d@example.org", i), dir: filepath.Join(t.TempDir(), "agent")}
				h.owner = s.signup(h.email, fmt.Sprintf("Home %d", i))
				ag, stop := runAgentBeat(t, s, h.dir, source, 2*time.Second)
				code := claimCode(t, ag)
				cam := s.must(h.owner.token, "POST", "/api/v1/homes/"+h.owner.home+"/cameras/claim", map[string]any{"claim_code": code, "name": "Cam"}, 201)["id"].(string)
				connected(t, ag)
				h.camera, h.stop = domain.ID(cam), stop
				_, h.key = agentTrust(t, h.dir)
				h.disp = another(d)
				if err := h.disp.Link(context.Background(), h.email, password, displaysim.Consent{}); err != nil {
					setupErr.Store(err)
				}
				// From now on the display reaches the server through
				// the chaos proxy.
				h.disp.Server = proxied
				hs[i] = h
			}
		})
	}
	for i := range homes {
		work <- i
	}
	close(work)
	setup.Wait()
	if err, ok := setupErr.Load().(error); ok {
		t.Fatal(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d homes with a camera and a linked display set up in %v", homes, time.Since(start).Round(time.Second))

	// The run lasts at least the given seconds and until every display
	// could have been checked once (as many GOP signatures and snapshots
	// as homes), so that a loaded machine runs longer instead of checking
	// too little; only a run that makes no headway by the hard limit
	// fails for it.
	var tally strangerTally
	runStart := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Duration(seconds)*time.Second)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			enough := tally.claims.Load() >= int64(homes) && tally.snapshots.Load() >= int64(homes)
			if enough && time.Since(runStart) >= time.Duration(seconds)*time.Second {
				cancel()
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	httpClient := &http.Client{Timeout: 10 * time.Second}
	var running sync.WaitGroup
	for i, h := range hs {
		h.disp.HTTP = httpClient
		running.Go(func() {
			runDisplay(ctx, &tally, h.disp, h.camera, h.key, hs[(i+1+rand.IntN(homes-1))%homes].camera, serverHost, proxy.addr(), h.email)
		})
	}

	// Cameras reconnect: every few seconds a few agents restart.
	running.Go(func() {
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
			for range max(1, homes/40) {
				h := hs[rand.IntN(homes)]
				h.stop()
				_, h.stop = runAgentBeat(t, s, h.dir, source, 2*time.Second)
			}
		}
	})
	// The server restarts once, half way.
	select {
	case <-ctx.Done():
	case <-time.After(time.Duration(seconds) * time.Second / 2):
		s.stop()
		s = runServer(t, cfg, logs)
		t.Logf("server restarted at %v", time.Since(start).Round(time.Second))
	}
	running.Wait()

	t.Logf("ran %v; checked %d frames (%d GOP signatures naming the right camera verified, %d GOPs verified whole, %d gaps from dropped connections and late frames) and %d snapshots on %d displays; "+
		"%d streams, %d SYNCs, %d stranger requests refused, %d token refreshes, %d expired tokens, %d relinks; proxy dropped %d, delayed %d, reset %d connections",
		time.Since(runStart).Round(time.Second), tally.frames.Load(), tally.claims.Load(), tally.gops.Load(), tally.gaps.Load(), tally.snapshots.Load(), homes,
		tally.streams.Load(), tally.syncs.Load(), tally.refused.Load(), tally.refreshes.Load(), tally.expired.Load(), tally.relinks.Load(),
		proxy.dropped.Load(), proxy.delayed.Load(), proxy.reset.Load())
	if len(tally.violations) > 0 {
		t.Fatalf("%d violations, the first: %s", len(tally.violations), strings.Join(tally.violations[:min(5, len(tally.violations))], "\n"))
	}
	if tally.claims.Load() < int64(homes) || tally.snapshots.Load() < int64(homes) {
		t.Fatalf("too little was checked to mean anything in %v: %d GOP signatures, %d snapshots", time.Since(runStart).Round(time.Second), tally.claims.Load(), tally.snapshots.Load())
	}
}

// runDisplay is one display's life until ctx ends: keep its token fresh
// (relinking if a refresh was lost to the network and the family was
// revoked), SYNC, play its camera for a few seconds, fetch a snapshot, and
// now and then ask for a stranger's camera.
func runDisplay(ctx context.Context, tally *strangerTally, d *displaysim.Client, camera domain.ID, key []byte, stranger domain.ID,
	serverHost, proxyHost, email string) {
	relink := func() {
		direct := another(d)
		direct.Server = strings.Replace(d.Server, proxyHost, serverHost, 1)
		if err := direct.Link(ctx, email, password, displaysim.Consent{}); err == nil {
			d.SetTokens(direct.Tokens())
			tally.relinks.Add(1)
		}
	}
	for ctx.Err() == nil {
		tok := d.Tokens()
		switch {
		case time.Until(tok.Expires) < 0:
			tally.expired.Add(1)
			fallthrough
		case time.Until(tok.Expires) < 5*time.Second:
			err := d.Refresh(ctx)
			var oe *displaysim.OAuthError
			switch {
			case err == nil:
				tally.refreshes.Add(1)
			case errors.As(err, &oe) && oe.Code == "invalid_grant":
				relink()
			}
		}
		sync, err := d.Sync(ctx)
		if err != nil {
			var se *displaysim.StatusError
			if errors.As(err, &se) && se.Status == http.StatusUnauthorized {
				// An access token may die with its family when a
				// refresh answer was lost: refresh, or link again.
				if d.Refresh(ctx) != nil {
					relink()
				}
			}
			pause(ctx, 200*time.Millisecond)
			continue
		}
		tally.syncs.Add(1)
		for _, dev := range sync.Devices {
			if domain.ID(dev.ID) != camera {
				tally.violate("SYNC of %s's display listed camera %s", email, dev.ID)
			}
		}
		if rand.IntN(4) == 0 {
			res, err := d.Stream(ctx, string(stranger), "hls")
			if err == nil && res.Status == "SUCCESS" {
				tally.violate("%s's display got a stream URL for a stranger's camera", email)
			} else if err == nil {
				tally.refused.Add(1)
			}
			if _, err := d.Snapshot(ctx, string(stranger)); err == nil {
				tally.violate("%s's display got a stranger's snapshot", email)
			} else {
				tally.refused.Add(1)
			}
		}
		res, err := d.Stream(ctx, string(camera), "hls")
		if err == nil && res.Status == "SUCCESS" {
			tally.streams.Add(1)
			url := strings.Replace(res.States.AccessURL, serverHost, proxyHost, 1)
			if p, err := displaysim.PlayHLSKey(url, camera, 1, key); err == nil {
				// Watch for a while, as someone at a display would.
				p.Watch(ctx, time.Duration(6+rand.IntN(6))*time.Second, 4)
				p.Close()
				frames, gops, err := p.Stats()
				tally.frames.Add(int64(frames))
				tally.gops.Add(int64(gops))
				tally.gaps.Add(int64(p.Gaps()))
				tally.claims.Add(int64(p.Claims()))
				if err != nil {
					tally.violate("%s's display: %v", email, err)
				}
			}
		}
		if jpeg, err := d.Snapshot(ctx, string(camera)); err == nil {
			if err := displaysim.CheckSnapshotKey(jpeg, camera, 1, key); err != nil {
				tally.violate("%s's display: snapshot: %v", email, err)
			} else {
				tally.snapshots.Add(1)
			}
		}
		// The display shows something else for a while.
		pause(ctx, time.Duration(4000+rand.IntN(6000))*time.Millisecond)
	}
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

var _ = io.EOF
