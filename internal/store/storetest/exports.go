package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// testExports: exports come back as created, are listed by what a filter
// selects (newest first), change only from the state the caller expects,
// and go when deleted.
func testExports(t *testing.T, s store.Store) {
	ana, bob := domain.NewID(), domain.NewID()
	cam, other, home := domain.NewID(), domain.NewID(), domain.NewID()
	mk := func(account, camera domain.ID, created time.Duration) store.Export {
		return store.Export{ID: domain.NewID(), Account: account, Camera: domain.CameraRef{Camera: camera, Generation: 2}, HomeID: home,
			Since: at(-time.Hour), Until: at(-time.Hour + time.Minute), Created: at(created), State: "running"}
	}
	a1, a2, a3, b1 := mk(ana, cam, time.Second), mk(ana, cam, 2*time.Second), mk(ana, other, 3*time.Second), mk(bob, cam, 4*time.Second)
	b1.HomeID = domain.NewID()
	for _, e := range []store.Export{a1, a2, a3, b1} {
		must(t, "create", s.CreateExport(ctx, e, 0))
	}
	mustErr(t, "create twice", s.CreateExport(ctx, a1, 0), store.ErrConflict)
	got, err := s.Export(ctx, a1.ID)
	must(t, "get", err)
	equal(t, "export", got, a1)
	_, err = s.Export(ctx, domain.NewID())
	mustErr(t, "get unknown", err, store.ErrNotFound)

	for _, tc := range []struct {
		name string
		f    store.ExportFilter
		want []store.Export
	}{
		{"all", store.ExportFilter{}, []store.Export{b1, a3, a2, a1}},
		{"account and camera", store.ExportFilter{Account: ana, Camera: cam}, []store.Export{a2, a1}},
		{"account", store.ExportFilter{Account: ana}, []store.Export{a3, a2, a1}},
		{"home", store.ExportFilter{HomeID: home}, []store.Export{a3, a2, a1}},
		{"created before", store.ExportFilter{CreatedBefore: at(3 * time.Second)}, []store.Export{a2, a1}},
		{"state and created before", store.ExportFilter{State: "running", CreatedBefore: at(2 * time.Second)}, []store.Export{a1}},
		{"no state", store.ExportFilter{State: "done"}, nil},
	} {
		list, err := s.Exports(ctx, tc.f)
		must(t, tc.name, err)
		equal(t, tc.name, list, tc.want)
	}

	// Progress, then the end; once done, a writer expecting "running"
	// changes nothing.
	a1.Progress, a1.Updated = 500, at(time.Minute)
	must(t, "progress", s.UpdateExport(ctx, a1, "running"))
	a1.State, a1.Progress, a1.Size, a1.KeyID, a1.Updated = "done", 1000, 12345, domain.NewID(), at(2*time.Minute)
	must(t, "done", s.UpdateExport(ctx, a1, "running"))
	got, _ = s.Export(ctx, a1.ID)
	equal(t, "done export", got, a1)
	late := a1
	late.State, late.Progress = "failed", 0
	mustErr(t, "update from a state it left", s.UpdateExport(ctx, late, "running"), store.ErrNotFound)
	got, _ = s.Export(ctx, a1.ID)
	equal(t, "done export after a late write", got, a1)
	mustErr(t, "update unknown", s.UpdateExport(ctx, mk(ana, cam, 0), "running"), store.ErrNotFound)

	must(t, "delete", s.DeleteExport(ctx, a1.ID))
	mustErr(t, "delete twice", s.DeleteExport(ctx, a1.ID), store.ErrNotFound)
	_, err = s.Export(ctx, a1.ID)
	mustErr(t, "get deleted", err, store.ErrNotFound)
	list, _ := s.Exports(ctx, store.ExportFilter{Account: ana})
	equal(t, "after delete", list, []store.Export{a3, a2})
}

// testExportLimit: an account gets no more than max exports, also when
// many create at once; other accounts are not counted.
func testExportLimit(t *testing.T, s store.Store) {
	ana, bob := domain.NewID(), domain.NewID()
	mk := func(account domain.ID) store.Export {
		return store.Export{ID: domain.NewID(), Account: account, Camera: domain.CameraRef{Camera: domain.NewID(), Generation: 1},
			HomeID: domain.NewID(), Since: at(0), Until: at(time.Minute), Created: at(time.Second), State: "running"}
	}
	const max = 3
	must(t, "bob's", s.CreateExport(ctx, mk(bob), max))
	var wg sync.WaitGroup
	var mu sync.Mutex
	made, refused := 0, 0
	for range 8 {
		wg.Go(func() {
			err := s.CreateExport(ctx, mk(ana), max)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				made++
			case errors.Is(err, store.ErrConflict):
				refused++
			default:
				t.Errorf("create: %v", err)
			}
		})
	}
	wg.Wait()
	equal(t, "made", made, max)
	equal(t, "refused", refused, 8-max)
	list, err := s.Exports(ctx, store.ExportFilter{Account: ana})
	must(t, "list", err)
	equal(t, "kept", len(list), max)
	must(t, "bob's next", s.CreateExport(ctx, mk(bob), max))
	must(t, "delete one", s.DeleteExport(ctx, list[0].ID))
	must(t, "one more after a delete", s.CreateExport(ctx, mk(ana), max))
}
