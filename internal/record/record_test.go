package record_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/blob"
	"github.com/camvault/camvault/internal/blob/localfs"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/record/keys"
	"github.com/camvault/camvault/internal/record/recordtest"
	"github.com/camvault/camvault/internal/store"
	"github.com/camvault/camvault/internal/store/sqlite"
)

var ctx = context.Background()

type rig struct {
	ar   *record.Archive
	st   store.Store
	dir  string
	ring *keys.Keyring
}

func newRig(t testing.TB) *rig { return newRigWith(t, nil) }

// newRigWith is newRig with its blob store wrapped by wrap, if set.
func newRigWith(t testing.TB, wrap func(blob.Store) blob.Store) *rig {
	t.Helper()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "camvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := t.TempDir()
	fs, err := localfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var blobs blob.Store = fs
	if wrap != nil {
		blobs = wrap(fs)
	}
	sk := make([]byte, 32)
	rand.Read(sk)
	ring, err := keys.New(st, sk)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{ar: record.NewArchive(blobs, st, ring, nil), st: st, dir: dir, ring: ring}
}

var cam = domain.CameraRef{Camera: domain.NewID(), Generation: 3}
var home = domain.NewID()

func (r *rig) write(t testing.TB, start time.Time, d time.Duration) []domain.Segment {
	t.Helper()
	var out []domain.Segment
	for _, p := range recordtest.Segments(start, d, record.DefaultSegment) {
		seg, err := r.ar.Write(ctx, cam, home, p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, seg)
	}
	return out
}

// TestSegmentsRoundTrip: the segmenter cuts on keyframes at about the
// target length; stored segments read back byte for byte, keep the
// cameras' SEI and parse as fMP4 with a keyframe first; the index says
// where they are on the wall clock.
func TestSegmentsRoundTrip(t *testing.T) {
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	plains := recordtest.Segments(start, 20*time.Second, record.DefaultSegment)
	if len(plains) < 4 || len(plains) > 6 {
		t.Fatalf("20 s in 4 s segments made %d", len(plains))
	}
	for i, p := range plains {
		if d := p.End.Sub(p.Start); (d < 3*time.Second && i < len(plains)-1) || d > 5*time.Second {
			t.Errorf("segment %d lasts %s", i, d)
		}
		if i > 0 && !p.Start.Equal(plains[i-1].End) {
			t.Errorf("segment %d starts at %s, the previous ended at %s", i, p.Start, plains[i-1].End)
		}
	}
	r := newRig(t)
	segs := r.write(t, start, 20*time.Second)
	if !segs[0].Start.Equal(start) {
		t.Fatalf("first segment starts at %s, want %s", segs[0].Start, start)
	}
	for i, s := range segs {
		got, err := r.ar.ReadAll(ctx, owner(t, s.Camera), s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plains[i].Data) {
			t.Fatalf("segment %d reads back differently", i)
		}
		init, parts, err := record.Parse(got, s.InitSize)
		if err != nil || len(init.Tracks) != 1 || len(parts) != 1 {
			t.Fatalf("segment %d: %v", i, err)
		}
		samples := parts[0].Tracks[0].Samples
		if samples[0].IsNonSyncSample {
			t.Fatalf("segment %d does not start on a keyframe", i)
		}
		if want := uint64(s.Start.UnixMicro()) * 9 / 100; parts[0].Tracks[0].BaseTime != want {
			t.Fatalf("segment %d base time %d, want %d", i, parts[0].Tracks[0].BaseTime, want)
		}
	}
	idx, _ := r.st.Segments(ctx, store.SegmentFilter{Camera: cam.Camera, Generation: cam.Generation})
	if len(idx) != len(segs) {
		t.Fatalf("index has %d segments, want %d", len(idx), len(segs))
	}
}

// keyframeBytes is a run of the clip's first IDR slice, long enough to be
// unmistakable.
func keyframeBytes(t testing.TB) []byte {
	_, aus := recordtest.Units(time.Second)
	for _, n := range aus[0].NALUs {
		if bitstream.IsKey(bitstream.H264, n) && len(n) > 200 {
			return n[100:164]
		}
	}
	t.Fatal("no keyframe in the clip")
	return nil
}

