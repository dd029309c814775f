package record

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/media"
)

// Source is what the recorder records from: the service, which asks the
// policy for each camera.
type Source interface {
	// RecordingCameras lists the settings of every camera that records.
	RecordingCameras(ctx context.Context) ([]domain.RecordingSettings, error)
	// RecordingGrant asks the policy whether the server records the
	// camera as it is now, and returns its grant for the camera's
	// current generation, the camera and its settings.
	// ErrNotRecording means the camera should not be recorded.
	RecordingGrant(ctx context.Context, camera domain.ID) (authz.Grant, domain.Camera, domain.RecordingSettings, error)
}

// ErrNotRecording: the camera does not record (any more).
var ErrNotRecording = errors.New("record: camera does not record")

// RecorderConfig configures a Recorder.
type RecorderConfig struct {
	Archive *Archive
	Source  Source
	// Media is the hub the recorder reads cameras' streams from, with
	// the grants Source gives.
	Media  *media.Hub
	Logger *slog.Logger
	// Segment is the target segment length; zero means DefaultSegment.
	Segment time.Duration
	// Rescan is how often the settings are read again; zero means 5 s.
	Rescan time.Duration
	// Thumbnail, if set, makes a JPEG of a keyframe for the timeline;
	// ThumbEvery is how far apart thumbnails are (zero means 2 minutes).
	Thumbnail  func(ctx context.Context, track media.Track, key *media.AccessUnit) ([]byte, error)
	ThumbEvery time.Duration
	// Now returns the time; nil means time.Now.
	Now func() time.Time
	// Owns, if set, says whether this node records the camera: in a
	// cluster, the node its device is connected to. It is asked at every
	// rescan, so a camera that moves is picked up by its new node then.
	Owns func(camera domain.ID) bool
}

// Recorder records every camera whose settings say so, one worker per
// camera.
type Recorder struct {
	cfg  RecorderConfig
	log  *slog.Logger
	kick chan struct{}

	mu      sync.Mutex
	workers map[domain.ID]*worker
}

// NewRecorder returns a recorder; Run starts it.
func NewRecorder(cfg RecorderConfig) *Recorder {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rescan <= 0 {
		cfg.Rescan = 5 * time.Second
	}
	if cfg.ThumbEvery <= 0 {
		cfg.ThumbEvery = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Recorder{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), workers: map[domain.ID]*worker{}}
}

// Kick makes the recorder read the settings again now.
func (r *Recorder) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Trigger marks an event on camera at at: a camera recording on events
// keeps its pre-roll before and its post-roll after. It reports whether
// the camera is being recorded.
func (r *Recorder) Trigger(camera domain.ID, at time.Time) bool {
	r.mu.Lock()
	w := r.workers[camera]
	r.mu.Unlock()
	if w == nil {
		return false
	}
	w.trigger(at)
	return true
}

// Recording lists the cameras being recorded.
func (r *Recorder) Recording() []domain.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]domain.ID, 0, len(r.workers))
	for id := range r.workers {
		out = append(out, id)
	}
	return out
}

// Run records until ctx ends; then every worker stores the segment it
// was writing and stops.
func (r *Recorder) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(r.cfg.Rescan)
	defer t.Stop()
	for {
		r.scan(ctx, &wg)
		select {
		case <-ctx.Done():
			r.mu.Lock()
			for _, w := range r.workers {
				w.stop()
			}
			r.mu.Unlock()
			return
		case <-t.C:
		case <-r.kick:
		}
	}
}

