package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// enroll creates an unclaimed device-backed camera with a claim code.
func enroll(t *testing.T, s store.Store, key string, code string) domain.Camera {
	t.Helper()
	c := domain.Camera{ID: domain.NewID(), Name: "", Generation: 0, State: domain.CameraStateUnclaimed,
		CreatedAt: at(0), DeviceKey: []byte("key-" + key)}
	must(t, "enroll", s.EnrollDevice(ctx, c, domain.ClaimCode{CameraID: c.ID, Hash: []byte("code-" + code), ExpiresAt: at(24 * time.Hour)}))
	return c
}

func testDevices(t *testing.T, s store.Store) {
	_, home := accountHome(t, s, "ana@example.org")
	c := enroll(t, s, "a", "1")
	got, err := s.CameraByDeviceKey(ctx, []byte("key-a"))
	must(t, "by device key", err)
	equal(t, "enrolled camera", got, c)
	if got.HomeID != "" || !got.DeviceBacked() {
		t.Fatalf("enrolled camera: %+v", got)
	}
	_, err = s.CameraByDeviceKey(ctx, []byte("key-unknown"))
	mustErr(t, "unknown key", err, store.ErrNotFound)
	_, err = s.CameraByDeviceKey(ctx, nil)
	mustErr(t, "empty key", err, store.ErrNotFound)
	dup := domain.Camera{ID: domain.NewID(), State: domain.CameraStateUnclaimed, CreatedAt: at(0), DeviceKey: []byte("key-a")}
	mustErr(t, "same key again", s.EnrollDevice(ctx, dup, domain.ClaimCode{CameraID: dup.ID, Hash: []byte("code-x"), ExpiresAt: at(time.Hour)}), store.ErrConflict)
	if _, err := s.Camera(ctx, dup.ID); err == nil {
		t.Fatal("a refused enrolment left its camera behind")
	}
	list, _ := s.Cameras(ctx, home.ID)
	equal(t, "unclaimed cameras are in no home", len(list), 0)

	// A new code replaces the old one.
	must(t, "new code", s.SetClaimCode(ctx, domain.ClaimCode{CameraID: c.ID, Hash: []byte("code-2"), ExpiresAt: at(24 * time.Hour)}))
	_, err = s.ClaimCamera(ctx, []byte("code-1"), home.ID, "Porch", at(time.Minute))
	mustErr(t, "replaced code", err, store.ErrNotFound)
	mustErr(t, "code for an unknown camera", s.SetClaimCode(ctx, domain.ClaimCode{CameraID: domain.NewID(), Hash: []byte("code-z"), ExpiresAt: at(time.Hour)}), store.ErrNotFound)

	// Expired codes do not claim.
	_, err = s.ClaimCamera(ctx, []byte("code-2"), home.ID, "Porch", at(24*time.Hour))
	mustErr(t, "code at expiry", err, store.ErrNotFound)
	_, err = s.ClaimCamera(ctx, []byte("code-nope"), home.ID, "Porch", at(time.Minute))
	mustErr(t, "unknown code", err, store.ErrNotFound)

	claimed, err := s.ClaimCamera(ctx, []byte("code-2"), home.ID, "Porch", at(time.Minute))
	must(t, "claim", err)
	want := c
	want.HomeID, want.Name, want.Generation, want.State = home.ID, "Porch", 1, domain.CameraStateClaimed
	equal(t, "claimed camera", claimed, want)
	got, _ = s.Camera(ctx, c.ID)
	equal(t, "stored claimed camera", got, want)
	list, _ = s.Cameras(ctx, home.ID)
	equal(t, "home's cameras after claim", list, []domain.Camera{want})
	_, err = s.ClaimCamera(ctx, []byte("code-2"), home.ID, "Again", at(2*time.Minute))
	mustErr(t, "code used twice", err, store.ErrNotFound)
	mustErr(t, "code for a claimed camera", s.SetClaimCode(ctx, domain.ClaimCode{CameraID: c.ID, Hash: []byte("code-3"), ExpiresAt: at(time.Hour)}), store.ErrConflict)

	must(t, "touch", s.TouchCamera(ctx, c.ID, at(time.Hour), "1.2.3"))
	got, _ = s.Camera(ctx, c.ID)
	if !got.LastSeen.Equal(at(time.Hour)) || got.AgentVersion != "1.2.3" {
		t.Fatalf("touched camera: %+v", got)
	}
	mustErr(t, "touch unknown", s.TouchCamera(ctx, domain.NewID(), at(time.Hour), "x"), store.ErrNotFound)
}

