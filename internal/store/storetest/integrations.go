package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

func integration(name string) domain.Integration {
	return domain.Integration{ID: domain.NewID(), Name: name, ClientID: "cvc_" + string(domain.NewID()), SecretHash: "00ff",
		RedirectURIs: []string{"https://display.example.com/cb", "https://display.example.com/cb2"}, NotifyURL: "https://display.example.com/notify", Enabled: true, CreatedAt: at(0), ChangedAt: at(0)}
}

func testIntegrations(t *testing.T, s store.Store) {
	in := integration("Kitchen display")
	must(t, "create", s.CreateIntegration(ctx, in))
	for what, get := range map[string]func() (domain.Integration, error){
		"by id":        func() (domain.Integration, error) { return s.Integration(ctx, in.ID) },
		"by client id": func() (domain.Integration, error) { return s.IntegrationByClientID(ctx, in.ClientID) },
		"by name":      func() (domain.Integration, error) { return s.IntegrationByName(ctx, in.Name) },
	} {
		got, err := get()
		must(t, what, err)
		equal(t, what, got, in)
	}
	dup := integration("Kitchen display")
	mustErr(t, "same name", s.CreateIntegration(ctx, dup), store.ErrConflict)
	dup = integration("Other")
	dup.ClientID = in.ClientID
	mustErr(t, "same client id", s.CreateIntegration(ctx, dup), store.ErrConflict)
	_, err := s.IntegrationByClientID(ctx, "cvc_nobody")
	mustErr(t, "unknown client", err, store.ErrNotFound)
	other := integration("Assistant")
	must(t, "create other", s.CreateIntegration(ctx, other))
	all, err := s.Integrations(ctx)
	must(t, "list", err)
	equal(t, "list by name", all, []domain.Integration{other, in})
	_, err = s.SetIntegrationEnabled(ctx, domain.NewID(), false, at(time.Hour))
	mustErr(t, "disable unknown", err, store.ErrNotFound)
}

