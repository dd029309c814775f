package storetest

import (
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

func testDataKeys(t *testing.T, s store.Store) {
	cam, other := domain.NewID(), domain.NewID()
	k1 := domain.DataKey{ID: domain.NewID(), CameraID: cam, Wrapped: []byte{1, 2, 3}, CreatedAt: at(0)}
	k2 := domain.DataKey{ID: domain.NewID(), CameraID: cam, Wrapped: []byte{4, 5, 6}, CreatedAt: at(time.Hour)}
	k3 := domain.DataKey{ID: domain.NewID(), CameraID: other, Wrapped: []byte{7}, CreatedAt: at(0)}
	for _, k := range []domain.DataKey{k1, k2, k3} {
		must(t, "create", s.CreateDataKey(ctx, k))
	}
	mustErr(t, "same id", s.CreateDataKey(ctx, k1), store.ErrConflict)
	got, err := s.DataKey(ctx, k1.ID)
	must(t, "get", err)
	equal(t, "key", got, k1)
	list, err := s.DataKeys(ctx, cam)
	must(t, "list", err)
	equal(t, "camera's keys, newest first", list, []domain.DataKey{k2, k1})
	_, err = s.DataKey(ctx, domain.NewID())
	mustErr(t, "unknown", err, store.ErrNotFound)

	n, err := s.DestroyDataKeys(ctx, cam, at(2*time.Hour))
	must(t, "destroy", err)
	equal(t, "destroyed", n, 2)
	for _, id := range []domain.ID{k1.ID, k2.ID} {
		got, _ := s.DataKey(ctx, id)
		if len(got.Wrapped) != 0 || !got.Destroyed() || !got.DestroyedAt.Equal(at(2*time.Hour)) {
			t.Fatalf("destroyed key still holds material: %+v", got)
		}
	}
	n, _ = s.DestroyDataKeys(ctx, cam, at(3*time.Hour))
	equal(t, "destroyed twice", n, 0)
	got, _ = s.DataKey(ctx, k3.ID)
	equal(t, "another camera's key", got, k3)
}
