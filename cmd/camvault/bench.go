package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/camvault/camvault/internal/agent"
	"github.com/camvault/camvault/internal/bench"
)

func benchCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: camvault bench [flags]

Measures the live video path on loopback: this binary as the server (a
child process on a fresh store), simulated cameras playing the built-in
clip, and real RTSPS viewers. Scenarios: 1 camera × 200 viewers, 20 cameras ×
1 viewer, 1 camera × 50 WHEP (WebRTC) viewers, and time to first frame. Prints JSON: server CPU seconds per
stream-second, peak memory, delivered bytes and frames, loss, time to first
frame.

Flags:
`)
		fs.PrintDefaults()
	}
	duration := fs.Duration("duration", 10*time.Second, "how long each scenario streams")
	quick := fs.Bool("quick", false, "small scenarios (1×20, 5×1) for a fast check")
	source := fs.String("source", "builtin:porch", "what the simulated cameras play, e.g. file:hall-1280x720-15fps-h264.h264 (15 fps)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	scenarios := []bench.Scenario{
		{Name: "rtsp-fanout-1x200", Cameras: 1, Viewers: 200, Duration: *duration},
		{Name: "rtsp-cameras-20x1", Cameras: 20, Viewers: 1, Duration: *duration},
		{Name: "whep-fanout-1x50", Cameras: 1, Viewers: 50, Duration: *duration, Protocol: "webrtc"},
		{Name: "first-frame-1x10", Cameras: 1, Viewers: 10, Duration: 2 * time.Second},
	}
	if *quick {
		scenarios = []bench.Scenario{
			{Name: "rtsp-fanout-1x20", Cameras: 1, Viewers: 20, Duration: *duration},
			{Name: "rtsp-cameras-5x1", Cameras: 5, Viewers: 1, Duration: *duration},
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	src, err := agent.ParseSource(*source)
	if err != nil {
		return err
	}
	results, err := bench.Run(ctx, bench.Config{Binary: self, Source: src}, scenarios)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if len(results) > 0 {
		enc.Encode(map[string]any{"camvault": results})
	}
	return err
}