func testLinks(t *testing.T, s store.Store) {
	ana, home := accountHome(t, s, "ana@example.org")
	bo, home2 := accountHome(t, s, "bo@example.org")
	in, other := integration("Kitchen display"), integration("Assistant")
	must(t, "integration", s.CreateIntegration(ctx, in))
	must(t, "integration", s.CreateIntegration(ctx, other))
	cam := domain.CameraRef{Camera: domain.NewID(), Generation: 3}
	link := func(in domain.Integration, acct, home domain.ID, d time.Duration) domain.Link {
		l := domain.Link{ID: domain.NewID(), IntegrationID: in.ID, HomeID: home, AccountID: acct, Cameras: []domain.CameraRef{cam},
			Actions: []domain.Action{domain.ActionLive, domain.ActionSnapshot}, CreatedAt: at(d)}
		must(t, "create link", s.CreateLink(ctx, l))
		return l
	}
	l1 := link(in, ana.ID, home.ID, time.Minute)
	l2 := link(other, ana.ID, home.ID, 2*time.Minute)
	l3 := link(in, bo.ID, home2.ID, 3*time.Minute)
	got, err := s.Link(ctx, l1.ID)
	must(t, "link", err)
	equal(t, "link", got, l1)
	if !got.Covers(cam, domain.ActionLive) || got.Covers(domain.CameraRef{Camera: cam.Camera, Generation: 4}, domain.ActionLive) || got.Covers(cam, domain.ActionPlayback) {
		t.Fatal("Covers is wrong")
	}
	list, err := s.Links(ctx, store.LinkFilter{AccountID: ana.ID})
	must(t, "links of ana", err)
	equal(t, "links of ana, newest first", list, []domain.Link{l2, l1})
	list, err = s.Links(ctx, store.LinkFilter{IntegrationID: in.ID})
	must(t, "links of integration", err)
	equal(t, "links of integration", list, []domain.Link{l3, l1})

	must(t, "touch", s.TouchLink(ctx, l1.ID, at(time.Hour)))
	l1.LastUsedAt = at(time.Hour)
	mustErr(t, "touch unknown", s.TouchLink(ctx, domain.NewID(), at(time.Hour)), store.ErrNotFound)

	// Revoking by home ends ana's links there, not bo's.
	revoked, err := s.RevokeLinks(ctx, store.LinkFilter{HomeID: home.ID}, at(2*time.Hour))
	must(t, "revoke home", err)
	if len(revoked) != 2 {
		t.Fatalf("revoked %d links, want 2", len(revoked))
	}
	again, err := s.RevokeLinks(ctx, store.LinkFilter{HomeID: home.ID}, at(3*time.Hour))
	must(t, "revoke again", err)
	if len(again) != 0 {
		t.Fatal("a revoked link was revoked again")
	}
	got, _ = s.Link(ctx, l1.ID)
	if got.Live() || !got.RevokedAt.Equal(at(2*time.Hour)) || got.Covers(cam, domain.ActionLive) {
		t.Fatalf("revoked link: %+v", got)
	}
	list, _ = s.Links(ctx, store.LinkFilter{AccountID: ana.ID})
	if len(list) != 0 {
		t.Fatal("revoked links listed as live")
	}
	list, _ = s.Links(ctx, store.LinkFilter{AccountID: ana.ID, Revoked: true})
	if len(list) != 2 {
		t.Fatal("revoked links not listed with Revoked")
	}
	if _, err := s.RevokeLinks(ctx, store.LinkFilter{}, at(0)); err == nil {
		t.Fatal("an empty filter revoked links")
	}

	// Disabling an integration revokes its live links; enabling revives
	// none.
	revoked, err = s.SetIntegrationEnabled(ctx, in.ID, false, at(4*time.Hour))
	must(t, "disable", err)
	if len(revoked) != 1 || revoked[0].ID != l3.ID {
		t.Fatalf("disable revoked %+v, want bo's link", revoked)
	}
	got3, _ := s.Link(ctx, l3.ID)
	if got3.Live() {
		t.Fatal("a disabled integration's link is live")
	}
	gotIn, _ := s.Integration(ctx, in.ID)
	if gotIn.Enabled || !gotIn.ChangedAt.Equal(at(4*time.Hour)) {
		t.Fatalf("disabled integration: %+v", gotIn)
	}
	revoked, err = s.SetIntegrationEnabled(ctx, in.ID, true, at(5*time.Hour))
	must(t, "enable", err)
	got3, _ = s.Link(ctx, l3.ID)
	if len(revoked) != 0 || got3.Live() {
		t.Fatal("enabling an integration revived a link")
	}
	// Links revoked since a time, whoever revoked them.
	list, err = s.Links(ctx, store.LinkFilter{RevokedSince: at(3 * time.Hour)})
	must(t, "revoked since", err)
	if len(list) != 1 || list[0].ID != l3.ID {
		t.Fatalf("revoked since 3h: %+v, want bo's link", list)
	}
	list, _ = s.Links(ctx, store.LinkFilter{RevokedSince: at(time.Hour)})
	if len(list) != 3 {
		t.Fatalf("revoked since 1h: %d links, want 3", len(list))
	}
}

// testLinkRevokeRace: concurrent revocations of the same links revoke
// each exactly once.
func testLinkRevokeRace(t *testing.T, s store.Store) {
	ana, home := accountHome(t, s, "ana@example.org")
	in := integration("Kitchen display")
	must(t, "integration", s.CreateIntegration(ctx, in))
	for range 5 {
		must(t, "link", s.CreateLink(ctx, domain.Link{ID: domain.NewID(), IntegrationID: in.ID, HomeID: home.ID, AccountID: ana.ID, CreatedAt: at(0)}))
	}
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			var got []domain.Link
			var err error
			if i%2 == 0 {
				got, err = s.RevokeLinks(ctx, store.LinkFilter{HomeID: home.ID}, at(time.Hour))
			} else {
				got, err = s.SetIntegrationEnabled(ctx, in.ID, false, at(time.Hour))
			}
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += len(got)
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 5 {
		t.Fatalf("%d revocations reported for 5 links", total)
	}
}
