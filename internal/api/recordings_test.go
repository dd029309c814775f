package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/record/keys"
	"github.com/camvault/camvault/internal/record/recordtest"
	"github.com/camvault/camvault/internal/record/sealed"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
)

// recordAt stores d of video of the camera as it is now, from start.
func (e *env) recordAt(camera domain.ID, start time.Time, d time.Duration) []domain.Segment {
	e.t.Helper()
	ctx := context.Background()
	cam, err := e.st.Camera(ctx, camera)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []domain.Segment
	for _, p := range recordtest.Segments(start, d, record.DefaultSegment) {
		seg, err := e.ar.Write(ctx, cam.Ref(), cam.HomeID, p)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, seg)
	}
	return out
}

type spanList struct {
	Spans []struct {
		Start, End time.Time
		Generation int64
	}
	Gaps []struct{ Start, End time.Time }
}

func (e *env) spans(u *user, camera domain.ID, since, until time.Time) (int, spanList) {
	e.t.Helper()
	var l spanList
	status, body := e.do(u, "GET", fmt.Sprintf("/api/v1/cameras/%s/recordings?since=%s&until=%s", camera,
		since.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339)), nil)
	if status == 200 {
		if err := json.Unmarshal(body, &l); err != nil {
			e.t.Fatal(err)
		}
	}
	return status, l
}

func (e *env) segment(u *user, camera domain.ID, seg domain.Segment) int {
	e.t.Helper()
	status, _ := e.do(u, "GET", "/api/v1/cameras/"+string(camera)+"/recordings/segments/"+string(seg.ID)+"/media.m4s", nil)
	return status
}

func (e *env) denials(home domain.ID, u *user, action string) int {
	e.t.Helper()
	n := 0
	list, _ := e.st.Audit(context.Background(), domain.AuditFilter{HomeID: home, Principal: u.caller.Account.ID, Limit: 1000})
	for _, ev := range list {
		if ev.Result == domain.ResultDenied && ev.Action == action {
			n++
		}
	}
	return n
}

