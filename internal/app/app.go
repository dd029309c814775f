// Package app wires camvault's server together from its configuration:
// data dir and per-install secrets, the store, the service, the HTTP
// adapters, TLS, and the listener, and runs it until its context ends.
package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/ffmpeg"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/ingest"
	"github.com/camvault/camvault/internal/live"
	"github.com/camvault/camvault/internal/live/snapshot"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/netguard"
	"github.com/camvault/camvault/internal/oauth"
	"github.com/camvault/camvault/internal/pki"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/serverkey"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
	"github.com/camvault/camvault/internal/store/postgres"
	"github.com/camvault/camvault/internal/store/sqlite"
)

// Options are what Run needs besides the configuration.
type Options struct {
	Config config.Config
	Logger *slog.Logger
	// Stderr receives the one-time setup link and the TLS fingerprint.
	Stderr io.Writer
	// Ready, if set, is called with the server's URL once it listens.
	Ready func(url string)
	// Started, if set, is given the server's parts once they exist
	// (tests use it to reach the service and the stream hub).
	Started func(Parts)
}

// Parts are the running server's components.
type Parts struct {
	Service *service.Service
	Media   *media.Hub
	// DataDir is the data directory the server runs on.
	DataDir string
	// Drain drains the node as SIGUSR1 does.
	Drain func()
}

// The service redeems viewers' stream credentials for package live.
var _ live.Redeemer = (*service.Service)(nil)

// OpenStore opens the store named by a URL: sqlite:PATH or postgres://...
func OpenStore(ctx context.Context, u string) (store.Store, error) {
	switch {
	case strings.HasPrefix(u, "sqlite:"):
		path := strings.TrimPrefix(u, "sqlite:")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("store dir: %w", err)
		}
		return sqlite.Open(ctx, path)
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		return postgres.Open(ctx, u)
	}
	return nil, errors.New("store: URL must start with sqlite: or postgres://")
}

// ServerKey returns the per-install secret key kept in the data dir,
// creating it (mode 0600) on first start.
func ServerKey(dataDir string) ([]byte, error) {
	dir := filepath.Join(dataDir, "secrets")
	if _, err := os.Stat(filepath.Join(dir, "server.key.new")); err == nil {
		return nil, errors.New("a server key rotation was cut short: run camvault admin rotate-key again to finish it")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secrets dir: %w", err)
	}
	path := filepath.Join(dir, "server.key")
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("%s: want 32 bytes, found %d", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read server key: %w", err)
	}
	b = make([]byte, 32)
	rand.Read(b)
	if err := pki.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return b, nil
}

// stills makes snapshots of pulled cameras from their streams; nil without
// a hub or without ffmpeg.
func stills(hub *media.Hub, log *slog.Logger) service.Stills {
	if hub == nil {
		return nil
	}
	path, err := ffmpeg.Path()
	if err != nil {
		return nil
	}
	return snapshot.New(snapshot.Config{Hub: hub, FFmpeg: path, Max: service.MaxSnapshotBytes, Logger: log.With("component", "snapshot")})
}

