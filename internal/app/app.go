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
	"sync"
	"time"

	"github.com/camvault/camvault/internal/api"
	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/control"
	"github.com/camvault/camvault/internal/devicehub"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/ingest"
	"github.com/camvault/camvault/internal/integrations/smarthome"
	"github.com/camvault/camvault/internal/live/hls"
	"github.com/camvault/camvault/internal/live/rtsp"
	"github.com/camvault/camvault/internal/live/whep"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/netguard"
	"github.com/camvault/camvault/internal/oauth"
	"github.com/camvault/camvault/internal/pki"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
	"github.com/camvault/camvault/internal/store/postgres"
	"github.com/camvault/camvault/internal/store/sqlite"
	"github.com/camvault/camvault/internal/webui"
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
}

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

// NewService opens the store and builds the service for cfg, for commands
// that act on the data dir directly (camvault admin). Close the store when
// done.
func NewService(ctx context.Context, cfg config.Config, log *slog.Logger, events func(string, domain.Result), devices service.DeviceConfig) (*service.Service, store.Store, error) {
	return newService(ctx, cfg, log, events, devices, nil, service.LiveConfig{}, nil)
}

func newService(ctx context.Context, cfg config.Config, log *slog.Logger, onEvent func(string, domain.Result), devices service.DeviceConfig, hub *media.Hub, live service.LiveConfig, bus events.Bus) (*service.Service, store.Store, error) {
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
	base := cfg.PublicURL()
	var passkeys *service.WebAuthnConfig
	if u, err := url.Parse(base); err == nil && net.ParseIP(u.Hostname()) == nil {
		passkeys = &service.WebAuthnConfig{RPID: u.Hostname(), RPName: "camvault", Origins: []string{base}}
	} else if log != nil {
		log.Warn("passkeys are off: they need a host name in the public URL, not an IP address (set --base-url)")
	}
	pullNets, err := netguard.Parse(cfg.Live.PullNetworks)
	if err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("live.pull_networks: %w", err)
	}
	ar, err := openArchive(cfg, st, key, log)
	if err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("recordings: %w", err)
	}
	svc, err := service.New(service.Config{
		Recordings: ar,
		Store:      st, Logger: log, BaseURL: base, SecretKey: key,
		SessionIdle: time.Duration(cfg.Auth.SessionIdle), SessionMax: time.Duration(cfg.Auth.SessionMax),
		OpenSignup: cfg.Auth.OpenSignup, Events: onEvent, WebAuthn: passkeys, Bus: bus, Devices: devices, Media: hub, Live: live,
		PullNetworks: pullNets, FetchSnapshot: ingest.FetchSnapshot,
	})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return svc, st, nil
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, o Options) error {
	cfg, log := o.Config, o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer l.Close()
	if cfg.BaseURL == "" {
		// Port 0 picks a free port: links must name the real one.
		_, port, _ := net.SplitHostPort(l.Addr().String())
		host, _, _ := net.SplitHostPort(cfg.Listen)
		cfg.Listen = net.JoinHostPort(host, port)
	}
	var tlsConf *tls.Config
	if cfg.TLS.Enabled() {
		if tlsConf, err = serverTLS(cfg, o.Stderr); err != nil {
			return err
		}
	}
	metrics := httpserver.NewNodeMetrics(nodeID(cfg))
	var devices service.DeviceConfig
	var devL net.Listener
	if cfg.Devices.Listen != "" {
		if devL, err = net.Listen("tcp", cfg.Devices.Listen); err != nil {
			return fmt.Errorf("device listener: %w", err)
		}
		defer devL.Close()
		cfg.Devices.Listen = devL.Addr().String() // the real port, when it was 0
		if devices.CA, err = deviceCA(cfg); err != nil {
			return err
		}
		_, port, _ := net.SplitHostPort(devL.Addr().String())
		devices.URL = cfg.DeviceURL(port)
		devices.RatePerSecond, devices.Burst = cfg.Devices.Rate, cfg.Devices.Burst
		devices.MaxUnclaimed, devices.MaxUnclaimedPerAddr = cfg.Devices.MaxUnclaimed, cfg.Devices.MaxUnclaimedPerAddress
	}
	var liveL net.Listener
	var live service.LiveConfig
	if cfg.Live.RTSPListen != "" && devL != nil {
		if liveL, err = net.Listen("tcp", cfg.Live.RTSPListen); err != nil {
			return fmt.Errorf("live RTSPS listener: %w", err)
		}
		defer liveL.Close()
		_, port, _ := net.SplitHostPort(liveL.Addr().String())
		live.RTSPURL = cfg.LiveRTSPURL(port)
	}
	if devL != nil {
		live.WHEPURL = cfg.PublicURL() + "/whep"
		live.HLSURL = cfg.PublicURL() + "/hls"
	}
	dem := &demand{}
	obs := &observer{metrics: metrics, log: log.With("component", "media")}
	hub := media.New(media.Config{Demand: dem, Observer: obs})
	bus, closeBus, err := openBus(cfg, log)
	if err != nil {
		return err
	}
	defer closeBus()
	svc, st, err := newService(ctx, cfg, log, metrics.Event, devices, hub, live, bus)
	if err != nil {
		return err
	}
	defer st.Close()
	obs.svc = svc
	dem.pulling(svc, hub, log.With("component", "pull"))
	defer dem.close()

	key, err := oauthKey(cfg)
	if err != nil {
		return err
	}
	oa, err := oauth.New(oauth.Config{Store: st, Secret: key, CheckLink: svc.CheckLink, Issuer: cfg.PublicURL(), Logger: log.With("component", "oauth"),
		AccessTokenTTL: time.Duration(cfg.OAuth.AccessTokenTTL), RefreshTokenTTL: time.Duration(cfg.OAuth.RefreshTokenTTL)})
	if err != nil {
		return err
	}
	ui, err := webui.New(webui.Config{Service: svc, OAuth: oa, Logger: log, TLS: cfg.TLS.Enabled(), SessionMax: time.Duration(cfg.Auth.SessionMax)})
	if err != nil {
		return err
	}
	routes := api.New(api.Config{Service: svc, Logger: log, TLS: cfg.TLS.Enabled(), SessionMax: time.Duration(cfg.Auth.SessionMax)}).Routes()
	routes = append(routes, ui.Routes()...)
	checks := []readiness{{"store", svc.Ready}}
	if r, ok := bus.(interface{ Ready() error }); ok {
		checks = append(checks, readiness{"bus", func(context.Context) error { return r.Ready() }})
	}
	if cfg.Blob.S3.Enabled() {
		blobs, err := openBlobs(cfg)
		if err != nil {
			return fmt.Errorf("recordings: %w", err)
		}
		if p, ok := blobs.(interface{ Ping(context.Context) error }); ok {
			checks = append(checks, readiness{"blob", p.Ping})
		}
	}
	routes = append(routes, opsRoutes(metrics, checks)...)
	routes = append(routes, oa.Routes()...)
	verify := func(ctx context.Context, token string) (domain.ID, domain.ID, error) {
		g, err := oa.Verify(ctx, token)
		return g.Link, g.Account, err
	}
	routes = append(routes, smarthome.New(smarthome.Config{Service: svc, Verify: verify, Logger: log.With("component", "smarthome")}).Routes()...)
	if live.WHEPURL != "" {
		wh, err := whep.New(whep.Config{Service: svc, Logger: log.With("component", "whep")})
		if err != nil {
			return err
		}
		defer wh.Close()
		routes = append(routes, wh.Routes()...)
	}
	if live.HLSURL != "" {
		hs := hls.New(hls.Config{Service: svc, Logger: log.With("component", "hls")})
		defer hs.Close()
		// LL-HLS requests block until the next part; end them when the
		// server stops so that graceful shutdown does not wait on them.
		stopped := ctx.Done()
		go func() { <-stopped; hs.Close() }()
		routes = append(routes, hs.Routes()...)
	}
	srv, err := httpserver.New(httpserver.Config{Routes: routes, Auth: svc, Logger: log, Metrics: metrics, TLS: cfg.TLS.Enabled()})
	if err != nil {
		return err
	}
	if setupURL, ok, err := svc.PrepareSetup(ctx); err != nil {
		return err
	} else if ok {
		fmt.Fprintf(o.Stderr, "\ncamvault: no account exists yet. Open this one-time setup link within 1 hour\n"+
			"to create the first account (it works once; a restart makes a new one):\n\n    %s\n\n", setupURL)
	}
	var background sync.WaitGroup
	defer background.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	background.Go(func() {
		chore(ctx, st, "oauth.purge", choreRetry, log, func(ctx context.Context) { purgeGrants(ctx, oa, log) })
	})
	background.Go(func() {
		chore(ctx, st, "housekeeping", choreRetry, log, func(ctx context.Context) { housekeep(ctx, svc, log) })
	})
	if err := startRecording(ctx, cfg, st, svc, svc.Archive(), log, background.Go); err != nil {
		return fmt.Errorf("recordings: %w", err)
	}
	// Links revoked by another process (the admin command) end their
	// streams here too.
	background.Go(func() { svc.WatchRevokedLinks(ctx, 250*time.Millisecond) })
	// Cameras no home claimed within a day go; the anonymous audit
	// summary is written.
	background.Go(func() { svc.RunMaintenance(ctx, 10*time.Minute) })
	// Platforms that take change notifications hear of their links'
	// cameras.
	reporter := smarthome.NewReporter(svc, smarthome.HTTPNotifier{}, time.Duration(cfg.OAuth.NotifyInterval), log.With("component", "notify"))
	background.Go(func() { chore(ctx, st, "smarthome.notify", choreRetry, log, reporter.Run) })
	errc := make(chan error, 2)
	servers := 1
	if devL != nil {
		dh, serveDevices, err := deviceListener(cfg, devices, svc, metrics, log, hub, dem)
		if err != nil {
			return err
		}
		defer dh.Close()
		servers++
		go func() { errc <- serveDevices(ctx, devL) }()
	}
	if liveL != nil {
		lts := tlsConf
		if lts == nil {
			cert, err := devices.CA.ServerCertificate(liveHosts(cfg, live.RTSPURL), time.Now())
			if err != nil {
				return err
			}
			lts = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		}
		lsrv, err := rtsp.Start(rtsp.Config{Service: svc, Logger: log.With("component", "live-rtsp"), TLS: lts}, liveL)
		if err != nil {
			return err
		}
		defer lsrv.Close()
		log.Info("live RTSPS for viewers", "url", live.RTSPURL)
	}
	if o.Started != nil {
		o.Started(Parts{Service: svc, Media: hub, DataDir: cfg.DataDir})
	}
	log.Info("camvault serving", "url", cfg.PublicURL(), "store", storeKind(cfg.StoreURL()))
	if o.Ready != nil {
		o.Ready(cfg.PublicURL())
	}
	go func() { errc <- httpserver.Serve(ctx, l, srv, tlsConf, log, 10*time.Second) }()
	var first error
	for range servers {
		err := <-errc
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		if first == nil && err != nil {
			first = err
		}
		cancel() // one server down takes the other with it
	}
	log.Info("camvault stopped")
	return first
}