// TestNoPlaintextOnDisk: nothing the archive writes holds the clip's
// keyframe bytes, while the plaintext segments do.
func TestNoPlaintextOnDisk(t *testing.T) {
	r := newRig(t)
	start := time.Now().Add(-time.Minute)
	segs := r.write(t, start, 10*time.Second)
	needle := keyframeBytes(t)
	if plain, _ := r.ar.ReadAll(ctx, owner(t, segs[0].Camera), segs[0]); !bytes.Contains(plain, needle) {
		t.Fatal("the needle is not in the plaintext segment: the test would prove nothing")
	}
	files := 0
	filepath.Walk(r.dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		files++
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, needle) {
			t.Errorf("%s holds plaintext keyframe bytes", path)
		}
		return nil
	})
	if files < len(segs) {
		t.Fatalf("found %d files for %d segments", files, len(segs))
	}
}

// TestTamperDetected: a flipped byte in a stored chunk, a truncated file
// or a segment swapped for another fail on playback.
func TestTamperDetected(t *testing.T) {
	r := newRig(t)
	segs := r.write(t, time.Now().Add(-time.Minute), 12*time.Second)
	path := filepath.Join(r.dir, filepath.FromSlash(segs[1].BlobKey))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	os.WriteFile(path, b, 0o600)
	if _, err := r.ar.ReadAll(ctx, owner(t, segs[1].Camera), segs[1]); !errors.Is(err, record.ErrCorrupt) {
		t.Fatalf("flipped byte: %v", err)
	}
	// Another segment's bytes under this one's name.
	other, _ := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(segs[2].BlobKey)))
	os.WriteFile(filepath.Join(r.dir, filepath.FromSlash(segs[0].BlobKey)), other, 0o600)
	if _, err := r.ar.ReadAll(ctx, owner(t, segs[0].Camera), segs[0]); err == nil {
		t.Fatal("a swapped segment read back without complaint")
	}
	// Truncated.
	p2 := filepath.Join(r.dir, filepath.FromSlash(segs[2].BlobKey))
	os.WriteFile(p2, other[:len(other)-100], 0o600)
	if _, err := r.ar.ReadAll(ctx, owner(t, segs[2].Camera), segs[2]); err == nil {
		t.Fatal("a cut segment read back without complaint")
	}
}

// TestReconcile: after a crash the index and the blobs are made to agree.
func TestReconcile(t *testing.T) {
	r := newRig(t)
	segs := r.write(t, time.Now().Add(-time.Minute), 16*time.Second)
	// A blob stored but never indexed (killed between the two), a blob
	// lost, and one cut short.
	orphan := filepath.Join(r.dir, "rec", string(cam.Camera), "3", "0000000000000001-"+string(domain.NewID())+".cvs")
	os.WriteFile(orphan, []byte("sealed bytes of a segment nobody indexed"), 0o600)
	os.Remove(filepath.Join(r.dir, filepath.FromSlash(segs[0].BlobKey)))
	cut := filepath.Join(r.dir, filepath.FromSlash(segs[1].BlobKey))
	b, _ := os.ReadFile(cut)
	os.WriteFile(cut, b[:len(b)/2], 0o600)
	c, err := r.ar.Reconcile(ctx, record.Check)
	if err != nil || c.OK() || c.OrphanBlobs != 1 || c.MissingBlobs != 1 || c.Damaged != 1 {
		t.Fatalf("check: %+v %v", c, err)
	}
	// What a node does at start: the orphan goes, but the rows whose
	// bytes were not found stay (they may be stored where this node did
	// not see them).
	if c, err = r.ar.Reconcile(ctx, record.Recover); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatal("the orphan is still there")
	}
	if c, _ = r.ar.Reconcile(ctx, record.Check); c.OrphanBlobs != 0 || c.MissingBlobs != 1 || c.Damaged != 1 || c.Segments != len(segs) {
		t.Fatalf("after recovery at start: %+v; a row was dropped because its file was not found", c)
	}
	// An operator's repair drops them.
	if _, err = r.ar.Reconcile(ctx, record.Repair); err != nil {
		t.Fatal(err)
	}
	if c, _ = r.ar.Reconcile(ctx, record.Check); !c.OK() || c.Segments != len(segs)-2 {
		t.Fatalf("after repair: %+v", c)
	}
}

// gatedBlobs holds every Put until release is closed, saying on entered
// that one began.
type gatedBlobs struct {
	blob.Store
	entered chan struct{}
	release chan struct{}
}

func (g *gatedBlobs) Put(ctx context.Context, key string, r io.Reader) (blob.Info, error) {
	g.entered <- struct{}{}
	<-g.release
	return g.Store.Put(ctx, key, r)
}

