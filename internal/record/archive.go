package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/blob"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/record/keys"
	"github.com/camvault/camvault/internal/record/sealed"
	"github.com/camvault/camvault/internal/store"
)

// Index is the part of the store the archive keeps its index in.
type Index interface {
	CreateSegment(ctx context.Context, seg domain.Segment) error
	MarkSegmentStored(ctx context.Context, id domain.ID) error
	Segment(ctx context.Context, id domain.ID) (domain.Segment, error)
	Segments(ctx context.Context, f store.SegmentFilter) ([]domain.Segment, error)
	DeleteSegment(ctx context.Context, id domain.ID) error
	SegmentUsage(ctx context.Context) ([]store.SegmentUsage, error)
}

// Prefix is where segments live in blob storage.
const Prefix = "rec/"

// ErrCorrupt: a stored segment failed authentication (tampered, cut, or
// sealed with another key).
var ErrCorrupt = errors.New("record: stored segment is corrupt or tampered with")

// ErrGone: the segment's key was shredded or its bytes are missing.
var ErrGone = errors.New("record: segment is gone")

// ErrDeleted: the segment (or still) was being recorded when its
// recordings were deleted, so it is not stored.
var ErrDeleted = errors.New("record: recording was deleted")

// ErrNotAllowed: the grant a read came with does not allow it — another
// camera or generation, an action it does not carry, expired, or a time
// before its history limit.
var ErrNotAllowed = errors.New("record: the grant does not allow this read")

// Archive stores, reads and deletes sealed segments and keeps the index
// in step. Every read of video or stills takes the authz.Grant the
// policy gave the reader and checks it; writing and deleting (the
// recorder, retention, shredding) need none. It is safe for concurrent
// use.
type Archive struct {
	blobs blob.Store
	idx   Index
	ring  *keys.Keyring
	log   *slog.Logger
	now   func() time.Time
	// node names this process in the index while it stores a segment.
	node string
	// plaintext skips sealing; benchmarks only, to measure what sealing
	// costs.
	plaintext bool

	mu   sync.Mutex
	pins map[domain.ID]int // segments being exported or played

	// commit orders indexing (and storing stills) against deletions:
	// once Forget returns, nothing it covers reaches the index.
	commit  sync.Mutex
	deleted map[domain.CameraRef][]deletion // guarded by commit
}

// deletion is one delete of a camera generation's recordings.
type deletion struct {
	at       time.Time // when, on the server's clock
	from, to time.Time // the recording times deleted; zero is unbounded
}

// covers reports whether a segment of [start, end) that the server began
// receiving at began is one that the deletion deleted: it existed then
// (if only in memory) and overlaps the deleted times.
func (d deletion) covers(began, start, end time.Time) bool {
	return began.Before(d.at) && (d.to.IsZero() || start.Before(d.to)) && (d.from.IsZero() || end.After(d.from))
}

// LocalNode is the node name of a single-node installation.
const LocalNode = "local"

// UploadGrace is how long a segment may stay "uploading" before any node
// counts its upload as abandoned. A segment is a few MB: minutes are
// far beyond a slow upload.
const UploadGrace = 10 * time.Minute

// Option configures an Archive.
type Option func(*Archive)

// WithNode names the node this archive stores segments for (LocalNode by
// default). Every node of a cluster needs its own name: at start, a node
// removes the segments its earlier run left half stored.
func WithNode(name string) Option { return func(a *Archive) { a.node = name } }

