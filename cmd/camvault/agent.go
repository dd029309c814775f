package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/camvault/camvault/internal/agent"
)

const agentUsage = `Usage: camvault agent --server URL --state-dir DIR --source SOURCE [flags]
       camvault agent reset --state-dir DIR

Runs on the camera (or on a small Linux box beside LAN IP cameras). On first
start it creates the device's own key in the state dir (mode 0600) and
enrols with the server, which answers with a one-time claim code. The agent
prints the code and a QR code, and shows both on a status page bound to
loopback, until an owner or admin of a home claims the camera with it
(web UI: "Add camera"; API: POST /api/v1/homes/{home}/cameras/claim). Then
it fetches a client certificate for the camera and keeps one outbound
control connection to the server (WebSocket over mutual TLS), reconnecting
with exponential backoff and jitter after server restarts and network loss.

Sources (the agent checks and reports the source's health, and sends video
when the server asks for it, signed with the device key):
  rtsp://user:pass@192.168.1.20/stream     an RTSP URL of a LAN IP camera
  file:/path/clip.mp4  (or a plain path)   a video file, played in a loop
                                           (MP4, or H.264/H.265 Annex-B)
  device:/dev/video0   (or a /dev/ path)   a V4L2 capture device, through ffmpeg
  device:FORMAT:INPUT                      any ffmpeg input, through ffmpeg:
                                           FORMAT is its input format (-f) and
                                           INPUT its input (-i), e.g.
                                           device:lavfi:testsrc2=size=640x360:rate=15
                                           (a test picture, no hardware needed)
  builtin:porch                            the clip built into camvault

Capture devices need ffmpeg (with libx264) on PATH. It runs only while the
server wants video, encodes H.264 with a keyframe every 2 s, and is started
again with backoff if it fails. Snapshots are the built-in clip's picture,
a JPEG beside a file source (clip.mp4 → clip.jpg), or else a keyframe
decoded by ffmpeg when it is installed.

State dir: device-key.pem (the device's private key), device-cert.pem (its
current certificate) and server.json (the server's device CA and URL). Keep
it private; nothing else identifies the camera.

camvault agent reset wipes the key and all state — a factory reset. It first
tells the server over the device's authenticated connection, so the camera
leaves its home and its old certificate stops working at once; the next
start enrols afresh as a new camera with a new claim code.

Flags:
`

func agentCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "reset" {
		return agentReset(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, agentUsage); fs.PrintDefaults() }
	server := fs.String("server", "", "the camvault server's URL, e.g. https://cams.example.org")
	stateDir := fs.String("state-dir", "", "directory for the device key and state (created, mode 0700)")
	source := fs.String("source", "", "video source: rtsp://…, file:PATH, device:/dev/videoN, device:FORMAT:INPUT or builtin:porch")
	status := fs.String("status-listen", "127.0.0.1:8089", "loopback address of the status page (empty: off)")
	serverCA := fs.String("server-ca", "", "PEM file with the CA of the server's HTTPS certificate (for --tls-self-signed servers)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	motion := fs.Float64("motion-factor", 3, "a predicted picture this many times the recent average size is motion (reported for event recording); 0 turns the detector off")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	src, err := agent.ParseSource(*source)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	hc := &http.Client{Timeout: 30 * time.Second}
	if *serverCA != "" {
		pemBytes, err := os.ReadFile(*serverCA)
		if err != nil {
			return fmt.Errorf("--server-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return errors.New("--server-ca: no certificate in the file")
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	a, err := agent.New(agent.Config{
		Server: *server, StateDir: *stateDir, Source: src, StatusListen: *status,
		Version: versionString(), Logger: log, Out: stdout, HTTPClient: hc, MotionFactor: motionFactor(*motion),
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return a.Run(ctx)
}

func agentReset(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("agent reset", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, agentUsage); fs.PrintDefaults() }
	stateDir := fs.String("state-dir", "", "the agent's state directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	told, err := agent.Reset(ctx, *stateDir, log)
	if err != nil {
		return err
	}
	if told {
		fmt.Fprintln(stdout, "Factory reset done. The server was told: the camera left its home.")
	} else {
		fmt.Fprintln(stdout, "Factory reset done. The server could not be told (or the camera was never claimed);\nif a home still lists this camera, remove it there.")
	}
	return nil
}

// motionFactor maps the flag to agent.Config: 0 there means the default.
func motionFactor(f float64) float64 {
	if f <= 0 {
		return -1
	}
	return f
}