// TestRecordingIsolation: a camera's recordings belong to the home it was
// in when they were made. A guest with no history sees nothing before it
// joined; the former owner keeps its own generation (the export window)
// and never sees the new owner's; the new owner — who claims the device
// as a new camera, since its key was retired with the transfer — never
// sees the former owner's; a download link works only for its requester and only while
// fresh; when the export window ends the old generation is crypto-shredded
// and its bytes open with nothing the server keeps. Every refusal is a 404,
// audited.
func TestRecordingIsolation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ownerA, ownerB, guest, stranger := e.newUser("ownerA"), e.newUser("ownerB"), e.newUser("guest"), e.newUser("stranger")
	hA, _ := e.svc.CreateHome(ctx, ownerA.caller, "Home A")
	hB, _ := e.svc.CreateHome(ctx, ownerB.caller, "Home B")
	e.svc.CreateHome(ctx, stranger.caller, "Stranger's")
	dev := e.enrollDevice(e.nextAddr())
	cv, err := e.svc.ClaimCamera(ctx, ownerA.caller, hA.ID, dev.code, "Porch")
	if err != nil {
		t.Fatal(err)
	}
	camID := cv.ID
	now := e.clock.Now()
	before := e.recordAt(camID, now.Add(-30*time.Minute), 12*time.Second)
	e.join(ownerA, guest, hA.ID, service.InviteRequest{Role: domain.RoleGuest, NoHistory: true,
		Scope: service.Scope{Cameras: []domain.ID{camID}, Actions: []domain.Action{domain.ActionLive, domain.ActionPlayback}}})
	e.clock.Advance(time.Minute)
	after := e.recordAt(camID, e.clock.Now(), 12*time.Second)
	e.clock.Advance(time.Minute)
	from, to := now.Add(-time.Hour), e.clock.Now().Add(time.Hour)

	// The guest sees only what was recorded after it joined.
	status, l := e.spans(guest, camID, from, to)
	if status != 200 || len(l.Spans) != 1 || l.Spans[0].Start.Before(after[0].Start) {
		t.Fatalf("guest's spans: %d %+v", status, l)
	}
	d0 := e.denials(hA.ID, guest, "playback")
	if s := e.segment(guest, camID, before[0]); s != 404 {
		t.Fatalf("guest fetched a segment from before it joined: %d", s)
	}
	if e.denials(hA.ID, guest, "playback") <= d0 {
		t.Fatal("the guest's refusal was not audited")
	}
	if s := e.segment(guest, camID, after[0]); s != 200 {
		t.Fatalf("guest's own window: %d", s)
	}
	// A stranger sees nothing at all.
	if s, _ := e.spans(stranger, camID, from, to); s != 404 {
		t.Fatalf("stranger's listing: %d", s)
	}
	if s := e.segment(stranger, camID, after[0]); s != 404 {
		t.Fatalf("stranger's segment: %d", s)
	}

	// Owner A exports its recording, then gives the camera away; owner B
	// claims it and records.
	x, err := e.svc.CreateExport(ctx, ownerA.caller, camID, before[0].Start, after[len(after)-1].End)
	if err != nil {
		t.Fatal(err)
	}
	var token string
	waitExport(t, e, ownerA, camID, x.ID, &token)
	if err := e.svc.TransferCamera(ctx, ownerA.caller, camID); err != nil {
		t.Fatal(err)
	}
	// The transfer retired the device's key: it enrols afresh with a new
	// one, as a new camera.
	dev = e.enrollDevice(e.nextAddr())
	cvB, err := e.svc.ClaimCamera(ctx, ownerB.caller, hB.ID, dev.code, "B's porch")
	if err != nil {
		t.Fatal(err)
	}
	camB := cvB.ID
	if camB == camID {
		t.Fatal("the transferred device kept its camera")
	}
	e.clock.Advance(time.Minute)
	newer := e.recordAt(camB, e.clock.Now(), 8*time.Second)
	to = e.clock.Now().Add(time.Hour)

	// Former owner: its own generation, during the export window, never
	// the new owner's.
	status, l = e.spans(ownerA, camID, from, to)
	if status != 200 || len(l.Spans) != 2 {
		t.Fatalf("former owner's spans: %d %+v", status, l)
	}
	for _, sp := range l.Spans {
		if sp.Generation != before[0].Camera.Generation {
			t.Fatalf("former owner sees generation %d", sp.Generation)
		}
	}
	dB := e.denials(hB.ID, ownerA, "playback")
	if s := e.segment(ownerA, camB, newer[0]); s != 404 {
		t.Fatalf("former owner fetched the new owner's segment: %d", s)
	}
	if e.denials(hB.ID, ownerA, "playback") <= dB {
		t.Fatal("the former owner's refusal was not audited in the new home")
	}
	if s := e.segment(ownerA, camID, before[0]); s != 200 {
		t.Fatalf("former owner's own segment during the export window: %d", s)
	}
	// New owner: only its own.
	status, l = e.spans(ownerB, camB, from, to)
	if status != 200 || len(l.Spans) != 1 || l.Spans[0].Generation != newer[0].Camera.Generation {
		t.Fatalf("new owner's spans: %d %+v", status, l)
	}
	if s := e.segment(ownerB, camID, before[0]); s != 404 {
		t.Fatalf("new owner fetched the former owner's segment: %d", s)
	}
	// The guest of home A still sees home A's recording after it left;
	// new recordings of home B never.
	if s := e.segment(guest, camB, newer[0]); s != 404 {
		t.Fatalf("home A's guest fetched home B's segment: %d", s)
	}
	// Download links: another user's and an expired one open nothing.
	path := "/api/v1/cameras/" + string(camID) + "/exports/" + string(x.ID) + "/download?token=" + token
	if s, _ := e.do(ownerB, "GET", path, nil); s != 404 {
		t.Fatalf("another user with the link: %d", s)
	}
	if s, _ := e.do(ownerA, "GET", path, nil); s != 200 {
		t.Fatalf("the requester with the link: %d", s)
	}
	e.clock.Advance(service.ExportDownloadTTL + time.Second)
	dA := e.denials(hA.ID, ownerA, "export.download")
	if s, _ := e.do(ownerA, "GET", path, nil); s != 404 {
		t.Fatalf("an expired link: %d", s)
	}
	if e.denials(hA.ID, ownerA, "export.download") <= dA {
		t.Fatal("the expired link's refusal was not audited")
	}

	// The export window ends: the old generation is shredded.
	sample := filepath.Join(e.blobDir, filepath.FromSlash(before[0].BlobKey))
	kept, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(domain.DefaultExportWindow)
	if n, err := e.svc.ShredDue(ctx); err != nil || n != 1 {
		t.Fatalf("shred: %d %v", n, err)
	}
	if s, _ := e.spans(ownerA, camID, from, to); s != 404 {
		t.Fatalf("former owner after the shred: %d", s)
	}
	if segs, _ := e.st.Segments(ctx, store.SegmentFilter{Camera: camID, Generation: before[0].Camera.Generation}); len(segs) != 0 {
		t.Fatalf("%d segments of the shredded generation remain", len(segs))
	}
	if _, err := os.Stat(sample); !os.IsNotExist(err) {
		t.Fatal("the shredded segment's file is still on disk")
	}
	// Someone who copied the disk before: nothing the server keeps opens
	// the copy.
	ring, _ := keys.New(e.st, e.serverKey)
	for gen := int64(0); gen <= before[0].Camera.Generation+1; gen++ {
		ks, _ := e.st.DataKeys(ctx, domain.CameraRef{Camera: camID, Generation: gen})
		for _, k := range ks {
			raw, err := ring.Key(ctx, domain.CameraRef{Camera: camID, Generation: gen}, k.ID)
			for _, cand := range [][]byte{raw, k.Wrapped, e.serverKey} {
				if len(cand) == 32 && err == nil {
					if _, err := sealed.NewReader(strings.NewReader(string(kept)), int64(len(kept)), cand); err == nil {
						t.Fatalf("a key the server keeps (generation %d) opens the shredded segment", gen)
					}
				}
			}
		}
	}
	// The new owner's recording is untouched (asked of the service: the
	// week that passed ended the HTTP sessions).
	if _, err := e.svc.SegmentData(ctx, ownerB.caller, camB, newer[0].ID, service.SegmentWhole); err != nil {
		t.Fatalf("new owner's segment after the old generation's shred: %v", err)
	}
}

