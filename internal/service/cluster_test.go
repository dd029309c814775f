package service_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/blob"
	"github.com/camvault/camvault/internal/blob/localfs"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/record/keys"
	"github.com/camvault/camvault/internal/record/recordtest"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
	"github.com/camvault/camvault/internal/store/sqlite"
)

// testClock is a clock both nodes read and the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cluster is two nodes, a and b, on one store, one blob store and one
// in-process bus, each with its own archive and service, wired as the
// app wires a node.
type cluster struct {
	st     store.Store
	blobs  blob.Store
	bus    *events.Local
	clock  *testClock
	ar     [2]*record.Archive
	svc    [2]*service.Service
	owner  service.Caller
	camera domain.Camera
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "camvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := localfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{st: st, blobs: blobs, bus: &events.Local{}, clock: &testClock{t: time.Now().UTC().Truncate(time.Second)}}
	key := bytes.Repeat([]byte{7}, 32)
	for i, node := range []string{"a", "b"} {
		ring, err := keys.New(st, key)
		if err != nil {
			t.Fatal(err)
		}
		c.ar[i] = record.NewArchive(blobs, st, ring, nil, record.WithNode(node))
		c.svc[i], err = service.New(service.Config{Store: st, SecretKey: key, Password: authn.Params{Memory: 1024, Time: 1, Threads: 1},
			Recordings: c.ar[i], Bus: c.bus, Now: c.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.bus.Subscribe(c.svc[i].ForgetDeleted))
	}
	var cv service.CameraView
	c.owner, cv = ownerWithCamera(t, c.svc[0])
	if c.camera, err = st.Camera(ctx, cv.ID); err != nil {
		t.Fatal(err)
	}
	return c
}

// record stores d of video from start at node i.
func (c *cluster) record(t *testing.T, i int, start time.Time, d time.Duration) []domain.Segment {
	t.Helper()
	var out []domain.Segment
	for _, p := range recordtest.Segments(start, d, record.DefaultSegment) {
		seg, err := c.ar[i].Write(context.Background(), c.camera.Ref(), c.camera.HomeID, p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, seg)
	}
	return out
}

// TestDeleteAtAnotherNode: recordings deleted at node b are refused at
// node a, whose recorder had begun a segment of them before the delete
// (in progress, or held as pre-roll); a segment begun afterwards, and
// one outside the deleted times, are stored.
func TestDeleteAtAnotherNode(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	start := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	plains := recordtest.Segments(start, 12*time.Second, 4*time.Second)
	if len(plains) < 3 {
		t.Fatalf("%d segments, want 3 or more", len(plains))
	}
	for _, p := range plains {
		p.Began = time.Now().Add(-time.Minute) // begun at node a before the delete
	}
	if _, err := c.svc[1].DeleteRecordings(ctx, c.owner, c.camera.ID, plains[1].Start, plains[1].End); err != nil {
		t.Fatal(err)
	}
	for i, p := range plains {
		_, err := c.ar[0].Write(ctx, c.camera.Ref(), c.camera.HomeID, p)
		if deleted := i == 1; errors.Is(err, record.ErrDeleted) != deleted || (!deleted && err != nil) {
			t.Fatalf("segment %d at node a after a delete at node b: %v (deleted: %v)", i, err, deleted)
		}
	}

	// Deleting everything at b bars a's whole pre-roll; what a begins
	// afterwards is stored.
	more := recordtest.Segments(start.Add(time.Minute), 8*time.Second, 4*time.Second)
	for _, p := range more {
		p.Began = time.Now().Add(-time.Minute)
	}
	if _, err := c.svc[1].DeleteRecordings(ctx, c.owner, c.camera.ID, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for i, p := range more {
		if _, err := c.ar[0].Write(ctx, c.camera.Ref(), c.camera.HomeID, p); !errors.Is(err, record.ErrDeleted) {
			t.Fatalf("pre-roll segment %d at node a after deleting everything at node b: %v, want ErrDeleted", i, err)
		}
	}
	later := recordtest.Segments(start.Add(2*time.Minute), 4*time.Second, 4*time.Second)
	later[0].Began = time.Now().Add(time.Second)
	if _, err := c.ar[0].Write(ctx, c.camera.Ref(), c.camera.HomeID, later[0]); err != nil {
		t.Fatalf("a segment begun after the delete: %v", err)
	}
}

// waitExport waits until export id is no longer running, asking node i.
func (c *cluster) waitExport(t *testing.T, i int, id domain.ID) service.ExportView {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := c.svc[i].Export(context.Background(), c.owner, c.camera.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != service.ExportRunning {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatal("the export did not finish")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exportBlobs lists the stored exports' IDs.
func (c *cluster) exportBlobs(t *testing.T) map[domain.ID]bool {
	t.Helper()
	infos, err := c.blobs.List(context.Background(), record.ExportPrefix)
	if err != nil {
		t.Fatal(err)
	}
	out := map[domain.ID]bool{}
	for _, in := range infos {
		out[domain.ID(strings.TrimSuffix(strings.TrimPrefix(in.Key, record.ExportPrefix), ".cvs"))] = true
	}
	return out
}

// TestExportsAcrossNodes: an export made at node a is reported, listed
// and downloaded at node b, with a link either node gave; expiry at b
// keeps it while it is fresh and removes it once it is old.
func TestExportsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	start := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	segs := c.record(t, 0, start, 12*time.Second)
	x, err := c.svc[0].CreateExport(ctx, c.owner, c.camera.ID, segs[0].Start, segs[len(segs)-1].End)
	if err != nil {
		t.Fatal(err)
	}
	v := c.waitExport(t, 1, x.ID)
	if v.Status != service.ExportDone || v.Progress != 1 || v.Size == 0 || v.DownloadToken == "" {
		t.Fatalf("the export as node b reports it: %+v", v)
	}
	list, err := c.svc[1].Exports(ctx, c.owner, c.camera.ID)
	if err != nil || len(list) != 1 || list[0].ID != x.ID {
		t.Fatalf("node b's list: %+v %v", list, err)
	}
	va, err := c.svc[0].Export(ctx, c.owner, c.camera.ID, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{v.DownloadToken, va.DownloadToken} {
		r, size, err := c.svc[1].DownloadExport(ctx, c.owner, c.camera.ID, x.ID, token)
		if err != nil {
			t.Fatalf("download at node b: %v", err)
		}
		b, err := io.ReadAll(r)
		if err != nil || int64(len(b)) != size || size != v.Size {
			t.Fatalf("downloaded %d bytes of %d (%d reported): %v", len(b), size, v.Size, err)
		}
	}
	if _, _, err := c.svc[1].DownloadExport(ctx, c.owner, c.camera.ID, x.ID, "wrong"); service.KindOf(err) != service.KindNotFound {
		t.Fatalf("a wrong token: %v", err)
	}

	// Expiry, at either node, keeps a fresh export of the other.
	c.svc[1].ExpireExports(ctx)
	if _, err := c.st.Export(ctx, x.ID); err != nil || !c.exportBlobs(t)[x.ID] {
		t.Fatalf("expiry at node b removed node a's fresh export: %v", err)
	}
	c.clock.Advance(service.ExportKeep + time.Minute)
	c.svc[1].ExpireExports(ctx)
	if _, err := c.st.Export(ctx, x.ID); !errors.Is(err, store.ErrNotFound) || c.exportBlobs(t)[x.ID] {
		t.Fatalf("an old export was kept: %v", err)
	}
	if _, err := c.svc[0].Export(ctx, c.owner, c.camera.ID, x.ID); service.KindOf(err) != service.KindNotFound {
		t.Fatalf("an expired export at node a: %v", err)
	}
}

// TestAbandonedExports: an export whose node stopped mid-build turns
// failed once the build timeout passes, its bytes gone; stored bytes
// whose row went are removed; running exports within the timeout are
// left alone.
func TestAbandonedExports(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	now := c.clock.Now()
	row := func(created time.Time) store.Export {
		return store.Export{ID: domain.NewID(), Account: c.owner.Account.ID, Camera: c.camera.Ref(), HomeID: c.camera.HomeID,
			Since: now.Add(-time.Hour), Until: now.Add(-time.Hour + time.Minute), Created: created, State: service.ExportRunning, Updated: created}
	}
	dead, busy := row(now.Add(-service.ExportBuildTimeout-time.Minute)), row(now.Add(-time.Minute))
	orphan := domain.NewID()
	for _, e := range []store.Export{dead, busy} {
		if err := c.st.CreateExport(ctx, e, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []domain.ID{dead.ID, busy.ID, orphan} {
		if _, _, err := c.ar[0].WriteExport(ctx, id, c.camera.Ref(), func(w io.Writer) error { _, err := w.Write([]byte("partial")); return err }); err != nil {
			t.Fatal(err)
		}
	}
	c.svc[1].ExpireExports(ctx)
	got, err := c.st.Export(ctx, dead.ID)
	if err != nil || got.State != service.ExportFailed {
		t.Fatalf("an abandoned export: %+v %v, want failed", got, err)
	}
	got, err = c.st.Export(ctx, busy.ID)
	if err != nil || got.State != service.ExportRunning {
		t.Fatalf("an export within its build time: %+v %v, want running", got, err)
	}
	if stored := c.exportBlobs(t); stored[dead.ID] || stored[orphan] || !stored[busy.ID] {
		t.Fatalf("stored exports after expiry: %v; want only %s", stored, busy.ID)
	}
}

// TestExportLimitAcrossNodes: an account's exports count at every node.
func TestExportLimitAcrossNodes(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	start := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	segs := c.record(t, 0, start, 4*time.Second)
	for i := range service.MaxExportsPerAccount {
		x, err := c.svc[i%2].CreateExport(ctx, c.owner, c.camera.ID, segs[0].Start, segs[len(segs)-1].End)
		if err != nil {
			t.Fatalf("export %d: %v", i, err)
		}
		c.waitExport(t, 0, x.ID)
	}
	for i := range c.svc {
		if _, err := c.svc[i].CreateExport(ctx, c.owner, c.camera.ID, segs[0].Start, segs[len(segs)-1].End); service.KindOf(err) != service.KindThrottled {
			t.Fatalf("one export too many at node %d: %v", i, err)
		}
	}
}

// fakeRecorder is a node's recorder: it notes the triggers it gets and
// answers recording.
type fakeRecorder struct {
	mu        sync.Mutex // guards the fields below
	recording bool
	marked    []domain.ID
}

func (r *fakeRecorder) Kick() {}

func (r *fakeRecorder) Trigger(camera domain.ID, _ time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.marked = append(r.marked, camera)
	return r.recording
}

// take returns the triggers noted since the last call and sets whether
// the recorder records from now on.
func (r *fakeRecorder) take(recording bool) []domain.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.marked
	r.marked, r.recording = nil, recording
	return got
}

// remoteRecorders are the other nodes' recorders as one node sees them:
// the camera's node carries a trigger out with its HeldTrigger, as its
// device hub does for a command from the bus.
type remoteRecorders struct {
	mu    sync.Mutex // guards the fields below
	owner *service.Service
	err   error
}

func (r *remoteRecorders) TriggerElsewhere(_ context.Context, camera domain.ID) (recording, held bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return false, true, r.err
	}
	if r.owner == nil {
		return false, false, nil
	}
	return r.owner.HeldTrigger(camera), true, nil
}

func (r *remoteRecorders) set(owner *service.Service, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.owner, r.err = owner, err
}

// TestTriggerAtAnotherNode: a trigger made at node b for a camera node a
// records is authorized at b and marked by a's recorder, and answered as
// on one node: accepted when a records the camera, 409 when it does not,
// 503 when a does not answer. A camera no other node holds is b's own
// recorder's.
func TestTriggerAtAnotherNode(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	recA, recB := &fakeRecorder{recording: true}, &fakeRecorder{}
	c.svc[0].SetRecorder(recA)
	c.svc[1].SetRecorder(recB)
	remote := &remoteRecorders{owner: c.svc[0]}
	c.svc[1].SetRemoteRecorders(remote)
	cam := c.camera.ID

	if err := c.svc[1].TriggerEvent(ctx, c.owner, cam, "doorbell"); err != nil {
		t.Fatalf("trigger at b for a camera a records: %v", err)
	}
	if got := recA.take(false); len(got) != 1 || got[0] != cam {
		t.Fatalf("a's recorder marked %v, want the camera once", got)
	}
	if got := recB.take(false); len(got) != 0 {
		t.Fatalf("b's recorder marked %v, want nothing: a records the camera", got)
	}

	err := c.svc[1].TriggerEvent(ctx, c.owner, cam, "")
	if service.KindOf(err) != service.KindConflict {
		t.Fatalf("trigger at b for a camera a does not record: %v, want a conflict", err)
	}
	recA.take(true)

	if err := c.svc[1].TriggerEvent(ctx, service.Caller{Addr: "192.0.2.9"}, cam, ""); err == nil {
		t.Fatal("an anonymous trigger at b was accepted")
	}
	if got := recA.take(true); len(got) != 0 {
		t.Fatalf("a's recorder marked %v for a trigger b refused", got)
	}

	remote.set(nil, errors.New("no responders"))
	if err := c.svc[1].TriggerEvent(ctx, c.owner, cam, ""); service.KindOf(err) != service.KindUnavailable {
		t.Fatalf("trigger at b when a does not answer: %v, want unavailable", err)
	}

	remote.set(nil, nil)
	recB.take(true)
	if err := c.svc[1].TriggerEvent(ctx, c.owner, cam, ""); err != nil {
		t.Fatalf("trigger at b for a camera no other node holds, b recording it: %v", err)
	}
	if got := recB.take(true); len(got) != 1 || got[0] != cam {
		t.Fatalf("b's recorder marked %v, want the camera once", got)
	}
	if got := recA.take(true); len(got) != 0 {
		t.Fatalf("a's recorder marked %v for a camera b holds", got)
	}
}
