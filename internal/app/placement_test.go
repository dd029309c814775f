package app

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/placement"
)

// deafDirectory is a directory that does not answer (NATS cut off): a
// lookup waits for its context to end.
type deafDirectory struct {
	placement.Directory
	lookups atomic.Int64
}

func (d *deafDirectory) Owner(ctx context.Context, camera domain.ID) (placement.Claim, bool, error) {
	d.lookups.Add(1)
	<-ctx.Done()
	return placement.Claim{}, false, ctx.Err()
}

// TestHeldCameraNeedsNoDirectory: a camera whose device holds its
// session at this node is served and recorded here without asking the
// directory, so that a node cut off from NATS hands out its own cameras'
// streams at once; a camera held elsewhere, or nowhere, is looked up.
func TestHeldCameraNeedsNoDirectory(t *testing.T) {
	dir := &deafDirectory{Directory: placement.NewLocal()}
	here, away := domain.NewID(), domain.NewID()
	held := func(c domain.ID) bool { return c == here }
	elsewhere := liveElsewhere(dir, "node-a", held)
	records := recordsHere(dir, "node-a", held)

	if _, ok := elsewhere(context.Background(), here); ok {
		t.Fatal("a camera held here is sent elsewhere")
	}
	if !records(here) {
		t.Fatal("a camera held here is not recorded here")
	}
	if n := dir.lookups.Load(); n != 0 {
		t.Fatalf("the directory was asked %d times about a camera held here", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := elsewhere(ctx, away); ok {
		t.Fatal("a camera the directory could not place is sent elsewhere")
	}
	if n := dir.lookups.Load(); n != 1 {
		t.Fatalf("the directory was asked %d times about a camera not held here, want 1", n)
	}
}
