package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/agent"
	"github.com/camvault/camvault/internal/config"
)

// proxy forwards TCP to target and injects faults: cut closes every open
// connection; while down, new connections are closed at once.
type proxy struct {
	l       net.Listener
	target  string
	accepts atomic.Int64
	down    atomic.Bool

	mu    sync.Mutex // guards conns
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); p.cut(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.accepts.Add(1)
			if p.down.Load() {
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			wg.Go(func() { io.Copy(u, c); u.Close() })
			wg.Go(func() { io.Copy(c, u); c.Close() })
		}
	})
	return p
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) port() string {
	_, port, _ := net.SplitHostPort(p.l.Addr().String())
	return port
}

// proxiedServer starts a server whose agents reach its device listener
// through a proxy the test can cut.
func proxiedServer(t *testing.T) (*server, *proxy) {
	t.Helper()
	devAddr := freePort(t)
	p := newProxy(t, devAddr)
	s := startServer(t, func(c *config.Config) {
		c.Devices.Listen = devAddr
		c.Devices.URL = "wss://localhost:" + p.port()
	})
	return s, p
}

// TestReconnect cuts the agent's connection again and again, then holds
// the network down: the agent reconnects with backoff, the server never
// holds two sessions for the device, and presence follows the truth.
func TestReconnect(t *testing.T) {
	s, p := proxiedServer(t)
	o := s.setup("ana@example.org", "Casa")
	ag, _ := runAgent(t, s, t.TempDir())
	cam := s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/claim", map[string]any{"claim_code": claimCode(t, ag), "name": "Porch"}, 201)["id"].(string)
	connected(t, ag)
	online := func() bool {
		_, c := s.call(o.token, "GET", "/api/v1/cameras/"+cam, nil)
		return c["online"] == true
	}
	waitFor(t, "online", online)

	// Watch the server's session count the whole time.
	var most atomic.Int64
	stopWatch := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(5 * time.Millisecond):
			}
			n, err := strconv.ParseFloat(s.metric("camvault_device_sessions"), 64)
			if err == nil && int64(n) > most.Load() {
				most.Store(int64(n))
			}
		}
	})

	for i := 2; i <= 6; i++ {
		p.cut()
		waitFor(t, "reconnect "+strconv.Itoa(i), func() bool {
			st := ag.Status()
			return st.Connections >= i && st.State == agent.StateConnected
		})
	}
	waitFor(t, "online after the cuts", online)

	// The network goes down: the device shows offline, and the agent
	// retries with growing delays rather than hammering.
	p.down.Store(true)
	before := p.accepts.Load()
	p.cut()
	waitFor(t, "offline", func() bool { return !online() })
	time.Sleep(2 * time.Second)
	attempts := p.accepts.Load() - before
	if attempts < 3 || attempts > 15 {
		t.Errorf("%d connection attempts in 2 s of outage; want backoff between 50 ms and 400 ms (3–15 attempts)", attempts)
	}
	if st := ag.Status(); st.State != agent.StateReconnecting || st.LastError == "" {
		t.Errorf("agent during the outage: %+v", st)
	}
	p.down.Store(false)
	waitFor(t, "reconnect after the outage", func() bool { return ag.Status().State == agent.StateConnected })
	waitFor(t, "online after the outage", online)

	close(stopWatch)
	watch.Wait()
	if m := most.Load(); m != 1 {
		t.Fatalf("the server held up to %d sessions for one device", m)
	}
	if v := s.metric("camvault_device_sessions"); v != "1" {
		t.Fatalf("sessions after the test: %s", v)
	}
	t.Logf("%d attempts during a 2 s outage; %s sessions opened in all", attempts, s.metric("camvault_device_connects_total"))
}

