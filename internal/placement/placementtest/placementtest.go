// Package placementtest is the conformance suite every
// placement.Directory passes.
package placementtest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/placement"
)

// wait bounds how long the suite waits for something a networked
// directory does in the background; it is a limit, not a measure.
const wait = 30 * time.Second

// Run checks a directory. newPair returns two directories of one cluster,
// as two nodes see it.
func Run(t *testing.T, newPair func(t *testing.T) (a, b placement.Directory)) {
	ctx := context.Background()

	t.Run("a claim is seen from every node while its node reports", func(t *testing.T) {
		a, b := newPair(t)
		cam := domain.NewID()
		report(t, a, "node-a")
		claim := placement.Claim{Camera: cam, Node: "node-a", Conn: "c1", Since: time.Now().UTC().Truncate(time.Second)}
		if err := a.Claim(ctx, claim); err != nil {
			t.Fatal(err)
		}
		for _, d := range []placement.Directory{a, b} {
			got, ok, err := d.Owner(ctx, cam)
			if err != nil || !ok || got.Node != "node-a" || got.Conn != "c1" || !got.Since.Equal(claim.Since) {
				t.Fatalf("Owner = %+v, %v, %v; want node-a's claim", got, ok, err)
			}
		}
		if _, ok, err := b.Owner(ctx, domain.NewID()); ok || err != nil {
			t.Fatalf("Owner of an unclaimed camera = %v, %v", ok, err)
		}
	})

	t.Run("the newest connection wins and the older holder hears of it", func(t *testing.T) {
		a, b := newPair(t)
		cam := domain.NewID()
		report(t, a, "node-a")
		report(t, b, "node-b")
		heard := make(chan placement.Claim, 4)
		defer a.Superseded(func(old placement.Claim) { heard <- old })()
		if err := a.Claim(ctx, placement.Claim{Camera: cam, Node: "node-a", Conn: "old"}); err != nil {
			t.Fatal(err)
		}
		if err := b.Claim(ctx, placement.Claim{Camera: cam, Node: "node-b", Conn: "new"}); err != nil {
			t.Fatal(err)
		}
		select {
		case old := <-heard:
			if old.Conn != "old" || old.Camera != cam {
				t.Fatalf("superseded claim = %+v", old)
			}
		case <-time.After(wait):
			t.Fatal("the older holder never heard that its claim was replaced")
		}
		if got, ok, _ := a.Owner(ctx, cam); !ok || got.Conn != "new" {
			t.Fatalf("Owner after the new claim = %+v, %v", got, ok)
		}
		// The old connection closing must not drop the new claim.
		if err := a.Release(ctx, cam, "old"); err != nil {
			t.Fatal(err)
		}
		if got, ok, _ := b.Owner(ctx, cam); !ok || got.Conn != "new" {
			t.Fatalf("the old connection's release dropped the new claim: %+v, %v", got, ok)
		}
		if err := b.Release(ctx, cam, "new"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := a.Owner(ctx, cam); ok {
			t.Fatal("a released claim is still the owner")
		}
	})

	t.Run("a claim of a node that stopped reporting is no claim", func(t *testing.T) {
		a, b := newPair(t)
		cam := domain.NewID()
		report(t, a, "node-a")
		report(t, b, "node-b")
		if err := a.Claim(ctx, placement.Claim{Camera: cam, Node: "node-a", Conn: "c"}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(placement.AliveFor + wait)
		for {
			report(t, b, "node-b") // b stays alive; a says nothing more
			_, ok, err := b.Owner(ctx, cam)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a silent node's claim still counts")
			}
			time.Sleep(200 * time.Millisecond)
		}
		nodes, err := b.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) != 1 || nodes[0].ID != "node-b" {
			t.Fatalf("Nodes = %+v, want node-b alone", nodes)
		}
	})

	t.Run("nodes list their reports in order", func(t *testing.T) {
		a, b := newPair(t)
		if err := b.Report(ctx, placement.Node{ID: "node-b", PublicURL: "https://b.example", Cameras: 3, Streams: 7}); err != nil {
			t.Fatal(err)
		}
		if err := a.Report(ctx, placement.Node{ID: "node-a", Draining: true}); err != nil {
			t.Fatal(err)
		}
		nodes, err := a.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) != 2 || nodes[0].ID != "node-a" || !nodes[0].Draining || nodes[1].PublicURL != "https://b.example" || nodes[1].Streams != 7 {
			t.Fatalf("Nodes = %+v", nodes)
		}
	})

	t.Run("a node's report is found by its ID", func(t *testing.T) {
		a, b := newPair(t)
		if err := a.Report(ctx, placement.Node{ID: "node-a", Instance: "i1", Cameras: 2}); err != nil {
			t.Fatal(err)
		}
		n, ok, err := b.Node(ctx, "node-a")
		if err != nil || !ok || n.ID != "node-a" || n.Instance != "i1" || n.Cameras != 2 || n.At.IsZero() {
			t.Fatalf("Node(node-a) = %+v, %v, %v", n, ok, err)
		}
		if _, ok, err := b.Node(ctx, "node-nobody"); ok || err != nil {
			t.Fatalf("Node of a node that never reported = %v, %v", ok, err)
		}
	})

	t.Run("an ID a live node reports under is refused to another process", func(t *testing.T) {
		a, b := newPair(t)
		live, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { // node-x, instance i1, reports on and on
			defer close(done)
			for live.Err() == nil {
				a.Report(live, placement.Node{ID: "node-x", Instance: "i1"})
				select {
				case <-live.Done():
				case <-time.After(placement.ReportEvery / 4):
				}
			}
		}()
		defer func() { cancel(); <-done }()
		deadline := time.Now().Add(wait)
		for {
			if _, ok, _ := b.Node(ctx, "node-x"); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("node-x's report never showed")
			}
			time.Sleep(10 * time.Millisecond)
		}
		start := time.Now()
		err := placement.CheckID(ctx, b, "node-x", "i2")
		var inUse *placement.InUseError
		if !errors.As(err, &inUse) || inUse.ID != "node-x" || !strings.Contains(err.Error(), `"node-x"`) {
			t.Fatalf("CheckID of an ID a live node reports under = %v, want an InUseError naming node-x", err)
		}
		t.Logf("refused after %v: %v", time.Since(start).Round(time.Millisecond), err)
		if err := placement.CheckID(ctx, b, "node-x", "i1"); err != nil {
			t.Fatalf("CheckID by the reporting instance itself = %v", err)
		}
		if err := placement.CheckID(ctx, b, "node-other", "i2"); err != nil {
			t.Fatalf("CheckID of an ID nobody reports under = %v", err)
		}
	})

	t.Run("an ID whose last report is not renewed is free", func(t *testing.T) {
		a, b := newPair(t)
		// A node that stopped right after reporting, being started again.
		if err := a.Report(ctx, placement.Node{ID: "node-y", Instance: "i1"}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := placement.CheckID(ctx, b, "node-y", "i2"); err != nil {
			t.Fatalf("CheckID of an ID whose reporter stopped = %v", err)
		}
		t.Logf("free after %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("commands reach the named node", func(t *testing.T) {
		a, b := newPair(t)
		cam := domain.NewID()
		stop, err := b.Handle("node-b", func(ctx context.Context, c placement.Command) ([]byte, error) {
			if c.Op == "fail" {
				return nil, errors.New("camera busy")
			}
			return append([]byte(c.Op+":"+string(c.Camera)+":"), c.Body...), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		got, err := a.Send(ctx, "node-b", placement.Command{Camera: cam, Op: "snapshot", Body: []byte("x")})
		if err != nil || string(got) != "snapshot:"+string(cam)+":x" {
			t.Fatalf("Send = %q, %v", got, err)
		}
		var ce *placement.CommandError
		if _, err := a.Send(ctx, "node-b", placement.Command{Camera: cam, Op: "fail"}); !errors.As(err, &ce) || ce.Msg != "camera busy" {
			t.Fatalf("failing command: %v", err)
		}
		if _, err := a.Send(ctx, "node-nobody", placement.Command{Camera: cam, Op: "snapshot"}); !errors.Is(err, placement.ErrNoNode) {
			t.Fatalf("command to no node: %v, want ErrNoNode", err)
		}
	})
}

func report(t *testing.T, d placement.Directory, node string) {
	t.Helper()
	if err := d.Report(context.Background(), placement.Node{ID: node}); err != nil {
		t.Fatal(err)
	}
}
