package devicehub

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/camvault/camvault/internal/control"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/placement"
)

// clusterNode is one node's hub, listening, over a shared directory.
type clusterNode struct {
	hub    *Hub
	srv    *httptest.Server
	client *http.Client
	hello  chan domain.Camera
	// What the node's viewers see: watched says whether viewers watch
	// the camera here; warm and moved hear the hub's calls, in order.
	watched atomic.Bool
	calls   chan string
}

// newClusterNode starts a hub named name on its own view of sh, for a
// device of cam.
func newClusterNode(t *testing.T, sh *placement.Shared, name string, cam domain.Camera, snapshot func(context.Context, domain.ID) ([]byte, error)) *clusterNode {
	t.Helper()
	return startClusterNode(t, sh, Config{Node: name, Snapshot: snapshot}, cam)
}

// startClusterNode starts a hub configured by cfg (its Service,
// Placement, Hello and viewers' calls set here) on its own view of sh,
// for a device of cam.
func startClusterNode(t *testing.T, sh *placement.Shared, cfg Config, cam domain.Camera) *clusterNode {
	t.Helper()
	n := &clusterNode{hello: make(chan domain.Camera, 4), calls: make(chan string, 8)}
	name := cfg.Node
	cfg.Service = &fakeService{authenticate: func(context.Context, *x509.Certificate) (domain.Camera, error) { return cam, nil }}
	cfg.Placement, cfg.Hello = sh.View(), func(c domain.Camera) { n.hello <- c }
	cfg.Watched = func(domain.Camera) bool { return n.watched.Load() }
	cfg.Warm = func(c domain.Camera) { n.calls <- name + " warm " + string(c.ID) }
	cfg.Moved = func(c domain.ID) { n.calls <- name + " moved " + string(c) }
	n.hub = New(cfg)
	t.Cleanup(n.hub.Close)
	if err := n.hub.Serve(); err != nil {
		t.Fatal(err)
	}
	n.srv, n.client = listener(t, n.hub)
	return n
}

// device is a device's control connection to a node.
type device struct {
	t    *testing.T
	ctx  context.Context
	conn *websocket.Conn
}

// connect opens a control session at n and waits until the hub heard
// its hello (by then the camera is claimed).
func (n *clusterNode) connect(t *testing.T, ctx context.Context) *device {
	t.Helper()
	conn, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(n.srv.URL, "https")+"/device/v1/control", &websocket.DialOptions{HTTPClient: n.client})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	d := &device{t: t, ctx: ctx, conn: conn}
	b, _ := control.Encode(control.Message{Type: control.TypeHello, ID: "h1", Hello: &control.Hello{AgentVersion: "1"}})
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.hello:
	case <-ctx.Done():
		t.Fatal("the hub never heard the hello")
	}
	return d
}

// read returns the next message the device gets.
func (d *device) read() control.Message {
	d.t.Helper()
	_, b, err := d.conn.Read(d.ctx)
	if err != nil {
		d.t.Fatal(err)
	}
	m, err := control.Decode(b)
	if err != nil {
		d.t.Fatal(err)
	}
	return m
}

// ended waits until the server ends the session.
func (d *device) ended() {
	d.t.Helper()
	for {
		if _, _, err := d.conn.Read(d.ctx); err != nil {
			if d.ctx.Err() != nil {
				d.t.Fatal("the session did not end")
			}
			return
		}
	}
}

// clusterSetup returns what a placement test needs: a context ending
// with the test (30 s at most), a camera and a shared directory.
func clusterSetup(t *testing.T) (context.Context, domain.Camera, *placement.Shared) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx, domain.Camera{ID: domain.NewID(), Generation: 1}, placement.NewShared(nil)
}

// followed checks that node-a's viewers of the camera followed it to
// node-b: node-b warmed the stream up, then node-a's viewers were told to
// move.
func followed(t *testing.T, ctx context.Context, a, b *clusterNode, cam domain.Camera) {
	t.Helper()
	if got := b.call(t, ctx); got != "node-b warm "+string(cam.ID) {
		t.Fatalf("node B heard %q, want the warm-up", got)
	}
	if got := a.call(t, ctx); got != "node-a moved "+string(cam.ID) {
		t.Fatalf("node A heard %q, want its viewers moved", got)
	}
}

