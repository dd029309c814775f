package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

func testDataKeys(t *testing.T, s store.Store) {
	cam, other := domain.CameraRef{Camera: domain.NewID(), Generation: 1}, domain.CameraRef{Camera: domain.NewID(), Generation: 1}
	next := domain.CameraRef{Camera: cam.Camera, Generation: 2}
	k1 := domain.DataKey{ID: domain.NewID(), CameraID: cam.Camera, Generation: 1, Wrapped: []byte{1, 2, 3}, CreatedAt: at(0)}
	k2 := domain.DataKey{ID: domain.NewID(), CameraID: cam.Camera, Generation: 1, Wrapped: []byte{4, 5, 6}, CreatedAt: at(time.Hour)}
	k3 := domain.DataKey{ID: domain.NewID(), CameraID: other.Camera, Generation: 1, Wrapped: []byte{7}, CreatedAt: at(0)}
	k4 := domain.DataKey{ID: domain.NewID(), CameraID: cam.Camera, Generation: 2, Wrapped: []byte{8}, CreatedAt: at(0)}
	for _, k := range []domain.DataKey{k1, k2, k3, k4} {
		must(t, "create", s.CreateDataKey(ctx, k))
	}
	mustErr(t, "same id", s.CreateDataKey(ctx, k1), store.ErrConflict)
	got, err := s.DataKey(ctx, k1.ID)
	must(t, "get", err)
	equal(t, "key", got, k1)
	list, err := s.DataKeys(ctx, cam)
	must(t, "list", err)
	equal(t, "generation's keys, newest first", list, []domain.DataKey{k2, k1})
	list, _ = s.DataKeys(ctx, next)
	equal(t, "next generation's keys", list, []domain.DataKey{k4})
	_, err = s.DataKey(ctx, domain.NewID())
	mustErr(t, "unknown", err, store.ErrNotFound)

	// Rotation replaces wrapped material all or nothing.
	must(t, "rewrap", s.ReplaceWrappedKeys(ctx, map[domain.ID][]byte{k1.ID: {9, 9}, k3.ID: {7, 7}}))
	got, _ = s.DataKey(ctx, k1.ID)
	equal(t, "rewrapped", got.Wrapped, []byte{9, 9})
	k1.Wrapped, k3.Wrapped = []byte{9, 9}, []byte{7, 7}
	mustErr(t, "rewrap unknown", s.ReplaceWrappedKeys(ctx, map[domain.ID][]byte{k1.ID: {1}, domain.NewID(): {1}}), store.ErrNotFound)
	got, _ = s.DataKey(ctx, k1.ID)
	equal(t, "failed rewrap changed nothing", got.Wrapped, []byte{9, 9})

	n, err := s.DestroyDataKeys(ctx, cam, at(2*time.Hour))
	must(t, "destroy", err)
	equal(t, "destroyed", n, 2)
	for _, id := range []domain.ID{k1.ID, k2.ID} {
		got, _ := s.DataKey(ctx, id)
		if len(got.Wrapped) != 0 || !got.Destroyed() || !got.DestroyedAt.Equal(at(2*time.Hour)) {
			t.Fatalf("destroyed key still holds material: %+v", got)
		}
	}
	mustErr(t, "rewrap destroyed", s.ReplaceWrappedKeys(ctx, map[domain.ID][]byte{k2.ID: {1}}), store.ErrNotFound)
	n, _ = s.DestroyDataKeys(ctx, cam, at(3*time.Hour))
	equal(t, "destroyed twice", n, 0)
	got, _ = s.DataKey(ctx, k3.ID)
	equal(t, "another camera's key", got, k3)
	got, _ = s.DataKey(ctx, k4.ID)
	equal(t, "the next generation's key", got, k4)
	live, err := s.AllDataKeys(ctx)
	must(t, "all", err)
	for _, k := range live {
		if k.Destroyed() || k.ID == k1.ID || k.ID == k2.ID {
			t.Fatalf("AllDataKeys listed a destroyed key: %+v", k)
		}
	}
}