// TestDrainedAgentComesBackAtOnce: a draining server tells its agents to
// connect again at once, however long their backoff: the agent's next
// attempt comes within moments, not after its minimum backoff (a minute
// here). A lone server draining refuses it, and the agent backs off.
func TestDrainedAgentComesBackAtOnce(t *testing.T) {
	s, p := proxiedServer(t)
	o := s.setup("ana@example.org", "Casa")
	src, _ := agent.ParseSource("builtin:porch")
	ag, err := agent.New(agent.Config{Server: s.url, StateDir: t.TempDir(), Source: src, ClaimPoll: 200 * time.Millisecond,
		MinBackoff: time.Minute, MaxBackoff: time.Minute, Logger: slog.New(slog.NewTextHandler(s.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ag.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/claim", map[string]any{"claim_code": claimCode(t, ag), "name": "Porch"}, 201)
	connected(t, ag)

	before := p.accepts.Load()
	drained := time.Now()
	s.parts.Drain()
	waitFor(t, "the agent to connect again", func() bool { return p.accepts.Load() > before })
	t.Logf("the agent connected again %v after the drain", time.Since(drained).Round(time.Millisecond))
}

// TestAgentSurvivesServerRestart: the server stops and starts again on the
// same ports and data; the agent comes back on its own.
func TestAgentSurvivesServerRestart(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = freePort(t)
	cfg.Devices.Listen = freePort(t)
	cfg.Devices.IngestListen = freePort(t)
	cfg.Live.RTSPListen = freePort(t)
	logs := &syncBuffer{}
	s := runServer(t, cfg, logs)
	o := s.setup("ana@example.org", "Casa")
	ag, _ := runAgent(t, s, t.TempDir())
	s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/claim", map[string]any{"claim_code": claimCode(t, ag), "name": "Porch"}, 201)
	connected(t, ag)

	s.stop()
	waitFor(t, "the agent to notice", func() bool { return ag.Status().State != agent.StateConnected })
	s2 := runServer(t, cfg, logs)
	waitFor(t, "the agent to reconnect", func() bool {
		st := ag.Status()
		return st.State == agent.StateConnected && st.Connections >= 2
	})
	if v := s2.metric("camvault_device_sessions"); v != "1" {
		t.Fatalf("sessions after restart: %s", v)
	}
}

// TestTransferAndRename: a rename reaches the device; a transfer makes it
// enrol afresh with a new key and show a new claim code, and the next
// home's claim works: a new camera, at generation 1.
func TestTransferAndRename(t *testing.T) {
	s := startServer(t, nil)
	a := s.setup("ana@example.org", "Casa")
	b := s.signup("bo@example.org", "Flat")
	ag, _ := runAgent(t, s, t.TempDir())
	first := claimCode(t, ag)
	cam := s.must(a.token, "POST", "/api/v1/homes/"+a.home+"/cameras/claim", map[string]any{"claim_code": first, "name": "Porch"}, 201)["id"].(string)
	connected(t, ag)
	s.must(a.token, "PATCH", "/api/v1/cameras/"+cam, map[string]any{"name": "Front door"}, 200)
	waitFor(t, "the rename to reach the device", func() bool { return ag.Status().Name == "Front door" })

	s.must(a.token, "POST", "/api/v1/cameras/"+cam+"/transfer", nil, 204)
	waitFor(t, "a new claim code", func() bool { c := ag.Status().ClaimCode; return c != "" && c != first })
	if c, _ := s.call(a.token, "GET", "/api/v1/cameras/"+cam, nil); c != 404 {
		t.Fatalf("the former home still sees the camera: %d", c)
	}
	got := s.must(b.token, "POST", "/api/v1/homes/"+b.home+"/cameras/claim", map[string]any{"claim_code": ag.Status().ClaimCode, "name": "Hall"}, 201)
	if got["id"] == cam || got["generation"].(float64) != 1 {
		t.Fatalf("after transfer and claim: %v (want a new camera at generation 1)", got)
	}
	connected(t, ag)
	if st := ag.Status(); st.Generation != 1 || st.CameraID != got["id"] {
		t.Fatalf("agent holds generation %d", st.Generation)
	}
}
