package record

import (
	"context"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// Limits are what retention enforces.
type Limits struct {
	// Cameras are the settings of each camera, for its current
	// generation only: a camera's new owners never decide how long its
	// previous owners' recordings stay.
	Cameras map[domain.CameraRef]domain.RecordingSettings
	// Homes are each home's limits over all its recordings.
	Homes map[domain.ID]domain.HomeRecording
	// MaxDays, when positive, bounds every recording's age.
	MaxDays int
	// FreeFloor is how many bytes must stay free on the storage; Free
	// tells how many are. Both zero or nil mean no floor.
	FreeFloor int64
	Free      func() (int64, error)
}

// Cleaned is what a retention pass deleted.
type Cleaned struct {
	ByAge, BySize, ByFloor int
	Bytes                  int64
	// Kept are segments retention wanted to delete but could not
	// because they are being exported or played.
	Kept int
}

// Clean applies retention: recordings past their age, then the oldest
// of every camera and home over its size, then the oldest anywhere while
// the storage is below its free-space floor. Segments being written are
// not in the index yet, and pinned ones (exports, playback) are kept.
func (a *Archive) Clean(ctx context.Context, lim Limits) (Cleaned, error) {
	var c Cleaned
	usage, err := a.idx.SegmentUsage(ctx)
	if err != nil {
		return c, err
	}
	now := a.now()
	del := func(s domain.Segment, counter *int) error {
		if a.pinned(s.ID) {
			c.Kept++
			return nil
		}
		if err := a.Delete(ctx, s); err != nil {
			return err
		}
		*counter++
		c.Bytes += s.Size
		return nil
	}
	// By age.
	for _, u := range usage {
		days := lim.MaxDays
		if cs, ok := lim.Cameras[u.Camera]; ok && cs.RetainDays > 0 && (days == 0 || cs.RetainDays < days) {
			days = cs.RetainDays
		}
		if h, ok := lim.Homes[u.HomeID]; ok && h.RetainDays > 0 && (days == 0 || h.RetainDays < days) {
			days = h.RetainDays
		}
		if days <= 0 || u.Oldest.After(now.Add(-time.Duration(days)*24*time.Hour)) {
			continue
		}
		old, err := a.idx.Segments(ctx, store.SegmentFilter{Camera: u.Camera.Camera, Generation: u.Camera.Generation,
			EndBefore: now.Add(-time.Duration(days) * 24 * time.Hour)})
		if err != nil {
			return c, err
		}
		for _, s := range old {
			if err := del(s, &c.ByAge); err != nil {
				return c, err
			}
		}
	}
	// By size, per camera generation and per home.
	usage, err = a.idx.SegmentUsage(ctx)
	if err != nil {
		return c, err
	}
	homeBytes := map[domain.ID]int64{}
	for _, u := range usage {
		homeBytes[u.HomeID] += u.Bytes
		cs, ok := lim.Cameras[u.Camera]
		if !ok || cs.RetainBytes <= 0 || u.Bytes <= cs.RetainBytes {
			continue
		}
		over := u.Bytes - cs.RetainBytes
		n, err := a.trim(ctx, store.SegmentFilter{Camera: u.Camera.Camera, Generation: u.Camera.Generation}, over, del, &c.BySize)
		if err != nil {
			return c, err
		}
		homeBytes[u.HomeID] -= n
	}
	for home, total := range homeBytes {
		h, ok := lim.Homes[home]
		if !ok || h.RetainBytes <= 0 || total <= h.RetainBytes {
			continue
		}
		if _, err := a.trim(ctx, store.SegmentFilter{HomeID: home}, total-h.RetainBytes, del, &c.BySize); err != nil {
			return c, err
		}
	}
	// The storage's free-space floor.
	if lim.FreeFloor > 0 && lim.Free != nil {
		for {
			free, err := lim.Free()
			if err != nil {
				return c, err
			}
			if free >= lim.FreeFloor {
				break
			}
			n, err := a.trim(ctx, store.SegmentFilter{Generation: store.AnyGeneration}, lim.FreeFloor-free, del, &c.ByFloor)
			if err != nil {
				return c, err
			}
			if n == 0 {
				break // nothing left that may go
			}
		}
	}
	// Thumbnails go with the oldest video they illustrate.
	if usage, err = a.idx.SegmentUsage(ctx); err != nil {
		return c, err
	}
	for _, u := range usage {
		if _, err := a.DeleteThumbnails(ctx, u.Camera, time.Time{}, u.Oldest); err != nil {
			return c, err
		}
	}
	return c, nil
}

// trim deletes the oldest segments f selects until at least over bytes
// went, and returns how many bytes did.
func (a *Archive) trim(ctx context.Context, f store.SegmentFilter, over int64, del func(domain.Segment, *int) error, counter *int) (int64, error) {
	var freed int64
	f.Limit = 200
	for freed < over {
		segs, err := a.idx.Segments(ctx, f)
		if err != nil {
			return freed, err
		}
		progress := false
		for _, s := range segs {
			if freed >= over {
				break
			}
			before := *counter
			if err := del(s, counter); err != nil {
				return freed, err
			}
			if *counter > before {
				freed += s.Size
				progress = true
			}
		}
		if !progress || len(segs) < f.Limit {
			break
		}
	}
	return freed, nil
}
