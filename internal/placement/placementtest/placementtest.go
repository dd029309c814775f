// Package placementtest is the conformance suite every
// placement.Directory passes.
package placementtest

import (
	"context"
	"errors"
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
