package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/camvault/camvault/internal/agent"
	"github.com/camvault/camvault/internal/app"
	"github.com/camvault/camvault/internal/config"
)

func demoCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: camvault demo [flags]

Starts a camvault server on a fresh store with simulated cameras (real agents
playing the clip built into camvault, each with its own key) in two homes,
and prints a one-time link that signs you in as the first home's owner. Open
it in a browser to watch the cameras live. Nothing is needed beyond this
binary; the store is SQLite in a new temporary directory unless --data-dir
names an empty one.

Flags:
`)
		fs.PrintDefaults()
	}
	dataDir := fs.String("data-dir", "", "an empty directory for the demo's data (default: a new temporary directory)")
	listen := fs.String("listen", "127.0.0.1:8080", "web address")
	cameras := fs.Int("cameras", 2, "simulated cameras in the first home (the second home gets one)")
	verbose := fs.Bool("verbose", false, "log what the server and cameras do")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := *dataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "camvault-demo-")
		if err != nil {
			return err
		}
		dir = d
	} else if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("--data-dir %s is not empty; the demo starts from a fresh store", dir)
	}
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Listen = *listen
	// Only the web address matters to a person; the rest take free ports.
	cfg.Devices.Listen, cfg.Devices.IngestListen, cfg.Live.RTSPListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return app.RunDemo(ctx, app.DemoOptions{Config: cfg, Logger: log, Out: stdout, Cameras: *cameras})
}

func simCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: camvault sim -n N --server URL [flags]

Runs N simulated cameras: real agents, each with its own key and state dir,
playing the clip built into camvault. Each prints its claim code; claim them
in the web UI or with POST /api/v1/homes/{home}/cameras/claim.

Flags:
`)
		fs.PrintDefaults()
	}
	n := fs.Int("n", 1, "number of cameras")
	server := fs.String("server", "", "the camvault server's URL")
	stateDir := fs.String("state-dir", "./camvault-sim", "directory for the cameras' state (one subdirectory each)")
	source := fs.String("source", "builtin:porch", "what the cameras play")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *n > 1000 {
		return errors.New("-n must be between 1 and 1000")
	}
	src, err := agent.ParseSource(*source)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	var out sync.Mutex
	for i := range *n {
		a, err := agent.New(agent.Config{Server: *server, StateDir: filepath.Join(*stateDir, fmt.Sprintf("cam%d", i+1)), Source: src,
			Version: versionString(), Logger: log.With("cam", i+1)})
		if err != nil {
			return err
		}
		wg.Go(func() { a.Run(ctx) })
		wg.Go(func() {
			shown := ""
			for ctx.Err() == nil {
				if c := a.Status().ClaimCode; c != "" && c != shown {
					shown = c
					out.Lock()
					fmt.Fprintf(stdout, "camera %d: claim code %s\n", i+1, c)
					out.Unlock()
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	return nil
}