// NewArchive returns an archive over blobs, with its index in idx and
// keys from ring.
func NewArchive(blobs blob.Store, idx Index, ring *keys.Keyring, log *slog.Logger, opts ...Option) *Archive {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Archive{blobs: blobs, idx: idx, ring: ring, log: log, now: time.Now, node: LocalNode, pins: map[domain.ID]int{}, deleted: map[domain.CameraRef][]deletion{}}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Forget records that camera's recordings overlapping [since, until) —
// all of them when both are zero — are deleted now. From its return on,
// a segment the recorder had begun before now (the one in progress, or
// held as pre-roll) that overlaps them is not stored: Write answers
// ErrDeleted, and no still of it is kept. Call it before listing the
// segments to delete, so that none slips in between.
func (a *Archive) Forget(camera domain.CameraRef, since, until time.Time) {
	// On the index's precision, as segments are compared.
	d := deletion{at: a.now(), from: since.UTC().Truncate(time.Microsecond), to: until.UTC().Truncate(time.Microsecond)}
	a.commit.Lock()
	defer a.commit.Unlock()
	if since.IsZero() && until.IsZero() {
		a.deleted[camera] = []deletion{d} // covers every earlier one
		return
	}
	a.deleted[camera] = append(a.deleted[camera], d)
}

// deletedLocked reports whether a deletion covers a segment of camera;
// a.commit must be held. A zero began counts as now.
func (a *Archive) deletedLocked(camera domain.CameraRef, began, start, end time.Time) bool {
	if began.IsZero() {
		began = a.now()
	}
	for _, d := range a.deleted[camera] {
		if d.covers(began, start, end) {
			return true
		}
	}
	return false
}

// blobKey names a segment's blob: by camera, generation and start, so a
// listing reads in time order.
func blobKey(seg domain.Segment) string {
	return Prefix + string(seg.Camera.Camera) + "/" + strconv.FormatInt(seg.Camera.Generation, 10) + "/" +
		fmt.Sprintf("%016d", seg.Start.UnixMicro()) + "-" + string(seg.ID) + ".cvs"
}

// Write seals p with the camera generation's current data key, stores it
// and indexes it. The segment is in the index only once its bytes are
// safely stored; a failure leaves neither. A segment that a deletion
// covers (see Forget) is not stored: ErrDeleted.
func (a *Archive) Write(ctx context.Context, camera domain.CameraRef, home domain.ID, p *Plain) (domain.Segment, error) {
	seg := domain.Segment{ID: domain.NewID(), Camera: camera, HomeID: home, Start: p.Start.UTC().Truncate(time.Microsecond),
		End: p.End.UTC().Truncate(time.Microsecond), Size: int64(len(p.Data)), InitSize: int64(p.InitSize), CreatedAt: a.now().UTC()}
	seg.BlobKey = blobKey(seg)
	var body io.Reader
	if a.plaintext {
		seg.KeyID = "plaintext"
		body = bytes.NewReader(p.Data)
	} else {
		id, key, err := a.ring.Current(ctx, camera)
		if err != nil {
			return seg, fmt.Errorf("record: data key: %w", err)
		}
		seg.KeyID = id
		// A segment is a few MB at most: seal it in memory, in one go.
		buf := bytes.NewBuffer(make([]byte, 0, sealed.SealedSize(int64(len(p.Data)), sealed.DefaultChunkSize)))
		w, err := sealed.NewWriter(buf, key, string(id), sealed.DefaultChunkSize)
		if err == nil {
			if _, err = w.Write(p.Data); err == nil {
				err = w.Close()
			}
		}
		if err != nil {
			return seg, fmt.Errorf("record: seal segment: %w", err)
		}
		body = buf
	}
	// Index first, marked as uploading by this node, then store, then
	// mark stored: a crash anywhere leaves a row that says what it is,
	// and no node mistakes another's upload for a lost file.
	wctx := context.WithoutCancel(ctx)
	seg.UploadingBy = a.node
	a.commit.Lock()
	if a.deletedLocked(camera, p.Began, seg.Start, seg.End) {
		a.commit.Unlock()
		return seg, ErrDeleted
	}
	err := a.idx.CreateSegment(wctx, seg)
	a.commit.Unlock()
	if err != nil {
		return seg, fmt.Errorf("record: index segment: %w", err)
	}
	if _, err := a.blobs.Put(ctx, seg.BlobKey, body); err != nil {
		a.abandon(wctx, seg)
		return seg, fmt.Errorf("record: store segment: %w", err)
	}
	a.commit.Lock()
	defer a.commit.Unlock()
	if a.deletedLocked(camera, p.Began, seg.Start, seg.End) {
		a.abandon(wctx, seg)
		return seg, ErrDeleted
	}
	if err := a.idx.MarkSegmentStored(wctx, seg.ID); err != nil {
		a.abandon(wctx, seg)
		if errors.Is(err, store.ErrNotFound) {
			return seg, ErrDeleted // a delete took the row meanwhile
		}
		return seg, fmt.Errorf("record: index segment: %w", err)
	}
	seg.UploadingBy = ""
	return seg, nil
}

// abandon removes a segment that was not stored whole: its row, then
// whatever of its bytes arrived.
func (a *Archive) abandon(ctx context.Context, seg domain.Segment) {
	if err := a.Delete(ctx, seg); err != nil {
		a.log.Warn("record: an unfinished segment was not removed; recovery will", "segment", seg.ID, "err", err)
	}
}

// Reader reads a segment's plaintext by range.
type Reader struct {
	obj blob.Object
	r   io.ReaderAt
	n   int64
}

// ReadAt implements io.ReaderAt; a tampered range reads as ErrCorrupt.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.r.ReadAt(p, off)
	if errors.Is(err, sealed.ErrCorrupt) {
		err = ErrCorrupt
	}
	return n, err
}

