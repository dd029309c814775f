package service

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// Snapshot limits.
const (
	// SnapshotFresh is how long a snapshot is served from the cache.
	SnapshotFresh = 5 * time.Second
	// MaxSnapshotBytes bounds one snapshot.
	MaxSnapshotBytes = 1 << 20
	snapshotWait     = 5 * time.Second
	// snapshotFetchTimeout bounds fetching a pulled camera's snapshot
	// URL, and is when every failure of it answers.
	snapshotFetchTimeout = 5 * time.Second
)

// SnapshotRequester asks a connected device for a snapshot; false if it
// is not connected.
type SnapshotRequester interface {
	RequestSnapshot(camera domain.ID) bool
}

// SnapshotFetcher gets a picture from a camera whose device is connected
// to another node of the cluster; the device hub implements it. held is
// false when no other node holds the camera's device.
type SnapshotFetcher interface {
	FetchSnapshot(ctx context.Context, camera domain.ID) (jpeg []byte, held bool, err error)
}

// snapshots caches the newest picture per camera generation.
type snapshots struct {
	mu      sync.Mutex // guards the following
	latest  map[domain.CameraRef]snapshot
	waiters map[domain.CameraRef][]chan struct{}
	// making holds, per pulled camera, a channel closed when the picture
	// being made is done; slots bound how many are made at once.
	making map[domain.CameraRef]chan struct{}
	slots  chan struct{}
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
	if acc.camera.Pulled() {
		return s.pulledSnapshot(ctx, acc.camera, acc.grant)
	}
	if f, ok := s.presence().(SnapshotFetcher); ok {
		if jpeg, at, held := s.fetchSnapshot(ctx, f, acc.camera); held {
			if jpeg != nil {
				return jpeg, at, nil
			}
			if snap, ok := s.cachedSnapshot(ref, time.Hour); ok {
				return snap.jpeg, snap.at, nil
			}
			return nil, time.Time{}, &Error{Kind: KindUnavailable, Code: "no_snapshot", Message: "the camera did not send a snapshot (its source cannot make one without ffmpeg)"}
		}
	}
	return s.deviceSnapshot(ctx, ref)
}

// fetchSnapshot gets cam's picture from the node its device is connected
// to; held is false when no other node holds it, and jpeg nil when the
// node did not get one.
func (s *Service) fetchSnapshot(ctx context.Context, f SnapshotFetcher, cam domain.Camera) (jpeg []byte, at time.Time, held bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*snapshotWait)
	defer cancel()
	jpeg, held, err := f.FetchSnapshot(ctx, cam.ID)
	if !held {
		return nil, time.Time{}, false
	}
	if err != nil {
		s.log.Warn("snapshot from the camera's node", "camera", cam.ID, "err", err)
		return nil, time.Time{}, true
	}
	// Another node's word is checked as the device's own upload is.
	if len(jpeg) > MaxSnapshotBytes || !bytes.HasPrefix(jpeg, jpegMagic) {
		return nil, time.Time{}, true
	}
	if _, err := videosig.VerifySnapshot(jpeg, cam.DeviceKey, cam.ID, cam.Generation); err != nil {
		s.log.Error("provenance alarm: a node sent a snapshot not signed for its camera", "camera", cam.ID, "generation", cam.Generation, "err", err)
		return nil, time.Time{}, true
	}
	return jpeg, s.keepSnapshot(cam.Ref(), jpeg), true
}

// HeldSnapshot gets a fresh picture from a camera whose device is
// connected to this node, for another node of the cluster that asked
// (the device hub's command handler). That node authorized its caller;
// this one checks only that the camera has a home.
func (s *Service) HeldSnapshot(ctx context.Context, camera domain.ID) ([]byte, error) {
	cam, err := s.st.Camera(ctx, camera)
	if err != nil {
		return nil, internal("load camera", err)
	}
	if cam.HomeID == "" || !cam.DeviceBacked() {
		return nil, notFound()
	}
	jpeg, _, err := s.deviceSnapshot(ctx, cam.Ref())
	return jpeg, err
}