// eventually polls cond until it holds or ctx ends.
func eventually(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestPlacementAcrossNodes: a camera connected to node A is online at
// node B, whose rename, snapshot and release reach the device through A;
// stream starts and stops stay with A. When the device disconnects, its
// claim goes and it is offline everywhere.
func TestPlacementAcrossNodes(t *testing.T) {
	ctx, cam, sh := clusterSetup(t)
	a := newClusterNode(t, sh, "node-a", cam, func(_ context.Context, id domain.ID) ([]byte, error) {
		return []byte("jpeg of " + string(id)), nil
	})
	b := newClusterNode(t, sh, "node-b", cam, nil)
	if b.hub.Online(cam.ID) {
		t.Fatal("a camera no node holds is online")
	}
	dev := a.connect(t, ctx)
	if !a.hub.Online(cam.ID) || !b.hub.Online(cam.ID) {
		t.Fatalf("online at A %v, at B %v; want both", a.hub.Online(cam.ID), b.hub.Online(cam.ID))
	}
	if c, ok, _ := sh.View().Owner(ctx, cam.ID); !ok || c.Node != "node-a" || c.Conn == "" {
		t.Fatalf("owner %+v, %v; want node-a", c, ok)
	}

	b.hub.Renamed(cam.ID, "Porch")
	if m := dev.read(); m.Type != control.TypeRename || m.Rename.Name != "Porch" {
		t.Fatalf("the device got %+v, want the rename sent at B", m)
	}
	jpeg, held, err := b.hub.FetchSnapshot(ctx, cam.ID)
	if err != nil || !held || string(jpeg) != "jpeg of "+string(cam.ID) {
		t.Fatalf("snapshot at B = %q, %v, %v", jpeg, held, err)
	}
	if _, held, _ := a.hub.FetchSnapshot(ctx, cam.ID); held {
		t.Fatal("A fetched from another node a snapshot of a camera it holds")
	}
	if b.hub.Send(cam.ID, control.Message{Type: control.TypeStopStream}) {
		t.Fatal("B's stream stop was sent to the device A streams from")
	}
	if !b.hub.Send(cam.ID, control.Message{Type: control.TypeUpdateAvailable, Update: &control.Update{Version: "2"}}) {
		t.Fatal("B's message did not reach the device at A")
	}
	if m := dev.read(); m.Type != control.TypeUpdateAvailable {
		t.Fatalf("the device got %+v, want B's update notice", m)
	}

	b.hub.Released(cam.ID)
	if m := dev.read(); m.Type != control.TypeUnclaim {
		t.Fatalf("the device got %+v, want the release sent at B", m)
	}
	dev.ended()
	eventually(t, ctx, "the claim to go", func() bool { return !b.hub.Online(cam.ID) })
	if a.hub.Online(cam.ID) {
		t.Fatal("a released camera is online at A")
	}
}

// TestPlacementSuperseded: the newest connection wins. A device that
// connects again at B ends its older session at A, and the old
// session's end does not drop B's claim.
func TestPlacementSuperseded(t *testing.T) {
	ctx, cam, sh := clusterSetup(t)
	a := newClusterNode(t, sh, "node-a", cam, nil)
	b := newClusterNode(t, sh, "node-b", cam, nil)
	old := a.connect(t, ctx)
	b.connect(t, ctx)
	old.ended()
	eventually(t, ctx, "A to let its session go", func() bool { return a.hub.Sessions() == 0 })
	if c, ok, _ := sh.View().Owner(ctx, cam.ID); !ok || c.Node != "node-b" {
		t.Fatalf("owner after reconnecting at B: %+v, %v", c, ok)
	}
	if !a.hub.Online(cam.ID) || !b.hub.Online(cam.ID) || b.hub.Sessions() != 1 {
		t.Fatal("the camera connected at B is not online everywhere")
	}

	// Connecting again at the same node replaces the session there too.
	again := b.connect(t, ctx)
	eventually(t, ctx, "one session at B", func() bool { return b.hub.Sessions() == 1 })
	if c, ok, _ := sh.View().Owner(ctx, cam.ID); !ok || c.Node != "node-b" {
		t.Fatalf("owner after reconnecting at B again: %+v, %v", c, ok)
	}
	if !a.hub.Send(cam.ID, control.Message{Type: control.TypeRename, Rename: &control.Rename{Name: "Gate"}}) {
		t.Fatal("A's rename did not reach the newest session at B")
	}
	if m := again.read(); m.Type != control.TypeRename || m.Rename.Name != "Gate" {
		t.Fatalf("the newest session got %+v", m)
	}
}

// TestDrain: a draining hub ends its sessions, releasing their claims,
// and refuses new ones, so agents go to another node.
func TestDrain(t *testing.T) {
	ctx, cam, sh := clusterSetup(t)
	a := newClusterNode(t, sh, "node-a", cam, nil)
	dev := a.connect(t, ctx)
	a.hub.Drain()
	if !a.hub.Draining() {
		t.Fatal("a draining hub says it is not")
	}
	dev.ended()
	eventually(t, ctx, "the claim to go", func() bool { _, ok, _ := sh.View().Owner(ctx, cam.ID); return !ok })
	_, resp, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(a.srv.URL, "https")+"/device/v1/control", &websocket.DialOptions{HTTPClient: a.client})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("a new session at a draining node: %v, status %d; want 503", err, code)
	}
}