// TestUploadInProgressIsKept: while one node stores a segment, another
// node's recovery neither removes it nor plays it, and a delete at
// another node wins over it.
func TestUploadInProgressIsKept(t *testing.T) {
	var gate *gatedBlobs
	r := newRigWith(t, func(b blob.Store) blob.Store {
		gate = &gatedBlobs{Store: b, entered: make(chan struct{}, 1), release: make(chan struct{})}
		return gate
	})
	other := record.NewArchive(gate.Store, r.st, r.ring, nil, record.WithNode("node-b"))
	plains := recordtest.Segments(time.Now().Add(-time.Minute), 8*time.Second, record.DefaultSegment)
	if len(plains) < 2 {
		t.Fatalf("%d segments", len(plains))
	}
	write := func(p *record.Plain) <-chan error {
		done := make(chan error, 1)
		go func() { _, err := r.ar.Write(ctx, cam, home, p); done <- err }()
		<-gate.entered
		return done
	}

	done := write(plains[0])
	c, err := other.Reconcile(ctx, record.Recover)
	if err != nil || !c.OK() || c.Segments != 0 {
		t.Fatalf("another node's recovery during an upload: %+v %v", c, err)
	}
	if listed, _ := r.st.Segments(ctx, store.SegmentFilter{Camera: cam.Camera, Generation: store.AnyGeneration}); len(listed) != 0 {
		t.Fatalf("a segment being stored is listed for playback: %+v", listed)
	}
	gate.release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if listed, _ := r.st.Segments(ctx, store.SegmentFilter{Camera: cam.Camera, Generation: store.AnyGeneration}); len(listed) != 1 {
		t.Fatalf("%d segments once stored, want 1", len(listed))
	}

	// A delete at another node while the next segment is being stored:
	// the row goes, and the upload then gives up and leaves nothing.
	done = write(plains[1])
	up, err := r.st.Segments(ctx, store.SegmentFilter{Generation: store.AnyGeneration, Upload: store.UploadingOnly})
	if err != nil || len(up) != 1 {
		t.Fatalf("uploading: %+v %v", up, err)
	}
	if err := other.Delete(ctx, up[0]); err != nil {
		t.Fatal(err)
	}
	close(gate.release)
	if err := <-done; !errors.Is(err, record.ErrDeleted) {
		t.Fatalf("an upload whose row was deleted: %v, want ErrDeleted", err)
	}
	if c, _ := r.ar.Reconcile(ctx, record.Check); !c.OK() || c.Segments != 1 || c.Blobs != 1 {
		t.Fatalf("after the deleted upload: %+v", c)
	}
}

