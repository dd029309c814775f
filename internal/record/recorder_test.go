package record_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/blob"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/record/recordtest"
	"github.com/camvault/camvault/internal/store"
)

// hubSource records one camera from a hub with the policy's recorder
// grant, as the service does.
type hubSource struct {
	hub *media.Hub
	mu  sync.Mutex
	cam domain.Camera
	set domain.RecordingSettings
	now func() time.Time
}

func (h *hubSource) RecordingCameras(context.Context) ([]domain.RecordingSettings, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.set.Mode == domain.RecordOff {
		return nil, nil
	}
	return []domain.RecordingSettings{h.set}, nil
}

func (h *hubSource) RecordingGrant(_ context.Context, camera domain.ID) (authz.Grant, domain.Camera, domain.RecordingSettings, error) {
	h.mu.Lock()
	cam, set := h.cam, h.set
	h.mu.Unlock()
	now := time.Now
	if h.now != nil {
		now = h.now
	}
	g, d := authz.AuthorizeRecording(cam, set, now())
	if !d.Allowed || camera != cam.ID {
		return authz.Grant{}, cam, set, record.ErrNotRecording
	}
	return g, cam, set, nil
}

// recordClip runs a recorder over the porch clip published for d of
// camera time (faster than real time), with trigger called before
// publishing; it returns the stored segments.
func recordClip(t *testing.T, set domain.RecordingSettings, d time.Duration, trigger func(r *record.Recorder, base time.Time)) []domain.Segment {
	t.Helper()
	segs, _ := recordClipWith(t, set, d, trigger, -1)
	return segs
}

// recordClipWith is recordClip; at unit jump, the clock jumps past the
// recorder's grant, which the hub then refuses.
func recordClipWith(t *testing.T, set domain.RecordingSettings, d time.Duration, trigger func(r *record.Recorder, base time.Time), jump int) ([]domain.Segment, *rig) {
	t.Helper()
	return recordClipOpts(t, clipOpts{set: set, d: d, trigger: trigger, jump: jump})
}

// clipOpts says how recordClipOpts records.
type clipOpts struct {
	set     domain.RecordingSettings
	d       time.Duration
	trigger func(r *record.Recorder, base time.Time)
	jump    int
	// blobs, if set, wraps the rig's blob store.
	blobs func(blob.Store) blob.Store
	// now is the recorder's clock; nil means time.Now.
	now func() time.Time
	// published is called once every unit is published.
	published func()
}

func recordClipOpts(t *testing.T, o clipOpts) ([]domain.Segment, *rig) {
	t.Helper()
	set, d, trigger, jump := o.set, o.d, o.trigger, o.jump
	rg := newRigWith(t, o.blobs)
	var clockMu sync.Mutex
	skew := time.Duration(0)
	now := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return time.Now().Add(skew) }
	hub := media.New(media.Config{MaxBitrate: 1 << 30, Queue: 4096, QueueBytes: 256 << 20, Now: now})
	c := domain.Camera{ID: domain.NewID(), HomeID: home, Generation: 1, State: domain.CameraStateClaimed}
	set.CameraID = c.ID
	src := &hubSource{hub: hub, cam: c, set: set, now: now}
	rec := record.NewRecorder(record.RecorderConfig{Archive: rg.ar, Source: src, Media: hub, Rescan: 50 * time.Millisecond, Now: o.now})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rec.Run(ctx); close(done) }()
	for deadline := time.Now().Add(5 * time.Second); len(rec.Recording()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the recorder did not start")
		}
	}
	tr, aus := recordtest.Units(d)
	pub := hub.Publish(c.Ref(), tr)
	for hub.Stats().Readers == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	base := time.Now()
	if trigger != nil {
		trigger(rec, base)
	}
	for i, au := range aus {
		if i == jump {
			clockMu.Lock()
			skew += authz.GrantTTL + time.Minute
			clockMu.Unlock()
		}
		au.Origin = c.Ref()
		au.Capture = base.Add(au.PTS)
		if err := pub.Write(au); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if o.published != nil {
		o.published()
	}
	time.Sleep(200 * time.Millisecond)
	cancel() // the recorder stores the segment in progress
	<-done
	segs, err := rg.st.Segments(context.Background(), store.SegmentFilter{Camera: c.ID, Generation: 1})
	if err != nil {
		t.Fatal(err)
	}
	return segs, rg
}

// TestRecorderContinuous: every segment is stored, cut on keyframes,
// covering the whole stream, the last one when the recorder stops.
func TestRecorderContinuous(t *testing.T) {
	segs := recordClip(t, domain.RecordingSettings{Mode: domain.RecordContinuous}, 20*time.Second, nil)
	if len(segs) != 5 {
		t.Fatalf("20 s made %d segments, want 5", len(segs))
	}
	if total := segs[len(segs)-1].End.Sub(segs[0].Start); total < 19*time.Second || total > 21*time.Second {
		t.Fatalf("segments cover %s", total)
	}
}

