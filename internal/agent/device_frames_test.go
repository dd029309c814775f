package agent

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/bitstream"
)

// testDevice is a capture device every ffmpeg has: a generated picture.
const testDevice = "lavfi:testsrc2=size=320x240:rate=15"

func TestDeviceInput(t *testing.T) {
	tests := []struct {
		spec          string
		format, input string
		bad           bool
	}{
		{spec: "/dev/video0", format: "v4l2", input: "/dev/video0"},
		{spec: "v4l2:/dev/video2", format: "v4l2", input: "/dev/video2"},
		{spec: "lavfi:testsrc2=size=640x360:rate=15", format: "lavfi", input: "testsrc2=size=640x360:rate=15"},
		{spec: "avfoundation:0", format: "avfoundation", input: "0"},
		{spec: "video0", bad: true},
		{spec: "lavfi:", bad: true},
		{spec: ":testsrc2", bad: true},
		{spec: "-y:x", bad: true},
		{spec: "LAVFI:testsrc2", bad: true},
		{spec: "lavfi:" + strings.Repeat("x", maxDeviceSpec), bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.spec[:min(len(tt.spec), 40)], func(t *testing.T) {
			format, input, err := deviceInput(tt.spec)
			switch {
			case tt.bad && err == nil:
				t.Fatalf("accepted as %q %q", format, input)
			case !tt.bad && err != nil:
				t.Fatal(err)
			case format != tt.format || input != tt.input:
				t.Fatalf("got %q %q, want %q %q", format, input, tt.format, tt.input)
			}
		})
	}
}

// TestDeviceFrames: ffmpeg's capture comes as H.264 access units with
// rising timestamps, a keyframe with parameter sets first and every 2 s;
// closing the source ends ffmpeg.
func TestDeviceFrames(t *testing.T) {
	needFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	goroutines := runtime.NumGoroutine()
	src, err := openDevice(ctx, testDevice, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(ffmpegChildren()) != 1 {
		t.Fatalf("ffmpeg processes: %v, want one", ffmpegChildren())
	}
	if src.codec() != bitstream.H264 {
		t.Fatal("not H.264")
	}
	if _, sps, pps := src.params(); len(sps) == 0 || len(pps) == 0 {
		t.Fatal("no parameter sets")
	}
	var keys []int
	var last time.Duration
	for i := range 50 {
		au, pts, err := src.next(ctx)
		if err != nil {
			t.Fatalf("unit %d: %v", i, err)
		}
		if pts < last {
			t.Fatalf("unit %d at %v, after one at %v", i, pts, last)
		}
		last = pts
		if bitstream.HasKey(bitstream.H264, au) {
			keys = append(keys, i)
			if _, sps, _ := bitstream.ParamSets(bitstream.H264, au); sps == nil {
				t.Fatalf("keyframe %d carries no SPS", i)
			}
		}
	}
	if len(keys) != 2 || keys[0] != 0 || keys[1] != 30 {
		t.Fatalf("keyframes at units %v, want [0 30] (2 s at 15 fps)", keys)
	}
	if last < 2*time.Second || last > 5*time.Second {
		t.Fatalf("50 units at 15 fps took %v of timestamps", last)
	}
	src.close()
	if pids := ffmpegChildren(); len(pids) != 0 {
		t.Fatalf("ffmpeg still runs after close: %v", pids)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Fatalf("%d goroutines after close, %d before open", n, goroutines)
	}
}

// TestDeviceFailures: ffmpeg that cannot open its input, or whose input
// ends, is an error that says so; ffmpeg never outlives the source.
func TestDeviceFailures(t *testing.T) {
	needFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)

	_, err := openDevice(ctx, "lavfi:no_such_filter_here", log)
	if err == nil || !strings.Contains(err.Error(), "ffmpeg failed") {
		t.Fatalf("a bad input: %v", err)
	}

	src, err := openDevice(ctx, "lavfi:testsrc2=size=160x120:rate=15:duration=1", log)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, _, err := src.next(ctx)
		if err != nil {
			if !strings.Contains(err.Error(), "ffmpeg ended") {
				t.Fatalf("after %d units: %v", n, err)
			}
			break
		}
		n++
	}
	src.close()
	if n < 10 || n > 15 {
		t.Fatalf("1 s at 15 fps gave %d units", n)
	}

	// A context that ends while ffmpeg starts.
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	if _, err := openDevice(short, testDevice, log); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("open with an ended context: %v", err)
	}
	if pids := ffmpegChildren(); len(pids) != 0 {
		t.Fatalf("ffmpeg still runs: %v", pids)
	}
}

// TestNoFFmpeg: without ffmpeg, capture devices are unhealthy and say why,
// and snapshots that need it fail with a clear reason.
func TestNoFFmpeg(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	src := Source{Kind: "device", Location: testDevice}
	if h := src.Health(context.Background()); h != "ffmpeg not installed (needed for capture devices)" {
		t.Fatalf("health: %q", h)
	}
	if _, err := openDevice(context.Background(), testDevice, slog.New(slog.DiscardHandler)); !errors.Is(err, errNoFFmpeg) {
		t.Fatalf("open: %v", err)
	}
	a := &Agent{cfg: Config{Source: src}, log: slog.New(slog.DiscardHandler)}
	if _, err := a.snapshotJPEG(); err == nil || !strings.Contains(err.Error(), "need ffmpeg, which is not installed") {
		t.Fatalf("snapshot: %v", err)
	}
}