// TestAbandonedUploads: at its start a node removes its own unfinished
// uploads; another node's count as abandoned only after UploadGrace.
func TestAbandonedUploads(t *testing.T) {
	r := newRig(t)
	row := func(node string, age time.Duration) domain.Segment {
		id := domain.NewID()
		s := domain.Segment{ID: id, Camera: cam, HomeID: home, Start: time.Now().Add(-age).UTC().Truncate(time.Microsecond),
			End: time.Now().UTC().Truncate(time.Microsecond), Size: 10, KeyID: domain.NewID(),
			BlobKey: "rec/" + string(cam.Camera) + "/3/" + string(id) + ".cvs", CreatedAt: time.Now().Add(-age).UTC(), UploadingBy: node}
		if err := r.st.CreateSegment(ctx, s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	mine := row(record.LocalNode, time.Second)
	os.MkdirAll(filepath.Join(r.dir, "rec", string(cam.Camera), "3"), 0o700)
	os.WriteFile(filepath.Join(r.dir, filepath.FromSlash(mine.BlobKey)), []byte("half a segment"), 0o600)
	young := row("node-b", time.Second)
	old := row("node-c", record.UploadGrace+time.Minute)

	c, err := r.ar.Reconcile(ctx, record.Check)
	if err != nil || c.AbandonedUploads != 1 {
		t.Fatalf("check: %+v %v (only node-c's old upload is abandoned to anyone)", c, err)
	}
	// The chore any node runs: only the old upload goes.
	if n, err := r.ar.ClearAbandonedUploads(ctx); err != nil || n != 1 {
		t.Fatalf("clear: %d %v, want node-c's old upload removed", n, err)
	}
	if _, err := r.st.Segments(ctx, store.SegmentFilter{Generation: store.AnyGeneration, Upload: store.UploadingOnly}); err != nil {
		t.Fatal(err)
	}
	// A node's start: its own unfinished upload goes too.
	if c, err = r.ar.Reconcile(ctx, record.Recover); err != nil || c.AbandonedUploads != 1 {
		t.Fatalf("recover at start: %+v %v", c, err)
	}
	up, _ := r.st.Segments(ctx, store.SegmentFilter{Generation: store.AnyGeneration, Upload: store.UploadingOnly})
	if len(up) != 1 || up[0].ID != young.ID {
		t.Fatalf("left uploading: %+v, want node-b's young upload", up)
	}
	if _, err := os.Stat(filepath.Join(r.dir, filepath.FromSlash(mine.BlobKey))); !os.IsNotExist(err) {
		t.Fatal("the unfinished upload's bytes are still there")
	}
	if up[0].ID == old.ID {
		t.Fatal("the old upload is still there")
	}
}

// TestShredAndRetention: shredding destroys the generation's keys and
// deletes its segments; retention deletes oldest first by age and size
// and keeps what is pinned.
func TestShredAndRetention(t *testing.T) {
	r := newRig(t)
	now := time.Now()
	old := r.write(t, now.Add(-72*time.Hour), 8*time.Second)
	recent := r.write(t, now.Add(-time.Hour), 40*time.Second)
	release := r.ar.Pin(old[:1])
	lim := record.Limits{Cameras: map[domain.CameraRef]domain.RecordingSettings{cam: {CameraID: cam.Camera, RetainDays: 2}}}
	c, err := r.ar.Clean(ctx, lim)
	if err != nil || c.ByAge != len(old)-1 || c.Kept != 1 {
		t.Fatalf("by age: %+v %v", c, err)
	}
	release()
	c, _ = r.ar.Clean(ctx, lim)
	if c.ByAge != 1 {
		t.Fatalf("by age after the pin: %+v", c)
	}
	// Another camera generation's limits never touch this one.
	other := domain.CameraRef{Camera: cam.Camera, Generation: cam.Generation + 1}
	c, _ = r.ar.Clean(ctx, record.Limits{Cameras: map[domain.CameraRef]domain.RecordingSettings{other: {RetainDays: 1, RetainBytes: 1}}})
	if c.ByAge+c.BySize != 0 {
		t.Fatalf("the next generation's settings deleted this one's recordings: %+v", c)
	}
	var total int64
	for _, s := range recent {
		total += s.Size
	}
	c, _ = r.ar.Clean(ctx, record.Limits{Homes: map[domain.ID]domain.HomeRecording{home: {RetainBytes: total - recent[0].Size - 1}}})
	if c.BySize != 2 {
		t.Fatalf("by home size: %+v", c)
	}
	left, _ := r.st.Segments(ctx, store.SegmentFilter{Camera: cam.Camera, Generation: cam.Generation})
	if len(left) != len(recent)-2 || left[0].ID != recent[2].ID {
		t.Fatalf("size retention did not take the oldest: %d left", len(left))
	}
	free := int64(0)
	c, _ = r.ar.Clean(ctx, record.Limits{FreeFloor: 1, Free: func() (int64, error) { free++; return free - 1, nil }})
	if c.ByFloor != 1 {
		t.Fatalf("by floor: %+v", c)
	}
	n, err := r.ar.Shred(ctx, cam)
	if err != nil || n != len(recent)-3 {
		t.Fatalf("shred: %d %v", n, err)
	}
	if _, err := r.ar.ReadAll(ctx, owner(t, left[1].Camera), left[1]); !errors.Is(err, record.ErrGone) {
		t.Fatalf("read after the shred: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(r.dir, "rec", string(cam.Camera), "3"))
	if len(entries) != 0 {
		t.Fatalf("%d files left after the shred", len(entries))
	}
}

// TestExport: an export is one progressive MP4 whose samples are every
// sample of the segments, gaps bridged, with the cameras' signatures in
// them; ffprobe agrees when it is installed.
func TestExport(t *testing.T) {
	r := newRig(t)
	start := time.Now().Add(-time.Hour)
	segs := r.write(t, start, 16*time.Second)
	segs = append(segs, r.write(t, start.Add(20*time.Second), 8*time.Second)...)
	var buf bytes.Buffer
	var last [2]int
	if err := r.ar.Export(ctx, owner(t, cam), segs, &buf, func(done, total int) { last = [2]int{done, total} }); err != nil {
		t.Fatal(err)
	}
	if last[0] != last[1] {
		t.Fatalf("progress ended at %d/%d", last[0], last[1])
	}
	var p pmp4.Presentation
	if err := p.Unmarshal(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	var dur uint64
	for _, s := range p.Tracks[0].Samples {
		dur += uint64(s.Duration)
	}
	if got := time.Duration(dur) * time.Second / record.TimeScale; got < 27*time.Second || got > 29*time.Second {
		t.Fatalf("export lasts %s, want 28 s (24 s of video and a 4 s gap)", got)
	}
	if n := len(p.Tracks[0].Samples); n != 24*15 {
		t.Fatalf("export has %d samples, want %d", n, 24*15)
	}
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Log("ffprobe not installed: skipping the ffprobe check")
		return
	}
	f := filepath.Join(t.TempDir(), "export.mp4")
	os.WriteFile(f, buf.Bytes(), 0o600)
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", f).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "h264,360" {
		t.Fatalf("ffprobe: %q %v", out, err)
	}
}

// TestAnnexBFromMP4: exports and stored segments turn back into the
// camera's Annex-B stream, byte for byte the pictures recorded.
func TestAnnexBFromMP4(t *testing.T) {
	r := newRig(t)
	segs := r.write(t, time.Now().Add(-time.Hour), 8*time.Second)
	_, aus := recordtest.Units(8 * time.Second)
	var want bytes.Buffer
	for _, au := range aus {
		for _, n := range au.NALUs {
			want.Write([]byte{0, 0, 0, 1})
			want.Write(n)
		}
	}
	var exp bytes.Buffer
	if err := r.ar.Export(ctx, owner(t, cam), segs, &exp, nil); err != nil {
		t.Fatal(err)
	}
	var whole []byte
	for _, s := range segs {
		b, _ := r.ar.ReadAll(ctx, owner(t, s.Camera), s)
		_, stream, err := record.AnnexB(b)
		if err != nil {
			t.Fatalf("segment: %v", err)
		}
		whole = append(whole, stream...)
	}
	if !bytes.Equal(whole, want.Bytes()) {
		t.Fatal("segments do not give back the recorded pictures")
	}
	codec, stream, err := record.AnnexB(exp.Bytes())
	if err != nil || codec != "h264" || !bytes.Equal(stream, want.Bytes()) {
		t.Fatalf("export: %s %v", codec, err)
	}
	if _, _, err := record.AnnexB([]byte("not an mp4 at all")); err == nil {
		t.Fatal("garbage parsed as MP4")
	}
}

func FuzzAnnexB(f *testing.F) {
	start := time.Now()
	p := recordtest.Segments(start, time.Second, time.Second)[0]
	f.Add(p.Data)
	f.Add([]byte("\x00\x00\x00\x08ftyp"))
	f.Fuzz(func(t *testing.T, b []byte) {
		record.AnnexB(b) // must not panic
	})
}

// TestForget: after a deletion, a segment the server had begun before it
// and that overlaps what was deleted is not stored (nor its still, nor
// its bytes); one begun after it, or outside the deleted times, is.
func TestForget(t *testing.T) {
	r := newRig(t)
	start := time.Now().Add(-time.Minute)
	plains := recordtest.Segments(start, 12*time.Second, record.DefaultSegment)
	if len(plains) != 3 {
		t.Fatalf("%d segments, want 3", len(plains))
	}
	begun := time.Now().Add(-time.Second) // before the deletions below
	r.ar.Forget(cam, plains[1].Start, plains[1].End)
	for i, p := range plains {
		p.Began = begun
		_, err := r.ar.Write(ctx, cam, home, p)
		if deleted := i == 1; errors.Is(err, record.ErrDeleted) != deleted || (!deleted && err != nil) {
			t.Fatalf("segment %d after deleting segment 1's times: %v", i, err)
		}
	}
	if err := r.ar.WriteSegmentThumbnail(ctx, cam, plains[1], []byte("jpeg")); !errors.Is(err, record.ErrDeleted) {
		t.Fatalf("a deleted segment's still: %v", err)
	}
	r.ar.Forget(cam, time.Time{}, time.Time{}) // everything
	if _, err := r.ar.Write(ctx, cam, home, plains[2]); !errors.Is(err, record.ErrDeleted) {
		t.Fatalf("a segment begun before deleting everything: %v", err)
	}
	plains[2].Began = time.Now().Add(time.Second) // begun after it
	if _, err := r.ar.Write(ctx, cam, home, plains[2]); err != nil {
		t.Fatalf("a segment begun after the deletion: %v", err)
	}
	other := domain.CameraRef{Camera: cam.Camera, Generation: cam.Generation + 1}
	plains[0].Began = begun
	if _, err := r.ar.Write(ctx, other, home, plains[0]); err != nil {
		t.Fatalf("another generation: %v", err)
	}
	idx, _ := r.st.Segments(ctx, store.SegmentFilter{Camera: cam.Camera, Generation: store.AnyGeneration})
	c, err := r.ar.Reconcile(ctx, record.Check)
	if err != nil || !c.OK() || c.Blobs != len(idx) || len(idx) != 4 {
		t.Fatalf("index %d segments, blobs %+v %v: a refused segment left its bytes or one is missing", len(idx), c, err)
	}
}