func waitExport(t *testing.T, e *env, u *user, camera, id domain.ID, token *string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		v, err := e.svc.Export(context.Background(), u.caller, camera, id)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status == service.ExportDone {
			*token = v.DownloadToken
			return
		}
		if v.Status == service.ExportFailed {
			t.Fatal("export failed")
		}
	}
	t.Fatal("export did not finish")
}

// TestDeleteHomeShreds: deleting a home crypto-shreds what it recorded —
// of its cameras and of a camera that left it and waits out its export
// window — releases its device cameras and ends its members' access;
// deleting an account deletes the homes it alone owned.
func TestDeleteHomeShreds(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner, member, other := e.newUser("owner"), e.newUser("member"), e.newUser("other")
	h, _ := e.svc.CreateHome(ctx, owner.caller, "Casa")
	e.join(owner, member, h.ID, service.InviteRequest{Role: domain.RoleMember})
	dev := e.enrollDevice(e.nextAddr())
	cv, err := e.svc.ClaimCamera(ctx, owner.caller, h.ID, dev.code, "Porch")
	if err != nil {
		t.Fatal(err)
	}
	gone, _ := e.svc.CreateCamera(ctx, owner.caller, h.ID, "Shed")
	e.clock.Advance(time.Minute)
	kept := e.recordAt(cv.ID, e.clock.Now(), 8*time.Second)
	left := e.recordAt(gone.ID, e.clock.Now(), 8*time.Second)
	if err := e.svc.DeleteCamera(ctx, owner.caller, gone.ID); err != nil {
		t.Fatal(err)
	}
	if ps, _ := e.st.Purges(ctx, h.ID); len(ps) != 1 || !ps[0].DueAt.After(e.clock.Now()) {
		t.Fatalf("a removed camera's recordings should wait out the export window: %+v", ps)
	}
	if s, _ := e.do(member, "DELETE", "/api/v1/homes/"+string(h.ID), nil); s != 403 {
		t.Fatalf("a member deleted the home: %d", s)
	}
	if s, _ := e.do(other, "DELETE", "/api/v1/homes/"+string(h.ID), nil); s != 404 {
		t.Fatalf("a stranger deleted the home: %d", s)
	}
	if s, body := e.do(owner, "DELETE", "/api/v1/homes/"+string(h.ID), nil); s != 204 {
		t.Fatalf("owner: %d %s", s, body)
	}
	for _, segs := range [][]domain.Segment{kept, left} {
		for _, sg := range segs {
			if _, err := os.Stat(filepath.Join(e.blobDir, filepath.FromSlash(sg.BlobKey))); !os.IsNotExist(err) {
				t.Fatal("a deleted home's segment is still on disk")
			}
			ks, _ := e.st.DataKeys(ctx, sg.Camera)
			for _, k := range ks {
				if !k.Destroyed() {
					t.Fatal("a deleted home's data key survives")
				}
			}
		}
	}
	if ps, _ := e.st.Purges(ctx, h.ID); len(ps) != 0 {
		t.Fatalf("purges left: %+v", ps)
	}
	cam, err := e.st.Camera(ctx, cv.ID)
	if err != nil || cam.HomeID != "" || cam.State != domain.CameraStateReset || cam.DeviceBacked() {
		t.Fatalf("the device camera after its home's deletion: %+v %v", cam, err)
	}
	if s, _ := e.do(member, "GET", "/api/v1/homes/"+string(h.ID), nil); s != 404 {
		t.Fatalf("member after the deletion: %d", s)
	}

	// Account deletion: the home it alone owns goes with it.
	h2, _ := e.svc.CreateHome(ctx, other.caller, "Other's")
	c2, _ := e.svc.CreateCamera(ctx, other.caller, h2.ID, "Gate")
	segs := e.recordAt(c2.ID, e.clock.Now(), 4*time.Second)
	if s, _ := e.do(other, "DELETE", "/api/v1/me", map[string]any{"password": "wrong-password-1"}); s == 204 {
		t.Fatal("account deleted with a wrong password")
	}
	if s, body := e.do(other, "DELETE", "/api/v1/me", map[string]any{"password": testPassword}); s != 204 {
		t.Fatalf("delete account: %d %s", s, body)
	}
	if _, err := e.st.Home(ctx, h2.ID); err == nil {
		t.Fatal("the account's own home survived it")
	}
	if _, err := os.Stat(filepath.Join(e.blobDir, filepath.FromSlash(segs[0].BlobKey))); !os.IsNotExist(err) {
		t.Fatal("the deleted account's recordings are still on disk")
	}
	if s, _ := e.do(other, "GET", "/api/v1/me", nil); s != 401 {
		t.Fatalf("the deleted account's session: %d", s)
	}
}