func testClaimRace(t *testing.T, s store.Store) {
	homes := make([]domain.Home, 6)
	for i := range homes {
		_, homes[i] = accountHome(t, s, fmt.Sprintf("owner%d@example.org", i))
	}
	c := enroll(t, s, "race", "race")
	errs := race(len(homes), func(i int) error {
		_, err := s.ClaimCamera(ctx, []byte("code-race"), homes[i].ID, fmt.Sprint("cam ", i), at(time.Minute))
		return err
	})
	winner := oneWinner(t, "racing claims", errs, store.ErrNotFound)
	got, err := s.Camera(ctx, c.ID)
	must(t, "camera", err)
	if got.HomeID != homes[winner].ID || got.Generation != 1 {
		t.Fatalf("after the race: %+v, want home %s at generation 1", got, homes[winner].ID)
	}
	for i, h := range homes {
		list, _ := s.Cameras(ctx, h.ID)
		if (i == winner) != (len(list) == 1) || len(list) > 1 {
			t.Fatalf("home %d lists %d cameras", i, len(list))
		}
	}
}

func testRelease(t *testing.T, s store.Store) {
	_, a := accountHome(t, s, "ana@example.org")
	_, b := accountHome(t, s, "bob@example.org")
	c := enroll(t, s, "rel", "rel")
	claimed, err := s.ClaimCamera(ctx, []byte("code-rel"), a.ID, "Porch", at(time.Minute))
	must(t, "claim", err)

	_, err = s.ReleaseCamera(ctx, c.ID, claimed.Generation+1, domain.CameraStateUnclaimed, false)
	mustErr(t, "release at a stale generation", err, store.ErrConflict)
	_, err = s.ReleaseCamera(ctx, domain.NewID(), 1, domain.CameraStateUnclaimed, false)
	mustErr(t, "release unknown", err, store.ErrNotFound)

	// Transfer: out of A, generation 2, claimable again with a new code.
	rel, err := s.ReleaseCamera(ctx, c.ID, claimed.Generation, domain.CameraStateUnclaimed, false)
	must(t, "release", err)
	if rel.HomeID != "" || rel.Generation != 2 || rel.State != domain.CameraStateUnclaimed || string(rel.DeviceKey) != "key-rel" {
		t.Fatalf("released camera: %+v", rel)
	}
	list, _ := s.Cameras(ctx, a.ID)
	equal(t, "A's cameras after release", len(list), 0)
	// Racing releases at one generation: exactly one wins.
	must(t, "new code", s.SetClaimCode(ctx, domain.ClaimCode{CameraID: c.ID, Hash: []byte("code-b"), ExpiresAt: at(24 * time.Hour)}))
	nowB, err := s.ClaimCamera(ctx, []byte("code-b"), b.ID, "Bob's porch", at(2*time.Minute))
	must(t, "claim by B", err)
	equal(t, "generation after B's claim", nowB.Generation, int64(3))
	errs := race(4, func(int) error {
		_, err := s.ReleaseCamera(ctx, c.ID, nowB.Generation, domain.CameraStateUnclaimed, false)
		return err
	})
	oneWinner(t, "racing releases", errs, store.ErrConflict)

	// Factory reset: the key is retired and never enrols again (a former
	// owner's copy of it must not come back as a new camera).
	cur, _ := s.Camera(ctx, c.ID)
	must(t, "new code", s.SetClaimCode(ctx, domain.ClaimCode{CameraID: c.ID, Hash: []byte("code-c"), ExpiresAt: at(24 * time.Hour)}))
	reset, err := s.ReleaseCamera(ctx, c.ID, cur.Generation, domain.CameraStateReset, true)
	must(t, "reset", err)
	if reset.DeviceKey != nil || reset.State != domain.CameraStateReset || reset.Generation != cur.Generation+1 {
		t.Fatalf("reset camera: %+v", reset)
	}
	_, err = s.ClaimCamera(ctx, []byte("code-c"), a.ID, "x", at(3*time.Minute))
	mustErr(t, "code of a reset camera", err, store.ErrNotFound)
	_, err = s.CameraByDeviceKey(ctx, []byte("key-rel"))
	mustErr(t, "retired key", err, store.ErrNotFound)
	_, err = s.ReleaseCamera(ctx, c.ID, reset.Generation, domain.CameraStateUnclaimed, false)
	mustErr(t, "release a reset camera", err, store.ErrConflict)
	again := domain.Camera{ID: domain.NewID(), State: domain.CameraStateUnclaimed, CreatedAt: at(0), DeviceKey: []byte("key-rel")}
	mustErr(t, "retired key enrols again", s.EnrollDevice(ctx, again, domain.ClaimCode{CameraID: again.ID, Hash: []byte("code-again"), ExpiresAt: at(time.Hour)}), store.ErrRetired)
	_, err = s.Camera(ctx, again.ID)
	mustErr(t, "refused enrolment left a camera", err, store.ErrNotFound)
	// A new key for the same device enrols as a new camera.
	fresh := enroll(t, s, "rel-new", "again")
	if fresh.ID == c.ID {
		t.Fatal("re-enrolment reused the camera")
	}
}