// deviceListener builds the device hub and returns it with a function
// that serves the device listener (mutual TLS) on a listener.
func deviceListener(cfg config.Config, devices service.DeviceConfig, svc *service.Service, metrics *httpserver.Metrics, log *slog.Logger, media *media.Hub, dem *demand) (*devicehub.Hub, func(context.Context, net.Listener) error, error) {
	dlog := log.With("component", "devices")
	hub := devicehub.New(devicehub.Config{Service: svc, Logger: dlog, Sessions: metrics.DeviceSessions, Hello: dem.hello})
	svc.SetDevicePresence(hub)
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	for _, u := range []string{cfg.PublicURL(), devices.URL} {
		if pu, err := url.Parse(u); err == nil && pu.Hostname() != "" {
			hosts = append(hosts, pu.Hostname())
		}
	}
	if h, _, err := net.SplitHostPort(cfg.Devices.Listen); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
		hosts = append(hosts, h)
	}
	cert, err := devices.CA.ServerCertificate(dedupe(hosts), time.Now())
	if err != nil {
		return nil, nil, err
	}
	srv, err := httpserver.New(httpserver.Config{Routes: hub.Routes(), Auth: svc, Logger: dlog, Metrics: metrics, TLS: true})
	if err != nil {
		return nil, nil, err
	}
	dlog.Info("device listener", "url", devices.URL, "addr", cfg.Devices.Listen)
	var ing *ingest.Server
	if cfg.Devices.IngestListen != "" {
		il, err := net.Listen("tcp", cfg.Devices.IngestListen)
		if err != nil {
			return nil, nil, fmt.Errorf("ingest listener: %w", err)
		}
		_, port, _ := net.SplitHostPort(il.Addr().String())
		ingestURL := cfg.IngestURL(port)
		ing, err = ingest.Start(ingest.Config{Service: svc, Hub: media, Logger: log.With("component", "ingest"),
			TLS: hub.TLSConfig(cert, devices.CA), Events: metrics.IngestEvent}, il)
		if err != nil {
			il.Close()
			return nil, nil, err
		}
		dem.connect(hub, media, ingestURL)
		dlog.Info("video ingest", "url", ingestURL)
	}
	return hub, func(ctx context.Context, l net.Listener) error {
		if ing != nil {
			defer ing.Close()
		}
		return httpserver.ServeStreams(ctx, l, srv, hub.TLSConfig(cert, devices.CA), dlog, 5*time.Second)
	}, nil
}