func testRecordings(t *testing.T, s store.Store) {
	cam, home := domain.NewID(), domain.NewID()
	_, err := s.RecordingSettings(ctx, cam)
	mustErr(t, "no settings", err, store.ErrNotFound)
	rs := domain.RecordingSettings{CameraID: cam, Mode: domain.RecordEvents, PreRoll: 3 * time.Second, PostRoll: 7 * time.Second,
		RetainDays: 14, RetainBytes: 5 << 30, UpdatedAt: at(0)}
	must(t, "set", s.SetRecordingSettings(ctx, rs))
	got, err := s.RecordingSettings(ctx, cam)
	must(t, "get", err)
	equal(t, "settings", got, rs)
	rs.Mode, rs.UpdatedAt = domain.RecordContinuous, at(time.Hour)
	must(t, "replace", s.SetRecordingSettings(ctx, rs))
	off := domain.RecordingSettings{CameraID: domain.NewID(), Mode: domain.RecordOff}
	must(t, "set off", s.SetRecordingSettings(ctx, off))
	list, err := s.RecordingCameras(ctx)
	must(t, "recording cameras", err)
	found := false
	for _, r := range list {
		if r.CameraID == off.CameraID {
			t.Fatal("a camera that does not record is listed")
		}
		if r.CameraID == cam {
			found = true
			equal(t, "listed settings", r, rs)
		}
	}
	if !found {
		t.Fatal("the recording camera is not listed")
	}

	_, err = s.HomeRecording(ctx, home)
	mustErr(t, "no home settings", err, store.ErrNotFound)
	hr := domain.HomeRecording{HomeID: home, RetainDays: 30, RetainBytes: 1 << 40, ExportWindow: 48 * time.Hour, UpdatedAt: at(0)}
	must(t, "set home", s.SetHomeRecording(ctx, hr))
	hr.ExportWindow = time.Hour
	must(t, "replace home", s.SetHomeRecording(ctx, hr))
	gotH, err := s.HomeRecording(ctx, home)
	must(t, "get home", err)
	equal(t, "home settings", gotH, hr)

	seg := func(gen int64, start, end time.Duration, size int64) domain.Segment {
		id := domain.NewID()
		return domain.Segment{ID: id, Camera: domain.CameraRef{Camera: cam, Generation: gen}, HomeID: home,
			Start: at(start), End: at(end), Size: size, InitSize: 700, KeyID: domain.NewID(), BlobKey: "seg/" + string(id), CreatedAt: at(end)}
	}
	a, b, c := seg(1, 0, 4*time.Second, 100), seg(1, 4*time.Second, 8*time.Second, 200), seg(2, 20*time.Second, 24*time.Second, 400)
	otherCam := seg(1, 0, 4*time.Second, 800)
	otherCam.Camera.Camera, otherCam.HomeID = domain.NewID(), domain.NewID()
	for _, g := range []domain.Segment{c, a, b, otherCam} {
		must(t, "create segment", s.CreateSegment(ctx, g))
	}
	mustErr(t, "same segment", s.CreateSegment(ctx, a), store.ErrConflict)
	gotS, err := s.Segment(ctx, b.ID)
	must(t, "get segment", err)
	equal(t, "segment", gotS, b)
	all, err := s.Segments(ctx, store.SegmentFilter{Camera: cam, Generation: store.AnyGeneration})
	must(t, "segments", err)
	equal(t, "camera's segments, oldest first", all, []domain.Segment{a, b, c})
	gen1, _ := s.Segments(ctx, store.SegmentFilter{Camera: cam, Generation: 1})
	equal(t, "one generation", gen1, []domain.Segment{a, b})
	win, _ := s.Segments(ctx, store.SegmentFilter{Camera: cam, Generation: store.AnyGeneration, Since: at(5 * time.Second), Until: at(21 * time.Second)})
	equal(t, "overlapping a window", win, []domain.Segment{b, c})
	edge, _ := s.Segments(ctx, store.SegmentFilter{Camera: cam, Generation: store.AnyGeneration, Since: at(8 * time.Second), Until: at(20 * time.Second)})
	equal(t, "touching is not overlapping", len(edge), 0)
	old, _ := s.Segments(ctx, store.SegmentFilter{HomeID: home, EndBefore: at(8 * time.Second), Limit: 1})
	equal(t, "ended before, limited", old, []domain.Segment{a})

	usage, err := s.SegmentUsage(ctx)
	must(t, "usage", err)
	want := map[domain.CameraRef]store.SegmentUsage{
		{Camera: cam, Generation: 1}: {Camera: domain.CameraRef{Camera: cam, Generation: 1}, HomeID: home, Count: 2, Bytes: 300, Oldest: at(0)},
		{Camera: cam, Generation: 2}: {Camera: domain.CameraRef{Camera: cam, Generation: 2}, HomeID: home, Count: 1, Bytes: 400, Oldest: at(20 * time.Second)},
	}
	for _, u := range usage {
		if w, ok := want[u.Camera]; ok {
			equal(t, "usage", u, w)
			delete(want, u.Camera)
		}
	}
	equal(t, "usage rows missing", len(want), 0)

	must(t, "delete segment", s.DeleteSegment(ctx, a.ID))
	mustErr(t, "delete twice", s.DeleteSegment(ctx, a.ID), store.ErrNotFound)
	_, err = s.Segment(ctx, a.ID)
	mustErr(t, "deleted segment", err, store.ErrNotFound)

	p := domain.Purge{Camera: domain.CameraRef{Camera: cam, Generation: 1}, HomeID: home, DueAt: at(time.Hour), CreatedAt: at(0)}
	must(t, "schedule", s.SchedulePurge(ctx, p))
	later := p
	later.DueAt = at(2 * time.Hour)
	must(t, "schedule later", s.SchedulePurge(ctx, later))
	due, err := s.DuePurges(ctx, at(90*time.Minute))
	must(t, "due", err)
	equal(t, "a later schedule keeps the sooner one", due, []domain.Purge{p})
	sooner := p
	sooner.DueAt = at(time.Minute)
	must(t, "schedule sooner", s.SchedulePurge(ctx, sooner))
	due, _ = s.DuePurges(ctx, at(30*time.Second))
	equal(t, "not due yet", len(due), 0)
	ps, err := s.Purges(ctx, home)
	must(t, "home purges", err)
	equal(t, "home purges", ps, []domain.Purge{sooner})
	must(t, "delete purge", s.DeletePurge(ctx, p.Camera))
	mustErr(t, "delete purge twice", s.DeletePurge(ctx, p.Camera), store.ErrNotFound)
}