// deviceSnapshot asks the camera's device, connected to this node, for a
// picture and waits for it; else the newest from the last hour.
func (s *Service) deviceSnapshot(ctx context.Context, ref domain.CameraRef) ([]byte, time.Time, error) {
	if snap, ok := s.cachedSnapshot(ref, SnapshotFresh); ok {
		return snap.jpeg, snap.at, nil
	}
	camera := ref.Camera
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
// authenticated connection, for its camera's current generation. The
// picture must carry the device's signature for that camera and
// generation (videosig.SignSnapshot): one that does not is refused and
// logged as a provenance alarm.
func (s *Service) DeviceSnapshot(ctx context.Context, cam domain.Camera, jpeg []byte) error {
	if len(jpeg) > MaxSnapshotBytes || !bytes.HasPrefix(jpeg, jpegMagic) {
		return invalid("a snapshot must be a JPEG of at most 1 MiB")
	}
	if _, err := videosig.VerifySnapshot(jpeg, cam.DeviceKey, cam.ID, cam.Generation); err != nil {
		s.log.Error("provenance alarm: a device sent a snapshot not signed for its camera", "camera", cam.ID, "generation", cam.Generation, "err", err)
		s.audit(ctx, Caller{}, domain.AuditEvent{HomeID: cam.HomeID, CameraID: cam.ID, Action: "snapshot.upload", Result: domain.ResultDenied,
			Detail: "not signed by this camera"})
		return invalid("the snapshot is not signed by this camera's device key")
	}
	s.keepSnapshot(cam.Ref(), bytes.Clone(jpeg))
	return nil
}

// pulledSnapshot makes a picture of a camera the server pulls itself:
// from its snapshot URL if it has one, else from its stream's newest
// keyframe, decoded by ffmpeg on the server. One picture per camera is
// made at a time, and at most pullSnapshotSlots in all; callers that
// waited take the picture just made.
func (s *Service) pulledSnapshot(ctx context.Context, cam domain.Camera, g authz.Grant) ([]byte, time.Time, error) {
	ref := cam.Ref()
	source, hasURL := s.pullSnapshotURL(cam)
	if !hasURL && s.cfg.Stills == nil {
		return nil, time.Time{}, &Error{Kind: KindUnavailable, Code: "no_snapshot",
			Message: "this pulled camera has no snapshot URL and ffmpeg is not installed on the server"}
	}
	began := time.Now()
	release, err := s.pullSnapshotTurn(ctx, ref)
	if err != nil {
		return nil, time.Time{}, err
	}
	if snap, ok := s.cachedSnapshot(ref, SnapshotFresh); ok {
		release()
		return snap.jpeg, snap.at, nil // made while this caller waited
	}
	var jpeg []byte
	if hasURL {
		jpeg, err = s.urlSnapshot(ctx, ref, source)
	} else {
		jpeg, err = s.cfg.Stills.Still(ctx, g)
	}
	release()
	if err != nil {
		if hasURL {
			// A refused port fails at once, a silent one at the timeout:
			// every failure answers at the timeout, out of its turn.
			waitUntil(ctx, began.Add(snapshotFetchTimeout))
		}
		return nil, time.Time{}, err
	}
	return jpeg, s.keepSnapshot(ref, jpeg), nil
}

// waitUntil waits until t on the wall clock, or until ctx ends.
func waitUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// pullSnapshotSlots bounds the pulled-camera snapshots made at once.
const pullSnapshotSlots = 4

// pullSnapshotTurn waits until no other snapshot of ref is being made and
// a slot is free; release ends the turn.
func (s *Service) pullSnapshotTurn(ctx context.Context, ref domain.CameraRef) (release func(), err error) {
	for {
		s.snaps.mu.Lock()
		if s.snaps.slots == nil {
			s.snaps.slots = make(chan struct{}, pullSnapshotSlots)
			s.snaps.making = map[domain.CameraRef]chan struct{}{}
		}
		busy, ok := s.snaps.making[ref]
		if !ok {
			done := make(chan struct{})
			s.snaps.making[ref] = done
			slots := s.snaps.slots
			s.snaps.mu.Unlock()
			end := func() {
				s.snaps.mu.Lock()
				delete(s.snaps.making, ref)
				s.snaps.mu.Unlock()
				close(done)
			}
			select {
			case slots <- struct{}{}:
				return func() { <-slots; end() }, nil
			case <-ctx.Done():
				end()
				return nil, ctx.Err()
			}
		}
		s.snaps.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// errSnapshotURLFailed is the one answer to every way a pulled camera's
// snapshot URL can fail — refused, silent, TLS, not HTTP, wrong
// credentials, an error status, not a JPEG, an address off the allowed
// networks — so that the answer does not tell an open port from a closed
// one.
var errSnapshotURLFailed = &Error{Kind: KindUnavailable, Code: "no_snapshot",
	Message: "the camera's snapshot URL gave no picture; check the camera's address, user and password, and that the URL gives a JPEG"}

// urlSnapshot fetches a pulled camera's snapshot URL. The reason of a
// failure is logged for the operator (it names no URL); the caller gets
// errSnapshotURLFailed whatever it was.
func (s *Service) urlSnapshot(ctx context.Context, ref domain.CameraRef, source string) ([]byte, error) {
	if s.cfg.FetchSnapshot == nil {
		s.log.Warn("snapshot URL of a pulled camera not fetched: this server fetches none", "camera", ref.Camera)
		return nil, errSnapshotURLFailed
	}
	fctx, cancel := context.WithTimeout(ctx, snapshotFetchTimeout)
	jpeg, err := s.cfg.FetchSnapshot(fctx, s.cfg.PullNetworks, source)
	cancel()
	if err == nil && (len(jpeg) > MaxSnapshotBytes || !bytes.HasPrefix(jpeg, jpegMagic)) {
		err = errors.New("the fetched snapshot is not a JPEG of at most 1 MiB")
	}
	if err == nil {
		return jpeg, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	s.log.Warn("snapshot URL of a pulled camera failed", "camera", ref.Camera, "err", err.Error())
	return nil, errSnapshotURLFailed
}

// keepSnapshot caches jpeg as ref's newest picture, forgetting those of
// earlier generations, and wakes whoever waits for it; it returns the
// picture's time.
func (s *Service) keepSnapshot(ref domain.CameraRef, jpeg []byte) time.Time {
	at := s.now()
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
	s.snaps.latest[ref] = snapshot{jpeg: jpeg, at: at}
	for _, ch := range s.snaps.waiters[ref] {
		close(ch)
	}
	delete(s.snaps.waiters, ref)
	return at
}
