package storetest

import (
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// testOutbox: events kept for polling nodes come back in order of
// their numbers, from any point, and go when pruned.
func testOutbox(t *testing.T, s store.Store) {
	head, err := s.OutboxHead(ctx)
	must(t, "head", err)
	in := []store.OutboxEntry{
		{Kind: "access.revoked", Account: domain.NewID(), At: at(time.Second)},
		{Kind: "camera.ended", Camera: domain.NewID(), Generation: 4, At: at(2 * time.Second)},
		{Kind: "link.revoked", Link: domain.NewID(), At: at(3 * time.Second)},
		{Kind: "recordings.deleted", Camera: domain.NewID(), Generation: 2, Since: at(-time.Hour), Until: at(-time.Minute), At: at(4 * time.Second)},
		{Kind: "recordings.deleted", Camera: domain.NewID(), Generation: 1, At: at(5 * time.Second)},
	}
	var seqs []int64
	for _, e := range in {
		seq, err := s.AppendOutbox(ctx, e)
		must(t, "append", err)
		seqs = append(seqs, seq)
	}
	got, err := s.OutboxAfter(ctx, head, 10)
	must(t, "after", err)
	if len(got) != len(in) {
		t.Fatalf("got %d entries, want %d", len(got), len(in))
	}
	for i := range got {
		if i > 0 && got[i].Seq <= got[i-1].Seq {
			t.Fatalf("entries out of order: %+v", got)
		}
		want := in[i]
		want.Seq = seqs[i]
		equal(t, "entry", got[i], want)
	}
	newHead, err := s.OutboxHead(ctx)
	must(t, "head", err)
	equal(t, "head", newHead, got[len(got)-1].Seq)
	one, _ := s.OutboxAfter(ctx, got[0].Seq, 1)
	equal(t, "limited, from the middle", one, got[1:2])
	none, _ := s.OutboxAfter(ctx, newHead, 10)
	equal(t, "nothing after the head", len(none), 0)

	n, err := s.PruneOutbox(ctx, at(2*time.Second+time.Millisecond))
	must(t, "prune", err)
	equal(t, "pruned", n, 2)
	left, _ := s.OutboxAfter(ctx, head, 10)
	equal(t, "left", left, got[2:])
}