func testRekey(t *testing.T, s store.Store) {
	a, home := accountHome(t, s, "rekey@example.org")
	a.TOTPSecret = "v1:seed"
	must(t, "totp", s.UpdateAccount(ctx, a))
	cam := domain.Camera{ID: domain.NewID(), HomeID: home.ID, Name: "IP cam", Generation: 1, State: domain.CameraStatePulled,
		CreatedAt: at(0), PullSource: "v1:src", PullSnapshot: "v1:snap"}
	must(t, "camera", s.CreateCamera(ctx, cam))
	k := domain.DataKey{ID: domain.NewID(), CameraID: cam.ID, Generation: 1, Wrapped: []byte{1}, CreatedAt: at(0)}
	must(t, "key", s.CreateDataKey(ctx, k))
	gone := domain.DataKey{ID: domain.NewID(), CameraID: cam.ID, Generation: 0, Wrapped: []byte{2}, CreatedAt: at(0)}
	must(t, "old key", s.CreateDataKey(ctx, gone))
	s.DestroyDataKeys(ctx, domain.CameraRef{Camera: cam.ID, Generation: 0}, at(time.Hour))

	failing := store.Rekeying{
		DataKey: func(k domain.DataKey) ([]byte, error) { return append(k.Wrapped, 9), nil },
		Sealed: func(v, c string) (string, error) {
			if strings.HasPrefix(c, "pull-snapshot:") {
				return "", errors.New("does not open")
			}
			return v + "+" + c, nil
		},
	}
	_, err := s.Rekey(ctx, failing)
	if err == nil {
		t.Fatal("a failing rekey succeeded")
	}
	got, _ := s.DataKey(ctx, k.ID)
	equal(t, "a failed rekey changed nothing", got.Wrapped, []byte{1})
	ok := failing
	ok.Sealed = func(v, c string) (string, error) { return v + "+" + c, nil }
	n, err := s.Rekey(ctx, ok)
	must(t, "rekey", err)
	if n < 4 {
		t.Fatalf("rekey rewrote %d values, want at least 4", n)
	}
	got, _ = s.DataKey(ctx, k.ID)
	equal(t, "rewrapped", got.Wrapped, []byte{1, 9})
	acct, _ := s.Account(ctx, a.ID)
	equal(t, "resealed seed", acct.TOTPSecret, "v1:seed+"+string(a.ID))
	c, _ := s.Camera(ctx, cam.ID)
	equal(t, "resealed source", c.PullSource, "v1:src+pull:"+string(cam.ID))
	equal(t, "resealed snapshot", c.PullSnapshot, "v1:snap+pull-snapshot:"+string(cam.ID))
	old, _ := s.DataKey(ctx, gone.ID)
	equal(t, "a destroyed key stays destroyed", len(old.Wrapped), 0)
}