// Size is the plaintext size.
func (r *Reader) Size() int64 { return r.n }

// Close releases the stored object.
func (r *Reader) Close() error { return r.obj.Close() }

// Bytes reads [off, off+n) whole.
func (r *Reader) Bytes(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > r.n {
		return nil, io.ErrUnexpectedEOF
	}
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && off+n == r.n) {
		return nil, err
	}
	return b, nil
}

// allow checks that g lets its holder do act on camera's recordings now,
// from the recording time from on.
func (a *Archive) allow(g authz.Grant, act domain.Action, camera domain.CameraRef, from time.Time) error {
	if !g.Allows(act, camera, a.now()) {
		return ErrNotAllowed
	}
	if h := g.HistoryFrom(); !h.IsZero() && from.Before(h) {
		return ErrNotAllowed
	}
	return nil
}

// Open opens a segment for ranged reads, for playback under g.
func (a *Archive) Open(ctx context.Context, g authz.Grant, seg domain.Segment) (*Reader, error) {
	if err := a.allow(g, domain.ActionPlayback, seg.Camera, seg.Start); err != nil {
		return nil, err
	}
	return a.open(ctx, seg)
}

// open opens a segment (or export) whose read is already allowed.
func (a *Archive) open(ctx context.Context, seg domain.Segment) (*Reader, error) {
	obj, err := a.blobs.Open(ctx, seg.BlobKey)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, ErrGone
	}
	if err != nil {
		return nil, err
	}
	if seg.KeyID == "plaintext" && a.plaintext {
		return &Reader{obj: obj, r: obj, n: obj.Size()}, nil
	}
	key, err := a.ring.Key(ctx, seg.Camera, seg.KeyID)
	if errors.Is(err, keys.ErrDestroyed) || errors.Is(err, keys.ErrNotFound) {
		obj.Close()
		return nil, ErrGone
	}
	if err != nil {
		obj.Close()
		return nil, err
	}
	sr, err := sealed.NewReader(obj, obj.Size(), key)
	if err != nil {
		obj.Close()
		if errors.Is(err, sealed.ErrCorrupt) {
			return nil, ErrCorrupt
		}
		return nil, err
	}
	if sr.Size() != seg.Size {
		obj.Close()
		return nil, ErrCorrupt
	}
	return &Reader{obj: obj, r: sr, n: sr.Size()}, nil
}

// ReadAll reads a whole segment, for playback under g.
func (a *Archive) ReadAll(ctx context.Context, g authz.Grant, seg domain.Segment) ([]byte, error) {
	if err := a.allow(g, domain.ActionPlayback, seg.Camera, seg.Start); err != nil {
		return nil, err
	}
	return a.readAll(ctx, seg)
}

func (a *Archive) readAll(ctx context.Context, seg domain.Segment) ([]byte, error) {
	r, err := a.open(ctx, seg)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Bytes(0, r.Size())
}

// Pin keeps segments from retention while they are exported or played;
// call the returned function to release them.
func (a *Archive) Pin(segs []domain.Segment) (release func()) {
	a.mu.Lock()
	for _, s := range segs {
		a.pins[s.ID]++
	}
	a.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			for _, s := range segs {
				if a.pins[s.ID]--; a.pins[s.ID] <= 0 {
					delete(a.pins, s.ID)
				}
			}
		})
	}
}

func (a *Archive) pinned(id domain.ID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pins[id] > 0
}