// TestGuestThroughRoleChanges: a guest that joined with no history, made
// member and then guest again, still sees nothing recorded before it first
// joined; the downgrade must name its cameras (an empty scope is refused,
// never read as "every camera").
func TestGuestThroughRoleChanges(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner, guest := e.newUser("owner"), e.newUser("guest")
	h, _ := e.svc.CreateHome(ctx, owner.caller, "Casa")
	dev := e.enrollDevice(e.nextAddr())
	cv, err := e.svc.ClaimCamera(ctx, owner.caller, h.ID, dev.code, "Porch")
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.svc.CreateCamera(ctx, owner.caller, h.ID, "Bedroom")
	if err != nil {
		t.Fatal(err)
	}
	cam := cv.ID
	before := e.recordAt(cam, e.clock.Now().Add(-30*time.Minute), 12*time.Second)
	e.join(owner, guest, h.ID, service.InviteRequest{Role: domain.RoleGuest, NoHistory: true,
		Scope: service.Scope{Cameras: []domain.ID{cam}, Actions: []domain.Action{domain.ActionLive, domain.ActionPlayback}}})
	member := "/api/v1/homes/" + string(h.ID) + "/members/" + string(guest.caller.Account.ID)
	if s := e.segment(guest, cam, before[0]); s != 404 {
		t.Fatalf("guest fetched a segment from before it joined: %d", s)
	}

	// Made member, it sees the home's history like any member.
	if code, b := e.do(owner, "PATCH", member, map[string]any{"role": "member"}); code != 200 {
		t.Fatalf("make member: %d %s", code, b)
	}
	if s := e.segment(guest, cam, before[0]); s != 200 {
		t.Fatalf("member's segment: %d", s)
	}
	// Back to guest: the scope must be given, and not as an empty list.
	for name, body := range map[string]map[string]any{
		"no cameras":    {"role": "guest"},
		"empty cameras": {"role": "guest", "cameras": []string{}},
	} {
		code, b := e.do(owner, "PATCH", member, body)
		if code != 400 || !strings.Contains(string(b), "at least one camera") {
			t.Fatalf("guest again with %s: %d %s, want 400", name, code, b)
		}
	}
	code, b := e.do(owner, "PATCH", member, map[string]any{"role": "guest", "cameras": []string{string(cam)}, "actions": []string{"live", "playback"}})
	if code != 200 {
		t.Fatalf("guest again: %d %s", code, b)
	}
	if m := decodeBody(t, b); m["history_from"] == nil {
		t.Fatalf("the history limit was dropped: %v", m)
	}
	if s := e.segment(guest, cam, before[0]); s != 404 {
		t.Fatalf("guest again fetched a segment from before it first joined: %d", s)
	}
	if code, _ := e.do(guest, "GET", "/api/v1/cameras/"+string(other.ID), nil); code != 404 {
		t.Fatalf("guest again sees a camera outside its scope: %d", code)
	}
	// A guest's cameras cannot be emptied either.
	if code, b := e.do(owner, "PATCH", member, map[string]any{"cameras": []string{}}); code != 400 {
		t.Fatalf("empty a guest's cameras: %d %s, want 400", code, b)
	}
}

