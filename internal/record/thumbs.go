package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/blob"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/record/sealed"
)

// ThumbPrefix is where timeline thumbnails live, sealed like segments.
const ThumbPrefix = "thumb/"

// MaxThumbnail bounds a thumbnail's size.
const MaxThumbnail = 512 << 10

// Thumbnail is a still of a camera generation's recording at one instant.
type Thumbnail struct {
	Camera domain.CameraRef
	At     time.Time
	key    string
	keyID  domain.ID
	size   int64
}

// ID names the thumbnail in URLs: generation and time.
func (t Thumbnail) ID() string {
	return strconv.FormatInt(t.Camera.Generation, 10) + "-" + strconv.FormatInt(t.At.UnixMicro(), 10)
}

// ParseThumbnailID reads an ID made by Thumbnail.ID.
func ParseThumbnailID(camera domain.ID, id string) (Thumbnail, bool) {
	g, us, ok := strings.Cut(id, "-")
	gen, err1 := strconv.ParseInt(g, 10, 64)
	at, err2 := strconv.ParseInt(us, 10, 64)
	if !ok || err1 != nil || err2 != nil || gen < 0 || at < 0 {
		return Thumbnail{}, false
	}
	return Thumbnail{Camera: domain.CameraRef{Camera: camera, Generation: gen}, At: time.UnixMicro(at).UTC()}, true
}

func thumbDir(c domain.CameraRef) string {
	return ThumbPrefix + string(c.Camera) + "/" + strconv.FormatInt(c.Generation, 10) + "/"
}

func thumbKey(c domain.CameraRef, at time.Time) string {
	return thumbDir(c) + fmt.Sprintf("%016d", at.UnixMicro()) + ".cvs"
}

// WriteThumbnail seals and stores a JPEG still of the camera generation
// at at.
func (a *Archive) WriteThumbnail(ctx context.Context, camera domain.CameraRef, at time.Time, jpeg []byte) error {
	return a.writeThumbnail(ctx, camera, time.Time{}, at, jpeg)
}

// WriteSegmentThumbnail stores the timeline still of segment p, unless
// a deletion covered p meanwhile (ErrDeleted).
func (a *Archive) WriteSegmentThumbnail(ctx context.Context, camera domain.CameraRef, p *Plain, jpeg []byte) error {
	return a.writeThumbnail(ctx, camera, p.Began, p.Start, jpeg)
}

func (a *Archive) writeThumbnail(ctx context.Context, camera domain.CameraRef, began, at time.Time, jpeg []byte) error {
	if len(jpeg) > MaxThumbnail {
		return errors.New("record: thumbnail too large")
	}
	keyID, key, err := a.ring.Current(ctx, camera)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	w, err := sealed.NewWriter(&buf, key, string(keyID), sealed.DefaultChunkSize)
	if err != nil {
		return err
	}
	w.Write(jpeg)
	if err := w.Close(); err != nil {
		return err
	}
	// A still is small: store it under the commit lock, so that a
	// deletion's DeleteThumbnails cannot run between check and store.
	a.commit.Lock()
	defer a.commit.Unlock()
	if a.deletedLocked(camera, began, at, at.Add(time.Microsecond)) {
		return ErrDeleted
	}
	_, err = a.blobs.Put(ctx, thumbKey(camera, at.UTC().Truncate(time.Microsecond)), &buf)
	return err
}

// Thumbnails lists the camera generation's thumbnails in [since, until),
// for playback under g; since may not be before g's history limit.
func (a *Archive) Thumbnails(ctx context.Context, g authz.Grant, camera domain.CameraRef, since, until time.Time) ([]Thumbnail, error) {
	if err := a.allow(g, domain.ActionPlayback, camera, since); err != nil {
		return nil, err
	}
	return a.thumbnails(ctx, camera, since, until)
}

func (a *Archive) thumbnails(ctx context.Context, camera domain.CameraRef, since, until time.Time) ([]Thumbnail, error) {
	infos, err := a.blobs.List(ctx, thumbDir(camera))
	if err != nil {
		return nil, err
	}
	var out []Thumbnail
	for _, in := range infos {
		us, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(in.Key, thumbDir(camera)), ".cvs"), 10, 64)
		if err != nil {
			continue
		}
		at := time.UnixMicro(us).UTC()
		if (!since.IsZero() && at.Before(since)) || (!until.IsZero() && !at.Before(until)) {
			continue
		}
		out = append(out, Thumbnail{Camera: camera, At: at, key: in.Key, size: in.Size})
	}
	return out, nil
}

// ReadThumbnail returns a thumbnail's JPEG, for playback under g.
func (a *Archive) ReadThumbnail(ctx context.Context, g authz.Grant, t Thumbnail) ([]byte, error) {
	if err := a.allow(g, domain.ActionPlayback, t.Camera, t.At); err != nil {
		return nil, err
	}
	obj, err := a.blobs.Open(ctx, thumbKey(t.Camera, t.At))
	if errors.Is(err, blob.ErrNotFound) {
		return nil, ErrGone
	}
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	id, err := sealed.KeyID(obj)
	if err != nil {
		return nil, ErrCorrupt
	}
	key, err := a.ring.Key(ctx, t.Camera, domain.ID(id))
	if err != nil {
		return nil, ErrGone
	}
	r, err := sealed.NewReader(obj, obj.Size(), key)
	if err != nil {
		return nil, ErrCorrupt
	}
	b := make([]byte, r.Size())
	if _, err := r.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, ErrCorrupt
	}
	return b, nil
}

// DeleteThumbnails removes the camera generation's thumbnails in [since,
// until) (zero bounds are open) and returns how many.
func (a *Archive) DeleteThumbnails(ctx context.Context, camera domain.CameraRef, since, until time.Time) (int, error) {
	list, err := a.thumbnails(ctx, camera, since, until)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range list {
		if err := a.blobs.Delete(ctx, t.key); err == nil {
			n++
		}
	}
	return n, nil
}
