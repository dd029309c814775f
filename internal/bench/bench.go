// Package bench measures camvault's live video path on loopback: a real
// server process, simulated cameras (real agents relaying a clip played at
// real time) and real viewers in this process. It reports, per scenario,
// the server's CPU seconds per stream-second, its peak memory, delivered
// bytes, loss, publish-to-receive delay and time to first frame, as JSON.
// Given another media server's binary (MediaMTX), it runs the same RTSP
// scenarios against it in the same run, so the two can be compared as
// ratios. RunCluster measures two nodes sharing PostgreSQL, NATS and an
// S3 bucket: revocation across them, the first frame of a stream asked
// of the node not holding the camera, and recording to S3 against local
// disk.
package bench

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camvault/camvault/internal/agent"
	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/clips"
)

// Scenario is one measured setup.
type Scenario struct {
	Name     string
	Cameras  int
	Viewers  int // per camera
	Duration time.Duration
	// Protocol is "rtsp" (default) or "webrtc" (WHEP with pion clients).
	Protocol string
}

// Result is one scenario's figures on one server.
type Result struct {
	Server             string  `json:"server"`
	Scenario           string  `json:"scenario"`
	Protocol           string  `json:"protocol"`
	Cameras            int     `json:"cameras"`
	ViewersPerCamera   int     `json:"viewers_per_camera"`
	Seconds            float64 `json:"seconds"`
	ServerCPUSeconds   float64 `json:"server_cpu_seconds"`
	CPUPerStreamSecond float64 `json:"server_cpu_seconds_per_stream_second"`
	PeakMemoryMiB      float64 `json:"server_peak_memory_mib"`
	StartMemoryMiB     float64 `json:"server_memory_at_start_mib"`
	DeliveredBytes     int64   `json:"delivered_bytes"`
	DeliveredFrames    int64   `json:"delivered_frames"`
	ExpectedFrames     int64   `json:"expected_frames"`
	Loss               float64 `json:"loss"`
	DelayP50Ms         float64 `json:"delay_p50_ms"`
	DelayP99Ms         float64 `json:"delay_p99_ms"`
	FirstFrameP50Ms    float64 `json:"time_to_first_frame_p50_ms"`
	FirstFrameP99Ms    float64 `json:"time_to_first_frame_p99_ms"`
}

// Ratio compares camvault with the peer in one scenario: camvault's figure
// divided by the peer's (below 1 means camvault used less).
type Ratio struct {
	Scenario   string  `json:"scenario"`
	Peer       string  `json:"peer"`
	CPU        float64 `json:"cpu_per_stream_second"`
	PeakMemory float64 `json:"peak_memory"`
	DelayP50   float64 `json:"delay_p50"`
	DelayP99   float64 `json:"delay_p99"`
	FirstFrame float64 `json:"time_to_first_frame_p50"`
}

// Config configures a run.
type Config struct {
	// Binary is the camvault binary to run as the server.
	Binary string
	// Source is the clip the cameras play: the built-in clip or an
	// Annex-B file.
	Source agent.Source
	// FPS is the source's frame rate; zero means 15.
	FPS int
	// PeerBinary, when set, is a MediaMTX binary run through the same
	// RTSP scenarios.
	PeerBinary string
	// PeerPlain runs the peer with plain RTSP (no TLS), as its published
	// figures are; camvault always encrypts.
	PeerPlain bool
	// ProfileDir, when set, receives CPU and allocation profiles of the
	// camvault server per scenario (NAME.cpu, NAME.mem). Run creates it,
	// with its parents, if missing.
	ProfileDir string
	Logger     *slog.Logger
}

// Report is a run's figures.
type Report struct {
	Camvault []Result `json:"camvault"`
	Peer     []Result `json:"mediamtx,omitempty"`
	Ratios   []Ratio  `json:"ratios,omitempty"`
}

// target is a server under test with its cameras.
type target interface {
	name() string
	pid() int
	pool() *x509.CertPool
	addCameras(ctx context.Context, n int) ([]string, error)
	streamURL(ctx context.Context, camera, protocol string) (string, error)
	stop()
}

// Run runs the scenarios on camvault, and the RTSP ones on the peer when
// one is configured.
func Run(ctx context.Context, cfg Config, scenarios []Scenario) (Report, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Source.Kind == "" {
		cfg.Source = agent.Source{Kind: "builtin", Location: "porch"}
	}
	if cfg.FPS == 0 {
		cfg.FPS = clips.FPS
	}
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return Report{}, fmt.Errorf("profile directory: %w", err)
		}
	}
	var rep Report
	for _, sc := range scenarios {
		if sc.Protocol == "" {
			sc.Protocol = "rtsp"
		}
		r, err := runScenario(ctx, cfg, sc, func(ctx context.Context, f *feed) (target, error) {
			profile := ""
			if cfg.ProfileDir != "" {
				profile = filepath.Join(cfg.ProfileDir, sc.Name)
			}
			return startServer(ctx, cfg.Binary, f, cfg.Logger, profile)
		})
		if err != nil {
			return rep, fmt.Errorf("%s: %w", sc.Name, err)
		}
		rep.Camvault = append(rep.Camvault, r)
		if cfg.PeerBinary == "" || sc.Protocol != "rtsp" {
			continue
		}
		p, err := runScenario(ctx, cfg, sc, func(ctx context.Context, f *feed) (target, error) {
			return startMediaMTX(ctx, cfg.PeerBinary, f, cfg.PeerPlain)
		})
		if err != nil {
			return rep, fmt.Errorf("%s on the peer: %w", sc.Name, err)
		}
		rep.Peer = append(rep.Peer, p)
		rep.Ratios = append(rep.Ratios, Ratio{Scenario: sc.Name, Peer: p.Server,
			CPU: ratio(r.CPUPerStreamSecond, p.CPUPerStreamSecond), PeakMemory: ratio(r.PeakMemoryMiB, p.PeakMemoryMiB),
			DelayP50: ratio(r.DelayP50Ms, p.DelayP50Ms), DelayP99: ratio(r.DelayP99Ms, p.DelayP99Ms),
			FirstFrame: ratio(r.FirstFrameP50Ms, p.FirstFrameP50Ms)})
	}
	return rep, nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return float64(int(a/b*1000+0.5)) / 1000
}