// TestFormerCameraOwnersOnly: after a factory reset the camera's kept
// recordings are its old home's owners' alone, until the export window
// ends. A guest whose scope named the camera, a member and an admin get
// 404, audited; the owners find the camera among the home's former
// cameras and still list, play and export its recordings.
func TestFormerCameraOwnersOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner, admin, member, guest := e.newUser("owner"), e.newUser("admin"), e.newUser("member"), e.newUser("guest")
	h, _ := e.svc.CreateHome(ctx, owner.caller, "Casa")
	dev := e.enrollDevice(e.nextAddr())
	cv, err := e.svc.ClaimCamera(ctx, owner.caller, h.ID, dev.code, "Porch")
	if err != nil {
		t.Fatal(err)
	}
	e.join(owner, admin, h.ID, service.InviteRequest{Role: domain.RoleAdmin})
	e.join(owner, member, h.ID, service.InviteRequest{Role: domain.RoleMember})
	e.join(owner, guest, h.ID, service.InviteRequest{Role: domain.RoleGuest,
		Scope: service.Scope{Cameras: []domain.ID{cv.ID}, Actions: []domain.Action{domain.ActionLive, domain.ActionPlayback}}})
	e.clock.Advance(time.Minute)
	segs := e.recordAt(cv.ID, e.clock.Now(), 8*time.Second)
	e.clock.Advance(time.Minute)
	from, to := segs[0].Start.Add(-time.Hour), e.clock.Now().Add(time.Hour)
	if s, _ := e.spans(guest, cv.ID, from, to); s != 200 {
		t.Fatalf("the guest's listing before the reset: %d", s)
	}

	cam, err := e.st.Camera(ctx, cv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeviceReset(ctx, cam, e.nextAddr()); err != nil {
		t.Fatal(err)
	}

	for _, u := range []*user{guest, member, admin} {
		d0 := e.denials(h.ID, u, "recordings.list")
		if s, body := e.spans(u, cv.ID, from, to); s != 404 {
			t.Fatalf("%s listed the reset camera's recordings: %d %+v", u.name, s, body)
		}
		if e.denials(h.ID, u, "recordings.list") <= d0 {
			t.Fatalf("%s's refusal was not audited", u.name)
		}
		if s := e.segment(u, cv.ID, segs[0]); s != 404 {
			t.Fatalf("%s fetched the reset camera's segment: %d", u.name, s)
		}
		if s, _ := e.do(u, "POST", "/api/v1/cameras/"+string(cv.ID)+"/exports", map[string]any{"since": segs[0].Start, "until": segs[len(segs)-1].End}); s != 404 {
			t.Fatalf("%s exported the reset camera's recordings: %d", u.name, s)
		}
		if s, _ := e.do(u, "GET", "/api/v1/homes/"+string(h.ID)+"/former-cameras", nil); s != 403 {
			t.Fatalf("%s listed the former cameras: %d", u.name, s)
		}
	}

	s, body := e.do(owner, "GET", "/api/v1/homes/"+string(h.ID)+"/former-cameras", nil)
	var list struct {
		Former []struct {
			CameraID   domain.ID `json:"camera_id"`
			Generation int64
			Segments   int
			KeptUntil  time.Time `json:"kept_until"`
		} `json:"former_cameras"`
	}
	if s != 200 || json.Unmarshal(body, &list) != nil || len(list.Former) != 1 {
		t.Fatalf("owner's former cameras: %d %s", s, body)
	}
	if f := list.Former[0]; f.CameraID != cv.ID || f.Generation != segs[0].Camera.Generation || f.Segments != len(segs) ||
		!f.KeptUntil.Equal(e.clock.Now().Add(domain.DefaultExportWindow)) {
		t.Fatalf("owner's former camera: %+v", f)
	}
	if s, l := e.spans(owner, cv.ID, from, to); s != 200 || len(l.Spans) != 1 {
		t.Fatalf("owner's listing after the reset: %d %+v", s, l)
	}
	if s := e.segment(owner, cv.ID, segs[0]); s != 200 {
		t.Fatalf("owner's segment after the reset: %d", s)
	}
	if s, body := e.do(owner, "POST", "/api/v1/cameras/"+string(cv.ID)+"/exports", map[string]any{"since": segs[0].Start, "until": segs[len(segs)-1].End}); s != 202 {
		t.Fatalf("owner's export after the reset: %d %s", s, body)
	}
	if s, _ := e.do(owner, "GET", "/api/v1/cameras/"+string(cv.ID)+"/exports", nil); s != 200 {
		t.Fatalf("owner's exports after the reset: %d", s)
	}

	// The export window ends: the former camera goes from the list.
	e.clock.Advance(domain.DefaultExportWindow)
	if _, err := e.svc.ShredDue(ctx); err != nil {
		t.Fatal(err)
	}
	if l, err := e.svc.FormerCameras(ctx, owner.caller, h.ID); err != nil || len(l) != 0 {
		t.Fatalf("former cameras after the export window: %+v %v", l, err)
	}
}