func (r *Recorder) scan(ctx context.Context, wg *sync.WaitGroup) {
	list, err := r.cfg.Source.RecordingCameras(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("recording settings", "err", err)
		}
		return
	}
	want := map[domain.ID]domain.RecordingSettings{}
	for _, s := range list {
		if r.cfg.Owns == nil || r.cfg.Owns(s.CameraID) {
			want[s.CameraID] = s
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, w := range r.workers {
		if s, ok := want[id]; !ok || s != w.settings() {
			w.stop() // a changed setting restarts the worker with it
			delete(r.workers, id)
		}
	}
	for id, s := range want {
		if _, ok := r.workers[id]; ok {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		w := &worker{r: r, camera: id, cancel: cancel, seg: Segmenter{Target: r.cfg.Segment}, cur: s, done: make(chan struct{})}
		r.workers[id] = w
		wg.Go(func() {
			defer close(w.done)
			w.run(wctx)
			r.mu.Lock()
			if r.workers[id] == w {
				delete(r.workers, id)
			}
			r.mu.Unlock()
		})
	}
}

// worker records one camera.
type worker struct {
	r      *Recorder
	camera domain.ID
	cancel context.CancelFunc
	seg    Segmenter
	done   chan struct{}

	mu        sync.Mutex
	cur       domain.RecordingSettings
	eventFrom time.Time // the open event window, when recording on events
	eventTo   time.Time
	preroll   []*Plain
	lastThumb time.Time
	thumbing  bool

	// The stream being recorded, across readers (run's goroutine only).
	active  bool
	ref     domain.CameraRef
	home    domain.ID
	lastPTS time.Duration
	lastAt  time.Time
	pending bool // the segmenter holds units not stored yet
}

func (w *worker) settings() domain.RecordingSettings {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur
}

func (w *worker) stop() { w.cancel() }

func (w *worker) trigger(at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	from, to := at.Add(-w.cur.PreRoll), at.Add(w.cur.PostRoll)
	if w.eventTo.Before(from) { // a new window
		w.eventFrom, w.eventTo = from, to
		return
	}
	if to.After(w.eventTo) {
		w.eventTo = to
	}
	if from.Before(w.eventFrom) {
		w.eventFrom = from
	}
}

func (w *worker) run(ctx context.Context) {
	defer w.flush(context.WithoutCancel(ctx))
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		rd, cam, s, err := w.open(ctx)
		if err != nil {
			w.flush(ctx)
			if errors.Is(err, ErrNotRecording) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = 500 * time.Millisecond
		w.mu.Lock()
		w.cur = s
		w.mu.Unlock()
		w.record(ctx, rd, cam)
		rd.Close()
		// Reopen at once: the grant ran out, or the stream moved on. A
		// reader that picks up where this one ended continues the
		// segment in progress.
	}
}

// open asks Source for the camera's recording grant and opens a
// renewable reader with it.
func (w *worker) open(ctx context.Context) (*media.Reader, domain.Camera, domain.RecordingSettings, error) {
	g, cam, s, err := w.r.cfg.Source.RecordingGrant(ctx, w.camera)
	if err != nil {
		return nil, cam, s, err
	}
	if w.r.cfg.Media == nil {
		return nil, cam, s, ErrNotRecording
	}
	rd, err := w.r.cfg.Media.AddReader(g, media.Renewable)
	return rd, cam, s, err
}

// renew gives a reader whose grant ran out a current one, if the camera
// is still recorded at the reader's generation; ErrNotRecording if not.
func (w *worker) renew(ctx context.Context, rd *media.Reader) error {
	ref := rd.Grant().Camera()
	g, _, _, err := w.r.cfg.Source.RecordingGrant(ctx, ref.Camera)
	if err != nil {
		return err
	}
	if g.Camera() != ref {
		return ErrNotRecording // another generation: this one is over
	}
	return rd.Renew(g)
}

// quiet is how long a stream may pause before the segment in progress is
// stored; a reopened reader within it continues the segment.
const quiet = 5 * time.Second

// record reads one reader until it ends, storing segments as they
// finish. The segment in progress outlives the reader: the next one
// continues it when it carries on the same stream (the hub starts a new
// reader at the current GOP, whose units this one already had).
func (w *worker) record(ctx context.Context, rd *media.Reader, cam domain.Camera) {
	ref, home := cam.Ref(), cam.HomeID
	continuing := w.active && ref == w.ref && w.r.cfg.Now().Sub(w.lastAt) < quiet
	if !continuing {
		w.flush(ctx)
	}
	w.active, w.ref, w.home = true, ref, home
	for {
		rctx, cancel := context.WithTimeout(ctx, quiet)
		au, err := rd.Read(rctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			w.flush(ctx) // the stream paused: keep what came
			continuing = false
			continue
		}
		if errors.Is(err, media.ErrExpired) {
			// The grant ran out: renewed, the reader goes on where it
			// was, with every picture it queued meanwhile.
			if err := w.renew(ctx, rd); err == nil {
				continue
			} else if !errors.Is(err, ErrNotRecording) && ctx.Err() == nil {
				w.r.log.Warn("renewing the recording grant", "camera", w.camera, "err", err)
			}
			return // reopen, or stop
		}
		if err != nil {
			return
		}
		tr, ok := rd.Track()
		if !ok {
			continue
		}
		if continuing && au.PTS <= w.lastPTS {
			continue // already recorded through the previous reader
		}
		continuing = false
		// A pause is measured on the stream's clock: a recorder that
		// fell behind (a slow disk, a loaded machine) reads units that
		// came long ago in one go, and must not cut the segment there —
		// the segmenter would then drop pictures up to the next
		// keyframe. A pause seen live ends the Read above instead.
		if w.pending && au.PTS-w.lastPTS >= quiet {
			w.flush(ctx)
		}
		p, err := w.seg.Push(tr, au)
		if err != nil {
			w.r.log.Warn("segmenting", "camera", w.camera, "err", err)
			w.seg.Reset()
			w.pending = false
			continue
		}
		w.lastPTS, w.lastAt, w.pending = au.PTS, w.r.cfg.Now(), true
		if p != nil {
			// Not cancelled with ctx: at shutdown the reader's queue is
			// drained, and what it finishes is stored.
			w.store(context.WithoutCancel(ctx), ref, home, p)
		}
	}
}

// flush stores the segment in progress, if any, and starts afresh.
func (w *worker) flush(ctx context.Context) {
	if w.pending {
		if p, err := w.seg.Flush(); err == nil && p != nil {
			w.store(context.WithoutCancel(ctx), w.ref, w.home, p)
		}
	}
	w.seg.Reset()
	w.pending = false
}

// store keeps a finished segment according to the mode: every one when
// recording continuously; on events, those that overlap an event window
// (holding recent ones in memory as pre-roll).
func (w *worker) store(ctx context.Context, ref domain.CameraRef, home domain.ID, p *Plain) {
	w.mu.Lock()
	var keep []*Plain
	if w.cur.Mode == domain.RecordContinuous {
		keep = []*Plain{p}
	} else {
		w.preroll = append(w.preroll, p)
		var held []*Plain
		for _, q := range w.preroll {
			switch {
			case !w.eventTo.IsZero() && q.Start.Before(w.eventTo) && q.End.After(w.eventFrom):
				keep = append(keep, q)
			case q.End.After(p.End.Add(-w.cur.PreRoll)):
				held = append(held, q) // may still be someone's pre-roll
			}
		}
		w.preroll = held
	}
	w.mu.Unlock()
	for _, q := range keep {
		if _, err := w.r.cfg.Archive.Write(ctx, ref, home, q); errors.Is(err, ErrDeleted) {
			w.r.log.Debug("segment deleted while being recorded", "camera", w.camera)
			continue
		} else if err != nil {
			w.r.log.Error("storing segment", "camera", w.camera, "err", err)
			continue
		}
		w.thumbnail(ctx, ref, q)
	}
}

// thumbnail makes a timeline still from a stored segment's keyframe when
// the last one is old enough, in the background and one at a time.
func (w *worker) thumbnail(ctx context.Context, ref domain.CameraRef, p *Plain) {
	still := w.r.cfg.Thumbnail
	if still == nil || p.Key == nil {
		return
	}
	w.mu.Lock()
	due := !w.thumbing && (w.lastThumb.IsZero() || p.Start.Sub(w.lastThumb) >= w.r.cfg.ThumbEvery || p.Start.Before(w.lastThumb))
	if due {
		w.thumbing, w.lastThumb = true, p.Start
	}
	w.mu.Unlock()
	if !due {
		return
	}
	go func() {
		defer func() {
			w.mu.Lock()
			w.thumbing = false
			w.mu.Unlock()
		}()
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		jpeg, err := still(tctx, p.Track, p.Key)
		if err == nil {
			err = w.r.cfg.Archive.WriteSegmentThumbnail(tctx, ref, p, jpeg)
		}
		if err != nil {
			w.r.log.Debug("thumbnail", "camera", w.camera, "err", err)
		}
	}()
}