// testRekeyBatches: in batches, values come back rewritten, except those
// the rewrite leaves as they are, and a shredded key stays shredded.
func testRekeyBatches(t *testing.T, s store.Store) {
	a, home := accountHome(t, s, "rekey-batches@example.org")
	a.TOTPSecret = "old:seed"
	must(t, "totp", s.UpdateAccount(ctx, a))
	b := mustAccount(t, s, "rekeyed-already@example.org")
	b.TOTPSecret = "new:seed"
	must(t, "totp", s.UpdateAccount(ctx, b))
	var cams []domain.Camera
	var ks []domain.DataKey
	for i := range 7 {
		cam := domain.Camera{ID: domain.NewID(), HomeID: home.ID, Name: "IP cam", Generation: 1, State: domain.CameraStatePulled,
			CreatedAt: at(0), PullSource: "old:src", PullSnapshot: "new:snap"}
		must(t, "camera", s.CreateCamera(ctx, cam))
		cams = append(cams, cam)
		k := domain.DataKey{ID: domain.NewID(), CameraID: cam.ID, Generation: 1, Wrapped: []byte{byte(i)}, CreatedAt: at(0)}
		if i == 3 {
			k.Wrapped = []byte{'n'}
		}
		must(t, "key", s.CreateDataKey(ctx, k))
		ks = append(ks, k)
	}
	// One camera's key is shredded while the rekey runs.
	s.DestroyDataKeys(ctx, cams[5].Ref(), at(time.Hour))
	r := store.Rekeying{
		Batch: 2,
		DataKey: func(k domain.DataKey) ([]byte, error) {
			if k.Wrapped[0] == 'n' {
				return k.Wrapped, nil
			}
			return append([]byte{'n'}, k.Wrapped...), nil
		},
		Sealed: func(v, c string) (string, error) {
			if strings.HasPrefix(v, "new:") {
				return v, nil
			}
			return "new:" + strings.TrimPrefix(v, "old:"), nil
		},
	}
	n, err := s.Rekey(ctx, r)
	must(t, "rekey", err)
	// 5 live keys not yet rewritten, 1 seed, 7 sources; there may be
	// other rows of the earlier tests.
	if n < 13 {
		t.Fatalf("rekey rewrote %d values, want at least 13", n)
	}
	for i, k := range ks {
		got, _ := s.DataKey(ctx, k.ID)
		switch {
		case i == 5:
			equal(t, "a shredded key stays shredded", len(got.Wrapped), 0)
		case i == 3:
			equal(t, "a current key as it was", got.Wrapped, []byte{'n'})
		default:
			equal(t, "rewrapped", got.Wrapped, []byte{'n', byte(i)})
		}
	}
	for _, cam := range cams {
		c, _ := s.Camera(ctx, cam.ID)
		equal(t, "resealed source", c.PullSource, "new:src")
		equal(t, "snapshot as it was", c.PullSnapshot, "new:snap")
	}
	acct, _ := s.Account(ctx, a.ID)
	equal(t, "resealed seed", acct.TOTPSecret, "new:seed")
	again, err := s.Rekey(ctx, r)
	must(t, "rekey again", err)
	equal(t, "nothing left to rewrite", again, 0)
}