// TestRecorderEvents: on events, only what overlaps an event's pre-roll
// and post-roll is kept — here an event 30 s into a minute, with 5 s
// before and 6 s after.
func TestRecorderEvents(t *testing.T) {
	var base time.Time
	segs := recordClip(t, domain.RecordingSettings{Mode: domain.RecordEvents, PreRoll: 5 * time.Second, PostRoll: 6 * time.Second},
		60*time.Second, func(r *record.Recorder, b time.Time) {
			base = b
			if !r.Trigger(r.Recording()[0], b.Add(30*time.Second)) {
				t.Fatal("trigger: the camera is not being recorded")
			}
		})
	if len(segs) == 0 {
		t.Fatal("nothing kept around the event")
	}
	from, to := segs[0].Start.Sub(base), segs[len(segs)-1].End.Sub(base)
	// 4 s segments: the window [25 s, 36 s) is covered by [24 s, 36 s).
	if from > 25*time.Second || from < 20*time.Second || to < 36*time.Second || to > 41*time.Second {
		t.Fatalf("kept %s to %s around an event at 30 s (pre 5 s, post 6 s)", from, to)
	}
	t.Logf("kept %s to %s in %d segments", from.Round(time.Millisecond), to.Round(time.Millisecond), len(segs))
}

// TestRecorderAcrossGrantRenewal: the recorder's grant runs out mid-
// stream while the recorder lags behind it (here its disk stalls, so the
// rest of the stream waits in its queue); the renewed grant picks up
// where the old one ended, so the recording has every picture once,
// without a short segment.
func TestRecorderAcrossGrantRenewal(t *testing.T) {
	stall := &stallingBlobs{entered: make(chan struct{}), release: make(chan struct{})}
	segs, rg := recordClipOpts(t, clipOpts{set: domain.RecordingSettings{Mode: domain.RecordContinuous}, d: 20 * time.Second, jump: 100,
		blobs:     func(b blob.Store) blob.Store { stall.Store = b; return stall },
		published: func() { <-stall.entered; close(stall.release) }})
	frames := 0
	for i, s := range segs {
		b, err := rg.ar.ReadAll(context.Background(), owner(t, s.Camera), s)
		if err != nil {
			t.Fatal(err)
		}
		_, parts, err := record.Parse(b, s.InitSize)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			frames += len(p.Tracks[0].Samples)
		}
		if i > 0 && s.Start.Before(segs[i-1].End.Add(-time.Millisecond)) {
			t.Fatalf("segment %d overlaps the previous one", i)
		}
	}
	if frames != 20*15 || len(segs) != 5 {
		t.Fatalf("%d pictures in %d segments, want 300 in 5", frames, len(segs))
	}
}

// stallingBlobs holds the first segment's Put until released, as a slow
// disk would.
type stallingBlobs struct {
	blob.Store
	once             sync.Once
	entered, release chan struct{}
}

func (b *stallingBlobs) Put(ctx context.Context, key string, r io.Reader) (blob.Info, error) {
	if strings.HasPrefix(key, record.Prefix) {
		first := false
		b.once.Do(func() { first = true })
		if first {
			close(b.entered)
			<-b.release
		}
	}
	return b.Store.Put(ctx, key, r)
}

// TestRecorderFallsBehind: a recorder that falls behind the stream — its
// disk stalls longer than a pause would last, the machine is loaded —
// and then reads the queued pictures in one go records every one of
// them: a stream pause is measured on the stream's clock, not on how
// late the recorder reads. Stopping it meanwhile stores all it queued.
func TestRecorderFallsBehind(t *testing.T) {
	var clockMu sync.Mutex
	skew := time.Duration(0)
	now := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return time.Now().Add(skew) }
	stall := &stallingBlobs{entered: make(chan struct{}), release: make(chan struct{})}
	segs, rg := recordClipOpts(t, clipOpts{set: domain.RecordingSettings{Mode: domain.RecordContinuous}, d: 20 * time.Second, jump: -1, now: now,
		blobs: func(b blob.Store) blob.Store { stall.Store = b; return stall },
		published: func() {
			<-stall.entered // the recorder is storing its first segment, the rest waits in its queue
			clockMu.Lock()
			skew += time.Minute // the store takes a minute
			clockMu.Unlock()
			close(stall.release)
		}})
	frames := 0
	for _, s := range segs {
		b, err := rg.ar.ReadAll(context.Background(), owner(t, s.Camera), s)
		if err != nil {
			t.Fatal(err)
		}
		_, parts, err := record.Parse(b, s.InitSize)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			frames += len(p.Tracks[0].Samples)
		}
	}
	if frames != 20*15 || len(segs) != 5 {
		t.Fatalf("%d pictures in %d segments, want 300 in 5", frames, len(segs))
	}
}

// TestRecorderOwns: a recorder records only the cameras its node owns,
// and picks a camera up, or lets it go, at the rescan after ownership
// moved.
func TestRecorderOwns(t *testing.T) {
	rg := newRigWith(t, nil)
	hub := media.New(media.Config{})
	c := domain.Camera{ID: domain.NewID(), HomeID: home, Generation: 1, State: domain.CameraStateClaimed}
	src := &hubSource{hub: hub, cam: c, set: domain.RecordingSettings{CameraID: c.ID, Mode: domain.RecordContinuous}}
	var owns sync.Mutex
	mine := false
	setMine := func(v bool) { owns.Lock(); mine = v; owns.Unlock() }
	rec := record.NewRecorder(record.RecorderConfig{Archive: rg.ar, Source: src, Media: hub, Rescan: 20 * time.Millisecond,
		Owns: func(id domain.ID) bool { owns.Lock(); defer owns.Unlock(); return id == c.ID && mine }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rec.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	recording := func(want bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); (len(rec.Recording()) == 1) != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("recording the camera = %v, want %v", !want, want)
			}
		}
	}
	// Several rescans pass without the camera while another node owns it.
	for range 5 {
		rec.Kick()
		time.Sleep(20 * time.Millisecond)
	}
	recording(false)
	setMine(true)
	recording(true)
	setMine(false)
	recording(false)
}
