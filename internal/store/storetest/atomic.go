package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// testAtomically: changes made within Atomically, with its context,
// commit together (a membership gone and the outbox entry saying so) or
// not at all; calls within see the transaction's own changes, and a
// nested Atomically or a multi-statement method joins it.
func testAtomically(t *testing.T, s store.Store) {
	ana, home := accountHome(t, s, "ana@example.org")
	bob := mustAccount(t, s, "bob@example.org")
	cleo := mustAccount(t, s, "cleo@example.org")
	join(t, s, home.ID, ana.ID, bob.ID, domain.RoleMember)
	join(t, s, home.ID, ana.ID, cleo.ID, domain.RoleMember)
	head, err := s.OutboxHead(ctx)
	must(t, "head", err)
	withdrawal := func(account domain.ID) store.OutboxEntry {
		return store.OutboxEntry{Kind: "access.revoked", Account: account, At: at(time.Second)}
	}

	boom := errors.New("boom")
	err = s.Atomically(ctx, func(ctx context.Context) error {
		must(t, "remove cleo", s.DeleteMembership(ctx, home.ID, cleo.ID))
		_, err := s.Membership(ctx, home.ID, cleo.ID)
		mustErr(t, "cleo within the transaction", err, store.ErrNotFound)
		_, err = s.AppendOutbox(ctx, withdrawal(cleo.ID))
		must(t, "append", err)
		err = s.Atomically(ctx, func(ctx context.Context) error {
			m, err := s.Membership(ctx, home.ID, bob.ID)
			must(t, "bob", err)
			m.Role = domain.RoleGuest
			m.Cameras = []domain.CameraRef{{Camera: domain.NewID(), Generation: 1}}
			return s.UpdateMembership(ctx, m)
		})
		must(t, "nested", err)
		return boom
	})
	mustErr(t, "fn's error", err, boom)
	_, err = s.Membership(ctx, home.ID, cleo.ID)
	must(t, "cleo after the rollback", err)
	m, err := s.Membership(ctx, home.ID, bob.ID)
	must(t, "bob after the rollback", err)
	equal(t, "bob's role after the rollback", m.Role, domain.RoleMember)
	after, err := s.OutboxHead(ctx)
	must(t, "head", err)
	if entries, _ := s.OutboxAfter(ctx, head, 10); len(entries) != 0 {
		t.Fatalf("a rolled back entry stayed: %+v (head %d → %d)", entries, head, after)
	}

	var seq int64
	err = s.Atomically(ctx, func(ctx context.Context) error {
		if err := s.DeleteMembership(ctx, home.ID, cleo.ID); err != nil {
			return err
		}
		seq, err = s.AppendOutbox(ctx, withdrawal(cleo.ID))
		return err
	})
	must(t, "commit", err)
	_, err = s.Membership(ctx, home.ID, cleo.ID)
	mustErr(t, "cleo after the commit", err, store.ErrNotFound)
	entries, err := s.OutboxAfter(ctx, head, 10)
	must(t, "after", err)
	if len(entries) != 1 || entries[0].Seq != seq || entries[0].Account != cleo.ID {
		t.Fatalf("outbox after the commit: %+v, want cleo's withdrawal numbered %d", entries, seq)
	}
}
