package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/placement"
	"github.com/camvault/camvault/internal/syncbuf"
)

// TestDuplicateNodeID: a node started under the ID of a running node
// over the same NATS refuses to start, naming the ID; a node started
// under the ID of one that just stopped (its report still fresh) starts.
func TestDuplicateNodeID(t *testing.T) {
	secrets, _ := clusterSecrets(t)
	cfg := roleConfig(t, config.RoleAll, secrets, filepath.Join(secrets, "devices"))
	cfg.Cluster.NodeID = "n2"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := build(ctx, Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx) }()
	stopA := sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		a.close()
	})
	defer stopA()
	waitUntil(t, "the first node's report", func() bool {
		n, ok, _ := a.dir.Node(context.Background(), "n2")
		return ok && n.Instance == a.instance
	})

	second := cfg
	second.DataDir = t.TempDir()
	start := time.Now()
	b, err := build(context.Background(), Options{Config: second})
	if err == nil {
		b.close()
		t.Fatal("a second node under the ID of a running node started")
	}
	for _, want := range []string{`cluster node ID "n2" is in use by another running node (last report `, "give each node its own --cluster-node-id"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("second node under n2: %v, want it to say %q", err, want)
		}
	}
	t.Logf("refused after %v: %v", time.Since(start).Round(time.Millisecond), err)

	// The first node stops; started again at once under its ID, it starts.
	stopA()
	start = time.Now()
	c, err := build(context.Background(), Options{Config: cfg})
	if err != nil {
		t.Fatalf("a node started again right after it stopped: %v", err)
	}
	c.close()
	t.Logf("started again after %v (the stopped node's report not renewed)", time.Since(start).Round(time.Millisecond))
}

// TestSharedNodeIDLogged: a running node that finds a report under its
// ID from another process says so in an error, each time, and not
// before.
func TestSharedNodeIDLogged(t *testing.T) {
	sh := placement.NewShared(nil)
	mine, other := sh.View(), sh.View()
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		reportNode(ctx, mine, func() placement.Node { return placement.Node{ID: "n2", Instance: "mine"} }, "mine", log)
	}()
	defer func() { cancel(); <-done }()
	first := time.Time{}
	waitUntil(t, "the node's first report", func() bool {
		n, ok, _ := other.Node(ctx, "n2")
		first = n.At
		return ok
	})
	waitUntil(t, "the node's second report", func() bool {
		n, _, _ := other.Node(ctx, "n2")
		return !n.At.Equal(first)
	})
	const said = "another running node reports under this node's ID"
	if strings.Contains(logs.String(), said) {
		t.Fatalf("a node alone under its ID logged:\n%s", logs.String())
	}
	if err := other.Report(ctx, placement.Node{ID: "n2", Instance: "other"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the node to log the other process", func() bool { return strings.Contains(logs.String(), said) })
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "other_instance=other") {
		t.Fatalf("log:\n%s", logs.String())
	}
}