func testDeleteHomeAndAccount(t *testing.T, s store.Store) {
	ana, home := accountHome(t, s, "leaver@example.org")
	bob := mustAccount(t, s, "stays@example.org")
	inv := invite(t, s, home.ID, ana.ID, domain.RoleMember)
	_, err := s.AcceptInvite(ctx, inv.TokenHash, bob.ID, at(time.Minute))
	must(t, "bob joins", err)
	cam := domain.Camera{ID: domain.NewID(), HomeID: home.ID, Name: "Porch", Generation: 1, State: domain.CameraStateActive, CreatedAt: at(0)}
	must(t, "camera", s.CreateCamera(ctx, cam))
	must(t, "home settings", s.SetHomeRecording(ctx, domain.HomeRecording{HomeID: home.ID, ExportWindow: time.Hour}))

	mustErr(t, "delete a home with a camera", s.DeleteHome(ctx, home.ID), store.ErrConflict)
	mustErr(t, "delete the only owner", s.DeleteAccount(ctx, ana.ID), store.ErrLastOwner)
	must(t, "delete the camera", s.DeleteCamera(ctx, cam.ID))
	must(t, "delete the home", s.DeleteHome(ctx, home.ID))
	mustErr(t, "delete it twice", s.DeleteHome(ctx, home.ID), store.ErrNotFound)
	_, err = s.Home(ctx, home.ID)
	mustErr(t, "deleted home", err, store.ErrNotFound)
	_, err = s.Membership(ctx, home.ID, bob.ID)
	mustErr(t, "a deleted home's membership", err, store.ErrNotFound)
	_, err = s.HomeRecording(ctx, home.ID)
	mustErr(t, "a deleted home's settings", err, store.ErrNotFound)

	sess := domain.Session{ID: domain.NewID(), TokenHash: []byte("leaver-session"), AccountID: ana.ID, Kind: domain.SessionBrowser,
		CreatedAt: at(0), LastSeen: at(0), ExpiresAt: at(time.Hour)}
	must(t, "session", s.CreateSession(ctx, sess))
	must(t, "delete the account", s.DeleteAccount(ctx, ana.ID))
	_, err = s.Account(ctx, ana.ID)
	mustErr(t, "deleted account", err, store.ErrNotFound)
	mustErr(t, "delete it twice", s.DeleteAccount(ctx, ana.ID), store.ErrNotFound)
	if _, err := s.Account(ctx, bob.ID); err != nil {
		t.Fatalf("another account went too: %v", err)
	}
}

// testUploadState: a segment indexed while its bytes are being stored is
// neither played, listed nor counted until it is marked stored; crash
// recovery finds it by its upload state.
func testUploadState(t *testing.T, s store.Store) {
	cam, home := domain.NewID(), domain.NewID()
	seg := func(start time.Duration, by string) domain.Segment {
		id := domain.NewID()
		return domain.Segment{ID: id, Camera: domain.CameraRef{Camera: cam, Generation: 1}, HomeID: home,
			Start: at(start), End: at(start + 4*time.Second), Size: 100, InitSize: 10, KeyID: domain.NewID(),
			BlobKey: "seg/" + string(id), CreatedAt: at(start), UploadingBy: by}
	}
	stored, uploading := seg(0, ""), seg(4*time.Second, "node-a")
	must(t, "create stored", s.CreateSegment(ctx, stored))
	must(t, "create uploading", s.CreateSegment(ctx, uploading))

	_, err := s.Segment(ctx, uploading.ID)
	mustErr(t, "an uploading segment by ID", err, store.ErrNotFound)
	listed, err := s.Segments(ctx, store.SegmentFilter{Camera: cam, Generation: store.AnyGeneration})
	must(t, "segments", err)
	equal(t, "stored segments only", listed, []domain.Segment{stored})
	up, err := s.Segments(ctx, store.SegmentFilter{Upload: store.UploadingOnly})
	must(t, "uploading segments", err)
	equal(t, "uploading segments", up, []domain.Segment{uploading})
	both, _ := s.Segments(ctx, store.SegmentFilter{Camera: cam, Generation: store.AnyGeneration, Upload: store.AnyUpload})
	equal(t, "both states", both, []domain.Segment{stored, uploading})
	usage, err := s.SegmentUsage(ctx)
	must(t, "usage", err)
	for _, u := range usage {
		if u.Camera.Camera == cam && u.Count != 1 {
			t.Errorf("usage counts %d segments, want the stored one only", u.Count)
		}
	}

	must(t, "mark stored", s.MarkSegmentStored(ctx, uploading.ID))
	uploading.UploadingBy = ""
	got, err := s.Segment(ctx, uploading.ID)
	must(t, "a stored segment by ID", err)
	equal(t, "marked segment", got, uploading)
	must(t, "delete", s.DeleteSegment(ctx, uploading.ID))
	mustErr(t, "mark a deleted segment", s.MarkSegmentStored(ctx, uploading.ID), store.ErrNotFound)
	up, _ = s.Segments(ctx, store.SegmentFilter{Upload: store.UploadingOnly})
	equal(t, "nothing uploading", len(up), 0)
}
