package e2e

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// cutter is a TCP proxy to one address that the test can cut off and
// restore, as when a network between a node and a service fails.
type cutter struct {
	t      *testing.T
	target string
	l      net.Listener
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func newCutter(t *testing.T, target string) *cutter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{t: t, target: target, l: l, conns: map[net.Conn]bool{}}
	go c.accept()
	t.Cleanup(func() { l.Close(); c.setCut(true) })
	return c
}

func (c *cutter) addr() string { return c.l.Addr().String() }

func (c *cutter) accept() {
	for {
		in, err := c.l.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		if c.cut {
			c.mu.Unlock()
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", c.target)
		if err != nil {
			c.mu.Unlock()
			in.Close()
			continue
		}
		c.conns[in], c.conns[out] = true, true
		c.mu.Unlock()
		go func() { io.Copy(out, in); out.Close() }()
		go func() { io.Copy(in, out); in.Close() }()
	}
}

// setCut cuts (closing every connection and refusing new ones) or
// restores the way through.
func (c *cutter) setCut(v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = v
	if v {
		for conn := range c.conns {
			conn.Close()
		}
		c.conns = map[net.Conn]bool{}
	}
}

// via rewrites u to reach its host through c.
func (c *cutter) via(t *testing.T, u string) string {
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.Host = c.addr()
	return p.String()
}

// TestClusterWithoutNATS: node A serves a stream and loses NATS. A
// member removed at node B still stops watching at A (A polls the
// store's outbox). When A loses the store too, it hears no withdrawals
// at all: its streams end and none opens until it hears again.
func TestClusterWithoutNATS(t *testing.T) {
	env := newClusterEnv(t)
	natsHost, err := url.Parse(env.nats)
	if err != nil {
		t.Fatal(err)
	}
	pgHost, err := url.Parse(env.store)
	if err != nil {
		t.Fatal(err)
	}
	natsCut, pgCut := newCutter(t, natsHost.Host), newCutter(t, pgHost.Host)
	cfgA := env.node(t)
	cfgA.Bus.NATS = natsCut.via(t, env.nats)
	cfgA.Store = pgCut.via(t, env.store)
	a, b, o, cam, pool := pairWithCamera(t, env, cfgA)

	watch := func(token string) <-chan error { return watchRTSP(t, a, token, cam, pool) }
	ended := func(what string, done <-chan error, since time.Time) {
		t.Helper()
		select {
		case <-done:
			t.Logf("%s: the stream at node A ended after %v", what, time.Since(since).Round(time.Millisecond))
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the stream at node A still runs 20 s later", what)
		}
	}

	// NATS cut off from A: the outbox brings B's withdrawal.
	inv := a.must(o.token, "POST", "/api/v1/homes/"+o.home+"/invites", map[string]any{"role": "member"}, 201)
	out := b.must("", "POST", "/api/v1/invites/"+inv["token"].(string)+"/accept", map[string]any{"email": "bea@example.org", "password": password}, 200)
	viewer := a.login("bea@example.org")
	done := watch(viewer)
	natsCut.setCut(true)
	at := time.Now()
	b.must(o.token, "DELETE", "/api/v1/homes/"+o.home+"/members/"+out["account"].(map[string]any)["id"].(string), nil, 204)
	ended("member removed at B with NATS cut off from A", done, at)

	// The owner still watches at A while the store answers.
	done = watch(o.token)
	// The store cut off too: A fails closed.
	pgCut.setCut(true)
	at = time.Now()
	ended("NATS and the store cut off from A", done, at)
	if code, _ := a.call(o.token, "POST", "/api/v1/cameras/"+cam+"/streams", map[string]any{"protocol": "rtsp"}); code < 500 {
		t.Fatalf("a stream asked at A while it hears nothing: %d, want a server error", code)
	}
	// Both back: streams open again.
	natsCut.setCut(false)
	pgCut.setCut(false)
	waitFor(t, "node A to hear again", func() bool {
		code, _ := a.call(o.token, "GET", "/readyz", nil)
		return code == 200
	})
	var opened bool
	for deadline := time.Now().Add(30 * time.Second); !opened && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		code, _ := a.call(o.token, "POST", "/api/v1/cameras/"+cam+"/streams", map[string]any{"protocol": "rtsp"})
		opened = code == 201
	}
	if !opened {
		t.Fatal("no stream at A after NATS and the store came back")
	}
	watch(o.token)
}