// TestDeleteCoversSegmentInProgress: deleting every recording of a camera
// while it records also deletes the segment being written: it is not
// stored when it finishes, nor when recording is turned off and the
// recorder stores what it holds. What is recorded after the deletion is
// kept.
func TestDeleteCoversSegmentInProgress(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner := e.newUser("owner")
	h, _ := e.svc.CreateHome(ctx, owner.caller, "Casa")
	cv, err := e.svc.CreateCamera(ctx, owner.caller, h.ID, "Porch")
	if err != nil {
		t.Fatal(err)
	}
	cam, _ := e.st.Camera(ctx, cv.ID)
	rec := record.NewRecorder(record.RecorderConfig{Archive: e.ar, Source: e.svc, Media: e.hub, Rescan: 50 * time.Millisecond})
	e.svc.SetRecorder(rec)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { rec.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()
	if s, body := e.do(owner, "PUT", "/api/v1/cameras/"+string(cv.ID)+"/recording", map[string]any{"mode": "continuous"}); s != 200 {
		t.Fatalf("recording on: %d %s", s, body)
	}
	tr, aus := recordtest.Units(20 * time.Second)
	pub := e.hub.Publish(cam.Ref(), tr)
	for e.hub.Stats().Readers == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	base := time.Now()
	publish := func(from, to time.Duration) {
		for _, au := range aus {
			if au.PTS >= from && au.PTS < to {
				u := *au
				u.Origin, u.Capture = cam.Ref(), base.Add(au.PTS)
				if err := pub.Write(&u); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	indexed := func() []domain.Segment {
		segs, err := e.st.Segments(ctx, store.SegmentFilter{Camera: cv.ID, Generation: store.AnyGeneration})
		if err != nil {
			t.Fatal(err)
		}
		return segs
	}
	// One segment stored, the next one in progress.
	publish(0, 7*time.Second)
	for deadline := time.Now().Add(20 * time.Second); len(indexed()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first segment was not stored")
		}
	}
	if s, body := e.do(owner, "DELETE", "/api/v1/cameras/"+string(cv.ID)+"/recordings?all=true", nil); s != 200 {
		t.Fatalf("delete all: %d %s", s, body)
	}
	if segs := indexed(); len(segs) != 0 {
		t.Fatalf("%d segments left right after the deletion", len(segs))
	}
	// The stream goes on past a segment boundary: the segment that was in
	// progress at the deletion finishes now, and is not stored.
	publish(7*time.Second, 9*time.Second)
	if s, body := e.do(owner, "PUT", "/api/v1/cameras/"+string(cv.ID)+"/recording", map[string]any{"mode": "off"}); s != 200 {
		t.Fatalf("recording off: %d %s", s, body)
	}
	cancel()
	<-done // the recorder stored, or refused, everything it held
	for _, sg := range indexed() {
		if !sg.Start.After(base.Add(7 * time.Second)) {
			t.Fatalf("a segment recorded before the deletion was stored after it: %s to %s (stream began %s)", sg.Start, sg.End, base)
		}
	}

	// What is recorded after the deletion is kept.
	after := e.recordAt(cv.ID, e.clock.Now(), 8*time.Second)
	if got := indexed(); len(got) < len(after) {
		t.Fatalf("recordings made after the deletion: %d indexed, want at least %d", len(got), len(after))
	}
}

// TestRenewRecording: the recorder's grant is given again while the
// camera records at that generation, and not once recording is off; once
// the camera changed hands it is for the new generation only, which the
// recorder's old reader cannot take.
func TestRenewRecording(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner := e.newUser("owner")
	h, _ := e.svc.CreateHome(ctx, owner.caller, "Casa")
	dev := e.enrollDevice(e.nextAddr())
	cv, err := e.svc.ClaimCamera(ctx, owner.caller, h.ID, dev.code, "Porch")
	if err != nil {
		t.Fatal(err)
	}
	set := func(mode string) {
		if s, body := e.do(owner, "PUT", "/api/v1/cameras/"+string(cv.ID)+"/recording", map[string]any{"mode": mode}); s != 200 {
			t.Fatalf("recording %s: %d %s", mode, s, body)
		}
	}
	set("continuous")
	first, _, _, err := e.svc.RecordingGrant(ctx, cv.ID)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.hub.AddReader(first, media.Renewable)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	again, _, _, err := e.svc.RecordingGrant(ctx, cv.ID)
	if err != nil || again.Camera() != first.Camera() {
		t.Fatalf("the grant again while recording: %v %v", again.Camera(), err)
	}
	if err := r.Renew(again); err != nil {
		t.Fatalf("renewing while recording: %v", err)
	}
	set("off")
	if _, _, _, err := e.svc.RecordingGrant(ctx, cv.ID); !errors.Is(err, record.ErrNotRecording) {
		t.Fatalf("the grant with recording off: %v", err)
	}
	set("continuous")
	cam, _ := e.st.Camera(ctx, cv.ID)
	if err := e.svc.DeviceReset(ctx, cam, e.nextAddr()); err != nil {
		t.Fatal(err)
	}
	next, _, _, err := e.svc.RecordingGrant(ctx, cv.ID)
	if err == nil && next.Camera() == first.Camera() {
		t.Fatal("the grant after a reset is for the generation that ended")
	}
	if err == nil {
		if err := r.Renew(next); err == nil {
			t.Fatal("the old generation's reader took the new generation's grant")
		}
	}
}