// demand asks devices to stream while their camera has viewers, and pulls
// IP cameras the server reads itself.
type demand struct {
	mu     sync.Mutex // guards the fields below
	dev    *devicehub.Hub
	media  *media.Hub
	ingest string
	svc    *service.Service
	log    *slog.Logger
	pulls  map[domain.CameraRef]context.CancelFunc
	wg     sync.WaitGroup
}

// pulling sets up pulled cameras.
func (d *demand) pulling(svc *service.Service, m *media.Hub, log *slog.Logger) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.svc, d.media, d.log, d.pulls = svc, m, log, map[domain.CameraRef]context.CancelFunc{}
}

// startPull starts pulling ref if it is a pulled camera; it reports
// whether it is.
func (d *demand) startPull(ref domain.CameraRef) bool {
	d.mu.Lock()
	svc, m, log := d.svc, d.media, d.log
	d.mu.Unlock()
	if svc == nil {
		return false
	}
	source, ok := svc.PullSource(context.Background(), ref)
	if !ok {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, running := d.pulls[ref]; running {
		return true
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.pulls[ref] = cancel
	current := func() bool { _, ok := svc.PullSource(ctx, ref); return ok }
	d.wg.Go(func() {
		ingest.Pull(ctx, m, ref, source, svc.PullNetworks(), log, current)
		d.stopPull(ref)
	})
	return true
}

func (d *demand) stopPull(ref domain.CameraRef) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	cancel, ok := d.pulls[ref]
	if ok {
		cancel()
		delete(d.pulls, ref)
	}
	return ok
}

// close stops every puller and waits.
func (d *demand) close() {
	d.mu.Lock()
	for ref, cancel := range d.pulls {
		cancel()
		delete(d.pulls, ref)
	}
	d.mu.Unlock()
	d.wg.Wait()
}

func (d *demand) connect(dev *devicehub.Hub, m *media.Hub, ingestURL string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dev, d.media, d.ingest = dev, m, ingestURL
}

func (d *demand) parts() (*devicehub.Hub, *media.Hub, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dev, d.media, d.ingest
}

// Want implements media.Demand.
func (d *demand) Want(ref domain.CameraRef) {
	if d.startPull(ref) {
		return
	}
	dev, _, ingestURL := d.parts()
	if dev != nil {
		dev.Send(ref.Camera, control.Message{Type: control.TypeStartStream,
			Stream: &control.Stream{Profile: "main", URL: ingestURL + "/cameras/" + string(ref.Camera)}})
	}
}

// Release implements media.Demand. The hub decides to release and calls
// Release outside its lock, so a viewer may have arrived in between (and
// Want been sent already): then the stream stays.
func (d *demand) Release(ref domain.CameraRef) {
	if _, m, _ := d.parts(); m != nil && m.Wanted(ref) {
		return
	}
	if d.stopPull(ref) {
		return
	}
	if dev, _, _ := d.parts(); dev != nil {
		dev.Send(ref.Camera, control.Message{Type: control.TypeStopStream})
	}
}

// hello asks a device that just connected to stream if its camera has
// viewers waiting.
func (d *demand) hello(cam domain.Camera) {
	if _, m, _ := d.parts(); m != nil && m.Wanted(cam.Ref()) {
		d.Want(cam.Ref())
	}
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