// Delete removes a segment: first from the index, so nobody finds it
// any more, then its bytes. A crash between the two leaves an orphan
// blob that Reconcile removes.
func (a *Archive) Delete(ctx context.Context, seg domain.Segment) error {
	if err := a.idx.DeleteSegment(ctx, seg.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := a.blobs.Delete(ctx, seg.BlobKey); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return err
	}
	return nil
}

// Shred destroys a camera generation's data keys — from then on nothing
// the server keeps decrypts its recordings — and then deletes its
// segments. It returns how many segments it deleted.
func (a *Archive) Shred(ctx context.Context, camera domain.CameraRef) (int, error) {
	if _, err := a.ring.Shred(ctx, camera); err != nil {
		return 0, fmt.Errorf("record: shred keys: %w", err)
	}
	segs, err := a.idx.Segments(ctx, store.SegmentFilter{Camera: camera.Camera, Generation: camera.Generation})
	if err != nil {
		return 0, err
	}
	for i, s := range segs {
		if err := a.Delete(ctx, s); err != nil {
			return i, err
		}
	}
	// Blobs of the generation that the index lost track of.
	infos, err := a.blobs.List(ctx, Prefix+string(camera.Camera)+"/"+strconv.FormatInt(camera.Generation, 10)+"/")
	if err != nil {
		return len(segs), err
	}
	for _, in := range infos {
		a.blobs.Delete(ctx, in.Key)
	}
	if _, err := a.DeleteThumbnails(ctx, camera, time.Time{}, time.Time{}); err != nil {
		return len(segs), err
	}
	return len(segs), nil
}

// Consistency is what Reconcile found and did.
type Consistency struct {
	Segments int `json:"segments"`
	Blobs    int `json:"blobs"`
	// OrphanBlobs are stored segments the index did not know (a crash
	// between storing and indexing, or while deleting): removed.
	OrphanBlobs int `json:"orphan_blobs"`
	// AbandonedUploads are segments whose upload never finished (this
	// node's, from before it started, or any node's older than
	// UploadGrace): removed.
	AbandonedUploads int `json:"abandoned_uploads"`
	// MissingBlobs are stored segments whose bytes were not found;
	// Damaged, those whose stored size did not match the index. Only a
	// repair removes them.
	MissingBlobs int `json:"missing_blobs"`
	Damaged      int `json:"damaged"`
}

// OK reports whether index and blobs agreed.
func (c Consistency) OK() bool {
	return c.OrphanBlobs == 0 && c.AbandonedUploads == 0 && c.MissingBlobs == 0 && c.Damaged == 0
}

// ReconcileMode says what Reconcile may change.
type ReconcileMode int

// Reconcile modes.
const (
	// Check only reports.
	Check ReconcileMode = iota
	// Recover is for a node's start, before it records: it removes
	// orphan blobs and abandoned uploads, counting this node's own
	// unfinished uploads as abandoned. It never removes a stored
	// segment's row: bytes that are not found may be on storage that
	// did not answer in full, and dropping the row would lose them for
	// good.
	Recover
	// Repair also removes the rows of stored segments whose bytes are
	// missing or damaged; an operator asks for it.
	Repair
)

// Reconcile makes the index and the blobs agree as far as mode allows.
// Other nodes may be storing segments meanwhile: it lists the blobs
// before the index, so a segment indexed (as uploading) before its bytes
// are stored is never taken for an orphan.
func (a *Archive) Reconcile(ctx context.Context, mode ReconcileMode) (Consistency, error) {
	var c Consistency
	infos, err := a.blobs.List(ctx, Prefix)
	if err != nil {
		return c, err
	}
	segs, err := a.idx.Segments(ctx, store.SegmentFilter{Generation: store.AnyGeneration, Upload: store.AnyUpload})
	if err != nil {
		return c, err
	}
	c.Blobs = len(infos)
	stored := make(map[string]int64, len(infos))
	for _, in := range infos {
		stored[in.Key] = in.Size
	}
	indexed := make(map[string]bool, len(segs))
	for _, s := range segs {
		indexed[s.BlobKey] = true
		if s.UploadingBy != "" {
			if !a.abandoned(s, mode == Recover) {
				continue
			}
			c.AbandonedUploads++
			if mode != Check {
				if err := a.Delete(ctx, s); err != nil {
					return c, err
				}
			}
			continue
		}
		c.Segments++
		size, ok := stored[s.BlobKey]
		bad := false
		switch {
		case !ok:
			c.MissingBlobs++
			bad = true
		case size != a.storedSize(s):
			c.Damaged++
			bad = true
		}
		if bad && mode == Repair {
			if err := a.Delete(ctx, s); err != nil {
				return c, err
			}
		}
	}
	for _, in := range infos {
		if indexed[in.Key] {
			continue
		}
		c.OrphanBlobs++
		if mode != Check {
			if err := a.blobs.Delete(ctx, in.Key); err != nil && !errors.Is(err, blob.ErrNotFound) {
				return c, err
			}
		}
	}
	return c, nil
}

