package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
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
child process on a fresh store), simulated cameras (real agents relaying a
clip played at real time) and real viewers. Scenarios: 1 camera × 200 RTSPS
viewers, 20 cameras × 1 viewer, 1 camera × 50 WHEP (WebRTC) viewers, and
time to first frame. Prints JSON: server CPU seconds per stream-second,
peak memory, delivered bytes and frames, loss, publish-to-receive delay
p50/p99 and time to first frame.

With --cluster, it measures a cluster instead: two nodes of this binary
sharing a fresh PostgreSQL schema, a NATS subject and a bucket in a
versitygw of its own, with a simulated camera at node A. It prints JSON:
how long a viewer at A runs on after its member is removed (or its session
revoked) at B, p50/p99; the time to the first frame of a stream asked of B
and served by A, p50/p99; and the server CPU per camera-second of cameras
recording continuously to S3 at one node against one node recording to
local disk, as cameras per core and their ratio.

With --peer-binary, the same RTSP scenarios run against that MediaMTX
binary in the same run (RTSPS over TCP on loopback, publishers and viewers
in this process) and the output adds its figures and the ratios
camvault/peer.

Flags:
`)
		fs.PrintDefaults()
	}
	duration := fs.Duration("duration", 10*time.Second, "how long each scenario streams")
	quick := fs.Bool("quick", false, "small scenarios (1×20, 5×1) for a fast check")
	source := fs.String("source", "builtin:porch", "what the simulated cameras play, e.g. file:hall-1280x720-15fps-h264.h264 (15 fps)")
	peerBinary := fs.String("peer-binary", "", "a peer media server's binary to run the RTSP scenarios against")
	peerPlain := fs.Bool("peer-plain", false, "run the peer with plain RTSP instead of RTSPS (camvault always encrypts)")
	peerName := fs.String("peer", "mediamtx", "which peer --peer-binary is (only mediamtx)")
	profileDir := fs.String("cpu-profile-dir", "", "write CPU and allocation profiles of the server per scenario into `DIR` (created if missing)")
	only := fs.String("scenarios", "", "comma-separated scenario names to run (default: all)")
	clustered := fs.Bool("cluster", false, "measure a two-node cluster instead (needs PostgreSQL, NATS and versitygw)")
	pg := os.Getenv("CAMVAULT_TEST_POSTGRES")
	if pg == "" {
		pg = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	postgres := fs.String("postgres", pg, "with --cluster: the PostgreSQL `URL` (a schema is made in it and dropped after)")
	natsURL := fs.String("nats", "nats://127.0.0.1:4222", "with --cluster: the NATS server's `URL`")
	versitygw := fs.String("versitygw", bench.VersityGW(), "with --cluster: the versitygw binary")
	rounds := fs.Int("rounds", 20, "with --cluster: viewers each latency is measured over")
	cameras := fs.Int("cameras", 4, "with --cluster: cameras recording in the throughput comparison")
	record := fs.Duration("record", 20*time.Second, "with --cluster: how long they record")
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
		{Name: "rtsp-mixed-50x2", Cameras: 50, Viewers: 2, Duration: *duration},
		{Name: "whep-fanout-1x50", Cameras: 1, Viewers: 50, Duration: *duration, Protocol: "webrtc"},
		{Name: "first-frame-1x10", Cameras: 1, Viewers: 10, Duration: 2 * time.Second},
		{Name: "first-frame-whep-1x10", Cameras: 1, Viewers: 10, Duration: 2 * time.Second, Protocol: "webrtc"},
	}
	if *quick {
		scenarios = []bench.Scenario{
			{Name: "rtsp-fanout-1x20", Cameras: 1, Viewers: 20, Duration: *duration},
			{Name: "rtsp-cameras-5x1", Cameras: 5, Viewers: 1, Duration: *duration},
		}
	}
	if *peerName != "mediamtx" {
		return fmt.Errorf("--peer %q: only mediamtx is known", *peerName)
	}
	if *only != "" {
		want := strings.Split(*only, ",")
		scenarios = slices.DeleteFunc(scenarios, func(s bench.Scenario) bool { return !slices.Contains(want, s.Name) })
		if len(scenarios) == 0 {
			return fmt.Errorf("--scenarios %q names none of the scenarios", *only)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *clustered {
		rep, err := bench.RunCluster(ctx, bench.ClusterConfig{Binary: self, Postgres: *postgres, NATS: *natsURL, VersityGW: *versitygw,
			Rounds: *rounds, Cameras: *cameras, Record: *record})
		if err != nil {
			return err
		}
		for _, line := range rep.Summary {
			fmt.Fprintln(stderr, line)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	src, err := agent.ParseSource(*source)
	if err != nil {
		return err
	}
	rep, err := bench.Run(ctx, bench.Config{Binary: self, Source: src, PeerBinary: *peerBinary, PeerPlain: *peerPlain, ProfileDir: *profileDir}, scenarios)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if len(rep.Camvault) > 0 {
		enc.Encode(rep)
	}
	return err
}