func runScenario(ctx context.Context, cfg Config, sc Scenario, start func(context.Context, *feed) (target, error)) (Result, error) {
	f, err := loadFeed(cfg.Source, cfg.FPS)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t, err := start(ctx, f)
	if err != nil {
		return Result{}, err
	}
	defer t.stop()
	defer cancel() // before stop: agents and publishers end first
	cams, err := t.addCameras(ctx, sc.Cameras)
	if err != nil {
		return Result{}, err
	}
	var bytesIn, frames atomic.Int64
	var mu sync.Mutex
	var firsts, delays []time.Duration
	if err := warm(ctx, t, f, cams); err != nil {
		return Result{}, err
	}
	resetPeak(t.pid()) // setup (password hashing, say) is not the scenario
	startMiB := rssMiB(t.pid())
	cpu0 := cpuSeconds(t.pid())
	began := time.Now()
	var vw sync.WaitGroup
	errs := make(chan error, sc.Cameras*sc.Viewers)
	for _, cam := range cams {
		for range sc.Viewers {
			vw.Go(func() {
				asked := time.Now()
				url, err := t.streamURL(ctx, cam, sc.Protocol)
				if err != nil {
					errs <- err
					return
				}
				var once sync.Once
				playFn := play
				if sc.Protocol == "webrtc" {
					playFn = playWHEP
				}
				var mineMu sync.Mutex // the client's goroutines may outlive playFn
				var mine []time.Duration
				err = playFn(ctx, url, t.pool(), sc.Duration, func(nalus [][]byte, at time.Time) {
					if bitstream.HasKey(f.codec, nalus) {
						// The first picture a player can show.
						once.Do(func() {
							mu.Lock()
							firsts = append(firsts, at.Sub(asked))
							mu.Unlock()
						})
					}
					n := 0
					for _, b := range nalus {
						n += len(b)
					}
					bytesIn.Add(int64(n))
					frames.Add(1)
					// Delay is measured in the steady state: pictures sent
					// before the viewer asked came from the server's GOP
					// cache, and those right after queue behind them.
					if d, ok := f.delay(nalus, at); ok && at.Add(-d).After(asked.Add(steady)) {
						mineMu.Lock()
						mine = append(mine, d)
						mineMu.Unlock()
					}
				})
				mineMu.Lock()
				mu.Lock()
				delays = append(delays, mine...)
				mu.Unlock()
				mineMu.Unlock()
				if err != nil && ctx.Err() == nil {
					errs <- err
				}
			})
		}
	}
	vw.Wait()
	elapsed := time.Since(began)
	cpu := cpuSeconds(t.pid()) - cpu0
	close(errs)
	if err := errors.Join(drain(errs)...); err != nil {
		return Result{}, err
	}
	streams := float64(sc.Cameras * sc.Viewers)
	expected := int64(streams * sc.Duration.Seconds() * float64(cfg.FPS))
	r := Result{Server: t.name(), Scenario: sc.Name, Protocol: sc.Protocol, Cameras: sc.Cameras, ViewersPerCamera: sc.Viewers, Seconds: elapsed.Seconds(),
		ServerCPUSeconds: cpu, CPUPerStreamSecond: cpu / (streams * sc.Duration.Seconds()), PeakMemoryMiB: peakMiB(t.pid()), StartMemoryMiB: startMiB,
		DeliveredBytes: bytesIn.Load(), DeliveredFrames: frames.Load(), ExpectedFrames: expected}
	if expected > 0 {
		r.Loss = max(0, 1-float64(frames.Load())/float64(expected))
	}
	r.FirstFrameP50Ms, r.FirstFrameP99Ms = percentiles(firsts)
	r.DelayP50Ms, r.DelayP99Ms = percentiles(delays)
	return r, nil
}

// warm plays each camera until its first keyframe, so that the scenario
// measures running streams (a camera streaming on demand starts on
// its next keyframe; that start-up is not what is measured).
func warm(ctx context.Context, t target, f *feed, cams []string) error {
	for _, cam := range cams {
		url, err := t.streamURL(ctx, cam, "rtsp")
		if err != nil {
			return err
		}
		wctx, cancel := context.WithCancel(ctx)
		err = play(wctx, url, t.pool(), 30*time.Second, func(nalus [][]byte, _ time.Time) {
			if bitstream.HasKey(f.codec, nalus) {
				cancel()
			}
		})
		keyed := wctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err != nil {
			return err
		}
		if !keyed {
			return errors.New("a camera sent no keyframe in 30 s")
		}
	}
	return nil
}

// steady is how long after its request a viewer's delay starts counting.
const steady = 2 * time.Second

func drain(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

// percentiles returns the 50th and 99th percentiles in milliseconds.
func percentiles(ds []time.Duration) (p50, p99 float64) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return ms(ds[len(ds)/2]), ms(ds[min(len(ds)-1, len(ds)*99/100)])
}