// abandoned reports whether an uploading segment's upload is over
// without having finished: anyone's older than UploadGrace, and at the
// node's start (mine) this node's own.
func (a *Archive) abandoned(s domain.Segment, mine bool) bool {
	return mine && s.UploadingBy == a.node || a.now().Sub(s.CreatedAt) > UploadGrace
}

// ClearAbandonedUploads removes segments whose upload any node began
// more than UploadGrace ago and never finished: the uploads of nodes
// that died. One node at a time runs it.
func (a *Archive) ClearAbandonedUploads(ctx context.Context) (int, error) {
	segs, err := a.idx.Segments(ctx, store.SegmentFilter{Generation: store.AnyGeneration, Upload: store.UploadingOnly})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range segs {
		if !a.abandoned(s, false) {
			continue
		}
		if err := a.Delete(ctx, s); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// storedSize is a segment's size once sealed.
func (a *Archive) storedSize(s domain.Segment) int64 {
	if s.KeyID == "plaintext" {
		return s.Size
	}
	return sealed.SealedSize(s.Size, sealed.DefaultChunkSize)
}

// ExportPrefix is where finished exports live in blob storage, sealed
// like segments.
const ExportPrefix = "exp/"

func exportKey(id domain.ID) string { return ExportPrefix + string(id) + ".cvs" }

// WriteExport seals what build writes with the camera generation's
// current data key and stores it as export id; it returns the plaintext
// size. The plaintext never reaches the disk.
func (a *Archive) WriteExport(ctx context.Context, id domain.ID, camera domain.CameraRef, build func(io.Writer) error) (int64, domain.ID, error) {
	keyID, key, err := a.ring.Current(ctx, camera)
	if err != nil {
		return 0, "", fmt.Errorf("record: data key: %w", err)
	}
	pr, pw := io.Pipe()
	var n int64
	go func() {
		w, err := sealed.NewWriter(pw, key, string(keyID), sealed.DefaultChunkSize)
		if err == nil {
			cw := &countWriter{w: w}
			if err = build(cw); err == nil {
				err = w.Close()
			}
			n = cw.n
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	if _, err := a.blobs.Put(ctx, exportKey(id), pr); err != nil {
		return 0, "", err
	}
	return n, keyID, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// OpenExport opens export id of camera, sealed with the camera
// generation's key keyID, for a download under g. What it holds was
// checked against the history limit when it was built (Export).
func (a *Archive) OpenExport(ctx context.Context, g authz.Grant, id domain.ID, camera domain.CameraRef, keyID domain.ID, size int64) (*Reader, error) {
	if !g.Allows(domain.ActionExport, camera, a.now()) {
		return nil, ErrNotAllowed
	}
	return a.open(ctx, domain.Segment{ID: id, Camera: camera, KeyID: keyID, BlobKey: exportKey(id), Size: size})
}

// DeleteExport removes export id.
func (a *Archive) DeleteExport(ctx context.Context, id domain.ID) error {
	err := a.blobs.Delete(ctx, exportKey(id))
	if errors.Is(err, blob.ErrNotFound) {
		return nil
	}
	return err
}

// DeleteExports removes every stored export not in keep.
func (a *Archive) DeleteExports(ctx context.Context, keep func(domain.ID) bool) (int, error) {
	infos, err := a.blobs.List(ctx, ExportPrefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, in := range infos {
		id := domain.ID(strings.TrimSuffix(strings.TrimPrefix(in.Key, ExportPrefix), ".cvs"))
		if keep != nil && keep(id) {
			continue
		}
		if err := a.blobs.Delete(ctx, in.Key); err == nil {
			n++
		}
	}
	return n, nil
}