func testPulledCamera(t *testing.T, s store.Store) {
	_, home := accountHome(t, s, "ana@example.org")
	c := domain.Camera{ID: domain.NewID(), HomeID: home.ID, Name: "IP cam", Generation: 1, State: domain.CameraStatePulled,
		CreatedAt: at(0), PullSource: "v1:sealed", PullSnapshot: "v1:sealed-snapshot"}
	must(t, "create", s.CreateCamera(ctx, c))
	got, err := s.Camera(ctx, c.ID)
	must(t, "camera", err)
	equal(t, "pulled camera", got, c)
}

// testUnclaimedPurge: cameras no home ever claimed are counted, and purged
// with their claim codes once enrolled before the cut-off; claimed,
// released and reset cameras never are.
func testUnclaimedPurge(t *testing.T, s store.Store) {
	_, home := accountHome(t, s, "ana@example.org")
	enrollAt := func(key string, d time.Duration) domain.Camera {
		t.Helper()
		c := domain.Camera{ID: domain.NewID(), State: domain.CameraStateUnclaimed, CreatedAt: at(d), DeviceKey: []byte("key-" + key)}
		must(t, "enroll "+key, s.EnrollDevice(ctx, c, domain.ClaimCode{CameraID: c.ID, Hash: []byte("code-" + key), ExpiresAt: at(d + 24*time.Hour)}))
		return c
	}
	count := func(what string, want int) {
		t.Helper()
		n, err := s.CountUnclaimedCameras(ctx)
		must(t, "count", err)
		equal(t, what, n, want)
	}
	count("empty store", 0)
	old := enrollAt("old", 0)
	young := enrollAt("young", 2*time.Hour)
	enrollAt("claimed", 0)
	claimed, err := s.ClaimCamera(ctx, []byte("code-claimed"), home.ID, "Porch", at(time.Minute))
	must(t, "claim", err)
	enrollAt("released", 0)
	rel, err := s.ClaimCamera(ctx, []byte("code-released"), home.ID, "Hall", at(time.Minute))
	must(t, "claim", err)
	_, err = s.ReleaseCamera(ctx, rel.ID, rel.Generation, domain.CameraStateUnclaimed, false)
	must(t, "release", err)
	count("never claimed", 2)

	n, err := s.PurgeUnclaimedCameras(ctx, at(time.Hour))
	must(t, "purge", err)
	equal(t, "purged", n, 1)
	_, err = s.Camera(ctx, old.ID)
	mustErr(t, "purged camera", err, store.ErrNotFound)
	_, err = s.CameraByDeviceKey(ctx, []byte("key-old"))
	mustErr(t, "purged camera's key", err, store.ErrNotFound)
	_, err = s.ClaimCamera(ctx, []byte("code-old"), home.ID, "x", at(90*time.Minute))
	mustErr(t, "purged camera's code", err, store.ErrNotFound)
	for _, id := range []domain.ID{young.ID, claimed.ID, rel.ID} {
		_, err := s.Camera(ctx, id)
		must(t, "kept camera", err)
	}
	count("after the purge", 1)
	// The purged key may enrol again, as a new camera.
	again := enrollAt("old", 3*time.Hour)
	count("after re-enrolment", 2)

	n, err = s.PurgeUnclaimedCameras(ctx, at(48*time.Hour))
	must(t, "purge all", err)
	equal(t, "purged", n, 2)
	for _, id := range []domain.ID{young.ID, again.ID} {
		_, err := s.Camera(ctx, id)
		mustErr(t, "purged camera", err, store.ErrNotFound)
	}
	for _, id := range []domain.ID{claimed.ID, rel.ID} {
		_, err := s.Camera(ctx, id)
		must(t, "claimed or released camera", err)
	}
	count("nothing left", 0)
}