// TestPlacementTrigger: a recording trigger made at another node, with a
// device listener or without one, reaches the recorder of the node
// holding the camera, which answers whether it records it; a camera no
// other node holds is left to the asking node's own recorder.
func TestPlacementTrigger(t *testing.T) {
	ctx, cam, sh := clusterSetup(t)
	var mu sync.Mutex
	var marked []domain.ID
	recording := true
	a := startClusterNode(t, sh, Config{Node: "node-a", Trigger: func(id domain.ID) bool {
		mu.Lock()
		defer mu.Unlock()
		marked = append(marked, id)
		return recording
	}}, cam)
	b := newClusterNode(t, sh, "node-b", cam, nil)
	for name, r := range map[string]Recorders{
		"a node with a device listener": {Placement: sh.View(), Node: "node-b"},
		"a node serving only the API":   {Placement: sh.View(), Node: "node-api"},
	} {
		if _, held, err := r.TriggerElsewhere(ctx, cam.ID); held || err != nil {
			t.Fatalf("%s: a trigger for a camera no node holds went elsewhere (%v)", name, err)
		}
	}
	a.connect(t, ctx)
	for _, name := range []string{"node-b", "node-api"} {
		r := Recorders{Placement: sh.View(), Node: name}
		mu.Lock()
		marked, recording = nil, true
		mu.Unlock()
		rec, held, err := r.TriggerElsewhere(ctx, cam.ID)
		if err != nil || !held || !rec {
			t.Fatalf("trigger at %s = recording %v, held %v, %v; want node-a's recorder to take it", name, rec, held, err)
		}
		mu.Lock()
		got := slices.Clone(marked)
		recording = false
		mu.Unlock()
		if len(got) != 1 || got[0] != cam.ID {
			t.Fatalf("trigger at %s: node-a's recorder marked %v, want the camera once", name, got)
		}
		if rec, held, err := r.TriggerElsewhere(ctx, cam.ID); err != nil || !held || rec {
			t.Fatalf("trigger at %s of a camera node-a does not record = recording %v, held %v, %v", name, rec, held, err)
		}
	}
	// The holder's own trigger is its own recorder's.
	if _, held, err := (Recorders{Placement: sh.View(), Node: "node-a"}).TriggerElsewhere(ctx, cam.ID); held || err != nil {
		t.Fatalf("node-a's own trigger went elsewhere (%v)", err)
	}
	// A node whose hub records nothing answers that it does not record.
	b.connect(t, ctx)
	eventually(t, ctx, "the camera to move to node-b", func() bool { return a.hub.Sessions() == 0 })
	if rec, held, err := (Recorders{Placement: sh.View(), Node: "node-a"}).TriggerElsewhere(ctx, cam.ID); err != nil || !held || rec {
		t.Fatalf("trigger at node-a after the move = recording %v, held %v, %v; want node-b's answer: not recording", rec, held, err)
	}
}

// call returns the next call a node's viewers heard.
func (n *clusterNode) call(t *testing.T, ctx context.Context) string {
	t.Helper()
	select {
	case c := <-n.calls:
		return c
	case <-ctx.Done():
		t.Fatal("no call came")
		return ""
	}
}

// TestDrainViewersFollow: a draining node tells its device to connect
// again at once (close status 1012); when the device is held at another
// node, that node is asked to start the stream, and then the draining
// node's viewers are told to ask again. A node without viewers of the
// camera asks nothing.
func TestDrainViewersFollow(t *testing.T) {
	ctx, cam, sh := clusterSetup(t)
	a := newClusterNode(t, sh, "node-a", cam, nil)
	b := newClusterNode(t, sh, "node-b", cam, nil)
	a.watched.Store(true)
	dev := a.connect(t, ctx)
	a.hub.Drain()
	_, _, err := dev.conn.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusServiceRestart {
		t.Fatalf("the drained session closed with %v (%v), want %v", got, err, websocket.StatusServiceRestart)
	}
	select {
	case c := <-a.calls:
		t.Fatalf("%q before another node held the camera", c)
	default:
	}
	b.connect(t, ctx)
	followed(t, ctx, a, b, cam)

	// Connecting again elsewhere moves the viewers too; B has none, so
	// A hears nothing.
	a.hub.draining.Store(false)
	a.watched.Store(false)
	old := b.connect(t, ctx)
	a.connect(t, ctx)
	old.ended()
	eventually(t, ctx, "B to let its session go", func() bool { return b.hub.Sessions() == 0 })
	select {
	case c := <-a.calls:
		t.Fatalf("A, without viewers of the camera, heard %q", c)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestSupersededViewersFollow: a device that connects again at another
// node takes the viewers of the node it left along.
func TestSupersededViewersFollow(t *testing.T) {
	ctx, cam, sh := clusterSetup(t)
	a := newClusterNode(t, sh, "node-a", cam, nil)
	b := newClusterNode(t, sh, "node-b", cam, nil)
	a.watched.Store(true)
	old := a.connect(t, ctx)
	b.connect(t, ctx)
	old.ended()
	followed(t, ctx, a, b, cam)
}