// NewService opens the store and builds the service for cfg, for commands
// that act on the data dir directly (camvault admin). Close the store when
// done.
func NewService(ctx context.Context, cfg config.Config, log *slog.Logger, events func(string, domain.Result), devices service.DeviceConfig) (*service.Service, store.Store, error) {
	key, st, err := openData(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	svc, _, err := newService(cfg, key, st, log, events, devices, nil, service.LiveConfig{}, nil, nil)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return svc, st, nil
}

// openData makes the data dir, reads the server key and opens the store;
// a cluster node checks that its key is the cluster's.
func openData(ctx context.Context, cfg config.Config) (*serverkey.Ring, store.Store, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	key, err := serverKey(cfg)
	if err != nil {
		return nil, nil, err
	}
	st, err := OpenStore(ctx, cfg.StoreURL())
	if err != nil {
		return nil, nil, err
	}
	if cfg.ClusterMode() {
		if err := checkIdentity(ctx, st, key); err != nil {
			st.Close()
			return nil, nil, err
		}
	}
	return key, st, nil
}

// newService builds the service on the store st and the recording
// archive it reads from; the archive is handed to the recorder and
// retention too, which write and delete without going through the
// service. The caller closes st.
func newService(cfg config.Config, key *serverkey.Ring, st store.Store, log *slog.Logger, onEvent func(string, domain.Result), devices service.DeviceConfig, hub *media.Hub, live service.LiveConfig, bus events.Bus, withdrawn func(events.Event)) (*service.Service, *record.Archive, error) {
	base := cfg.PublicURL()
	var passkeys *service.WebAuthnConfig
	if u, err := url.Parse(base); err == nil && net.ParseIP(u.Hostname()) == nil {
		passkeys = &service.WebAuthnConfig{RPID: u.Hostname(), RPName: "camvault", Origins: []string{base}}
	} else if log != nil {
		log.Warn("passkeys are off: they need a host name in the public URL, not an IP address (set --base-url)")
	}
	pullNets, err := netguard.Parse(cfg.Live.PullNetworks)
	if err != nil {
		return nil, nil, fmt.Errorf("live.pull_networks: %w", err)
	}
	ar, err := openArchive(cfg, st, key, log)
	if err != nil {
		return nil, nil, fmt.Errorf("recordings: %w", err)
	}
	svc, err := service.New(service.Config{
		Recordings: ar,
		Store:      st, Logger: log, BaseURL: base, ServerKeys: key,
		SessionIdle: time.Duration(cfg.Auth.SessionIdle), SessionMax: time.Duration(cfg.Auth.SessionMax),
		OpenSignup: cfg.Auth.OpenSignup, Events: onEvent, WebAuthn: passkeys, Bus: bus, Devices: devices, Video: hub != nil, Stills: stills(hub, log), Live: live, Withdrawn: withdrawn, Node: nodeID(cfg),
		PullNetworks: pullNets, FetchSnapshot: ingest.FetchSnapshot,
	})
	if err != nil {
		return nil, nil, err
	}
	return svc, ar, nil
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, o Options) error {
	n, err := build(ctx, o)
	if err != nil {
		return err
	}
	defer n.close()
	return n.serve(ctx)
}

func storeKind(u string) string {
	k, _, _ := strings.Cut(u, ":")
	return k
}

func serverTLS(cfg config.Config, stderr io.Writer) (*tls.Config, error) {
	if cfg.TLS.Cert != "" {
		pair, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}, nil
	}
	host, _, _ := net.SplitHostPort(cfg.Listen)
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if host != "" && host != "0.0.0.0" && host != "::" && host != "localhost" && host != "127.0.0.1" {
		hosts = append(hosts, host)
	}
	if u, err := url.Parse(cfg.PublicURL()); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	conf, fp, err := selfSigned(filepath.Join(cfg.DataDir, "tls"), dedupe(hosts), time.Now())
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "camvault: serving HTTPS with a local CA (%s).\n"+
		"camvault: CA SHA-256 fingerprint %s\n", filepath.Join(cfg.DataDir, "tls", "ca.pem"), fp)
	return conf, nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// opsRoutes are health, readiness and metrics.
func opsRoutes(m *httpserver.Metrics, checks []readiness) []httpserver.Route {
	return []httpserver.Route{
		{Pattern: "GET /healthz", Public: "liveness probe; says only that the process serves", Handler: func(w http.ResponseWriter, r *http.Request, _ service.Caller) {
			httpserver.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}},
		{Pattern: "GET /readyz", Public: "readiness probe; names the parts that do not answer (store, bus, blob), never why", Handler: func(w http.ResponseWriter, r *http.Request, _ service.Caller) {
			failing := notReady(r.Context(), checks)
			if len(failing) > 0 {
				httpserver.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failing": failing})
				return
			}
			httpserver.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		}},
		{Pattern: "GET /metrics", Public: "Prometheus metrics: counts and latencies by route, no per-home data", Handler: func(w http.ResponseWriter, r *http.Request, _ service.Caller) {
			m.Handler().ServeHTTP(w, r)
		}},
	}
}

// observer takes the stream hub's reports to metrics, the log and — for a
// provenance violation — the audit log.
type observer struct {
	metrics *httpserver.Metrics
	log     *slog.Logger
	svc     *service.Service
}

func (o *observer) Dropped(camera domain.ID, n int) { o.metrics.MediaDropped(n) }
func (o *observer) Delivered(units, bytes int)      { o.metrics.MediaDelivered(units, bytes) }

func (o *observer) Overrate(camera domain.ID) {
	o.metrics.IngestEvent("over_bitrate_cap")
	o.log.Warn("camera stream closed: above the bitrate cap", "camera", camera)
}

func (o *observer) Provenance(a media.Alarm) {
	o.metrics.ProvenanceViolation()
	o.log.Error("PROVENANCE ALARM: a frame of another origin reached a viewer's writer; dropped it and closed the viewer",
		"grant_camera", a.Grant.Camera, "grant_generation", a.Grant.Generation,
		"frame_camera", a.Got.Camera, "frame_generation", a.Got.Generation, "principal", a.Principal)
	if o.svc != nil {
		o.svc.ProvenanceAlarm(context.Background(), a.Principal, a.Grant, a.Got)
	}
}

// liveHosts names the viewer RTSPS certificate's hosts.
func liveHosts(cfg config.Config, u string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	for _, x := range []string{cfg.PublicURL(), u} {
		if pu, err := url.Parse(x); err == nil && pu.Hostname() != "" {
			hosts = append(hosts, pu.Hostname())
		}
	}
	return dedupe(hosts)
}

// purgeGrants deletes OAuth grants an hour after they expired, every ten
// minutes, until ctx ends.
func purgeGrants(ctx context.Context, oa *oauth.Server, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if _, err := oa.Purge(ctx, now.Add(-time.Hour)); err != nil && ctx.Err() == nil {
				log.Warn("purge expired OAuth grants", "err", err)
			}
		}
	}
}
