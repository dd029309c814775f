package service

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

// Snapshot limits.
const (
	// SnapshotFresh is how long a snapshot is served from the cache.
	SnapshotFresh = 5 * time.Second
	// MaxSnapshotBytes bounds one snapshot.
	MaxSnapshotBytes = 1 << 20
	snapshotWait     = 5 * time.Second
)

// SnapshotRequester asks a connected device for a snapshot; false if it
// is not connected.
type SnapshotRequester interface {
	RequestSnapshot(camera domain.ID) bool
}

// snapshots caches the newest picture per camera generation.
type snapshots struct {
	mu      sync.Mutex // guards the maps
	latest  map[domain.CameraRef]snapshot
	waiters map[domain.CameraRef][]chan struct{}
}

type snapshot struct {
	jpeg []byte
	at   time.Time
}

// Snapshot returns the camera's newest JPEG, asking its device for a fresh
// one when the cached picture is older than SnapshotFresh. It is an
// audited camera decision ("snapshot"). The cache is keyed by the camera's
// generation, so a picture from an earlier owner is never served.
func (s *Service) Snapshot(ctx context.Context, c Caller, camera domain.ID) ([]byte, time.Time, error) {
	acc, err := s.authorizeCamera(ctx, c, camera, domain.ActionSnapshot, "snapshot")
	if err != nil {
		return nil, time.Time{}, err
	}
	ref := acc.camera.Ref()
	if snap, ok := s.cachedSnapshot(ref, SnapshotFresh); ok {
		return snap.jpeg, snap.at, nil
	}
	req, ok := s.presence().(SnapshotRequester)
	wait := s.snapshotWaiter(ref)
	defer s.dropWaiter(ref, wait)
	if !ok || !req.RequestSnapshot(camera) {
		if snap, ok := s.cachedSnapshot(ref, time.Hour); ok {
			return snap.jpeg, snap.at, nil
		}
		return nil, time.Time{}, &Error{Kind: KindUnavailable, Code: "camera_offline", Message: "the camera is offline and no recent snapshot exists"}
	}
	select {
	case <-wait:
	case <-ctx.Done():
		return nil, time.Time{}, ctx.Err()
	case <-time.After(snapshotWait):
	}
	if snap, ok := s.cachedSnapshot(ref, time.Hour); ok {
		return snap.jpeg, snap.at, nil
	}
	return nil, time.Time{}, &Error{Kind: KindUnavailable, Code: "no_snapshot", Message: "the camera did not send a snapshot (its source cannot make one without ffmpeg)"}
}

func (s *Service) cachedSnapshot(ref domain.CameraRef, fresh time.Duration) (snapshot, bool) {
	s.snaps.mu.Lock()
	defer s.snaps.mu.Unlock()
	snap, ok := s.snaps.latest[ref]
	return snap, ok && s.now().Sub(snap.at) < fresh
}

func (s *Service) snapshotWaiter(ref domain.CameraRef) <-chan struct{} {
	s.snaps.mu.Lock()
	defer s.snaps.mu.Unlock()
	if s.snaps.waiters == nil {
		s.snaps.waiters = map[domain.CameraRef][]chan struct{}{}
	}
	ch := make(chan struct{})
	s.snaps.waiters[ref] = append(s.snaps.waiters[ref], ch)
	return ch
}

// dropWaiter forgets a waiter that stopped waiting.
func (s *Service) dropWaiter(ref domain.CameraRef, wait <-chan struct{}) {
	s.snaps.mu.Lock()
	defer s.snaps.mu.Unlock()
	ws := s.snaps.waiters[ref]
	for i, ch := range ws {
		if ch == wait {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(s.snaps.waiters, ref)
	} else {
		s.snaps.waiters[ref] = ws
	}
}

// jpegMagic starts every JPEG.
var jpegMagic = []byte{0xff, 0xd8, 0xff}

// DeviceSnapshot stores a snapshot a device uploaded over its
// authenticated connection, for its camera's current generation.
func (s *Service) DeviceSnapshot(ctx context.Context, cam domain.Camera, jpeg []byte) error {
	if len(jpeg) > MaxSnapshotBytes || !bytes.HasPrefix(jpeg, jpegMagic) {
		return invalid("a snapshot must be a JPEG of at most 1 MiB")
	}
	ref := cam.Ref()
	s.snaps.mu.Lock()
	defer s.snaps.mu.Unlock()
	if s.snaps.latest == nil {
		s.snaps.latest = map[domain.CameraRef]snapshot{}
	}
	// Pictures of earlier generations go: they belong to former owners.
	for r := range s.snaps.latest {
		if r.Camera == ref.Camera && r.Generation < ref.Generation {
			delete(s.snaps.latest, r)
		}
	}
	s.snaps.latest[ref] = snapshot{jpeg: bytes.Clone(jpeg), at: s.now()}
	for _, ch := range s.snaps.waiters[ref] {
		close(ch)
	}
	delete(s.snaps.waiters, ref)
	return nil
}
