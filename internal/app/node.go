package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/api"
	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/devicehub"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/events/outbox"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/ingest"
	"github.com/camvault/camvault/internal/integrations/smarthome"
	"github.com/camvault/camvault/internal/live"
	"github.com/camvault/camvault/internal/live/hls"
	"github.com/camvault/camvault/internal/live/rtsp"
	"github.com/camvault/camvault/internal/live/whep"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/oauth"
	"github.com/camvault/camvault/internal/placement"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
	"github.com/camvault/camvault/internal/webui"
)

// The adapters' own views of the service are what the service offers.
var (
	_ devicehub.Service         = (*service.Service)(nil)
	_ ingest.Service            = (*service.Service)(nil)
	_ ingest.Sources            = (*service.Service)(nil)
	_ ingest.Devices            = (*devicehub.Hub)(nil)
	_ service.DevicePresence    = (*devicehub.Hub)(nil)
	_ service.SnapshotRequester = (*devicehub.Hub)(nil)
	_ service.RemoteRecorders   = devicehub.Recorders{}
	_ smarthome.Service         = (*service.Service)(nil)
	_ smarthome.Targets         = (*service.Service)(nil)
)

// node is a built server: its listeners and parts, ready to serve.
type node struct {
	o   Options
	cfg config.Config
	log *slog.Logger

	l, devL, liveL net.Listener // devL and liveL are nil when not configured
	tls            *tls.Config  // nil: plain HTTP
	live           service.LiveConfig
	devices        service.DeviceConfig
	metrics        *httpserver.Metrics

	st      store.Store
	svc     *service.Service
	archive *record.Archive
	media   *media.Hub
	viewers *live.Viewers
	outbox  *outbox.Bus // nil without a networked bus
	oa      *oauth.Server
	srv     *httpserver.Server
	hls     *hls.Server // nil without live video
	// devSrv serves the device listener; nil without one.
	devSrv  *httpserver.Server
	devTLS  *tls.Config
	devLog  *slog.Logger
	closers []func() // run in reverse order by close

	// dir says which node holds which camera; node is this one's name
	// in it and instance this process's, hub the device hub (nil without
	// a device listener).
	dir      placement.Directory
	node     string
	instance string
	hub      *devicehub.Hub
}

// onClose adds f to what close runs.
func (n *node) onClose(f func()) { n.closers = append(n.closers, f) }

// close runs the closers, the last added first.
func (n *node) close() {
	for i := len(n.closers) - 1; i >= 0; i-- {
		n.closers[i]()
	}
	n.closers = nil
}

// build opens the listeners and constructs the server's parts in
// dependency order. On error it closes what it opened.
func build(ctx context.Context, o Options) (_ *node, err error) {
	n := &node{o: o, cfg: o.Config, log: o.Logger}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.o.Stderr == nil {
		n.o.Stderr = io.Discard
	}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if err := n.listen(); err != nil {
		return nil, err
	}
	if n.cfg.TLS.Enabled() {
		if n.tls, err = serverTLS(n.cfg, n.o.Stderr); err != nil {
			return nil, err
		}
	}
	cfg, log := n.cfg, n.log
	n.metrics = httpserver.NewNodeMetrics(nodeID(cfg))
	// The stream hub asks demand for streams, demand asks the service
	// and the device hub, and both are built on the stream hub: demand
	// comes first and is connected to them once they exist.
	dem := ingest.NewDemand(log.With("component", "pull"))
	obs := &observer{metrics: n.metrics, log: log.With("component", "media")}
	n.media = media.New(media.Config{Demand: dem, Observer: obs})
	key, st, err := openData(ctx, cfg)
	if err != nil {
		return nil, err
	}
	n.st = st
	n.onClose(func() { st.Close() })
	bus, closeBus, err := openBus(cfg, log)
	if err != nil {
		return nil, err
	}
	n.onClose(closeBus)
	if cfg.Bus.NATS != "" {
		// Withdrawals also go through the store's outbox, which every
		// node polls: they arrive when the bus does not, and a node
		// that hears neither stops its streams.
		ob := outbox.New(outbox.Config{Inner: bus, Log: st, Hearing: func() bool { return busReady(bus) == nil },
			Deaf: func(deaf bool) { n.viewers.FailClosed(deaf) }, Logger: log.With("component", "outbox")})
		n.onClose(ob.Close)
		n.outbox, bus = ob, ob
	}
	dir, closeDir, err := openPlacement(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	n.onClose(closeDir)
	n.dir, n.node, n.instance = dir, placementNode(cfg), newInstance()
	if cfg.ClusterMode() {
		if err := checkNodeID(ctx, cfg, dir, n.node, n.instance); err != nil {
			return nil, err
		}
		n.live.Elsewhere = liveElsewhere(dir, n.node, n.holds) // viewers go to the camera's node
	}
	n.viewers = live.New(live.Config{Hub: n.media, Bus: bus, Logger: log.With("component", "live")})
	n.onClose(n.viewers.Close)
	if n.svc, n.archive, err = newService(cfg, key, st, log, n.metrics.Event, n.devices, n.media, n.live, bus, n.viewers.Apply); err != nil {
		return nil, err
	}
	obs.svc = n.svc
	if cfg.ClusterMode() {
		// Triggers go to the recorder of the camera's node.
		n.svc.SetRemoteRecorders(devicehub.Recorders{Placement: dir, Node: n.node})
	}
	// A deletion of recordings at any node bars what this node's
	// recorder had begun of them.
	n.onClose(bus.Subscribe(n.svc.ForgetDeleted))
	parts := ingest.DemandParts{Media: n.media, Sources: n.svc}
	n.onClose(dem.Close)

	if cfg.ServesAPI() { // media nodes hold no OAuth key
		oaKey, err := oauthKey(cfg)
		if err != nil {
			return nil, err
		}
		n.oa, err = oauth.New(oauth.Config{Store: n.st, Secret: oaKey, CheckLink: n.svc.CheckLink, Issuer: cfg.PublicURL(), Logger: log.With("component", "oauth"),
			// Failed client authentications count at every node alike.
			Throttle:       n.svc.SharedThrottle(),
			AccessTokenTTL: time.Duration(cfg.OAuth.AccessTokenTTL), RefreshTokenTTL: time.Duration(cfg.OAuth.RefreshTokenTTL)})
		if err != nil {
			return nil, err
		}
	}
	routes, err := n.routes(bus)
	if err != nil {
		return nil, err
	}
	if n.srv, err = httpserver.New(httpserver.Config{Routes: routes, Auth: n.svc, Logger: log, Metrics: n.metrics, TLS: cfg.TLS.Enabled()}); err != nil {
		return nil, err
	}
	if n.devL != nil {
		if parts.Devices, parts.URL, err = n.deviceListener(dem); err != nil {
			return nil, err
		}
	}
	dem.Connect(parts)
	return n, nil
}

// listen opens the web listener and, when configured on a node serving
// media, the device and viewer RTSPS listeners, and works out the URLs
// they are reached at. An api node opens neither but enrols devices and
// hands out viewers' URLs: the media nodes' behind the balancers.
func (n *node) listen() error {
	cfg := &n.cfg
	var err error
	if n.l, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	n.onClose(func() { n.l.Close() })
	if cfg.BaseURL == "" {
		// Port 0 picks a free port: links must name the real one.
		_, port, _ := net.SplitHostPort(n.l.Addr().String())
		host, _, _ := net.SplitHostPort(cfg.Listen)
		cfg.Listen = net.JoinHostPort(host, port)
	}
	if cfg.Devices.Listen != "" {
		if cfg.ServesMedia() {
			if n.devL, err = net.Listen("tcp", cfg.Devices.Listen); err != nil {
				return fmt.Errorf("device listener: %w", err)
			}
			n.onClose(func() { n.devL.Close() })
			cfg.Devices.Listen = n.devL.Addr().String() // the real port, when it was 0
		}
		if n.devices.CA, err = deviceCA(*cfg); err != nil {
			return err
		}
		_, port, _ := net.SplitHostPort(cfg.Devices.Listen)
		n.devices.URL = cfg.DeviceURL(port)
		n.devices.RatePerSecond, n.devices.Burst = cfg.Devices.Rate, cfg.Devices.Burst
		n.devices.MaxUnclaimed, n.devices.MaxUnclaimedPerAddr = cfg.Devices.MaxUnclaimed, cfg.Devices.MaxUnclaimedPerAddress
	}
	if cfg.Live.RTSPListen != "" && n.devL != nil {
		if n.liveL, err = net.Listen("tcp", cfg.Live.RTSPListen); err != nil {
			return fmt.Errorf("live RTSPS listener: %w", err)
		}
		n.onClose(func() { n.liveL.Close() })
		_, port, _ := net.SplitHostPort(n.liveL.Addr().String())
		n.live.RTSPURL = cfg.LiveRTSPURL(port)
	}
	if cfg.Devices.Listen != "" {
		// On an api node, the HTTP balancer sends these to media nodes.
		n.live.WHEPURL = cfg.PublicURL() + "/whep"
		n.live.HLSURL = cfg.PublicURL() + "/hls"
	}
	if cfg.Devices.Listen != "" && !cfg.ServesMedia() {
		n.live.RTSPURL = cfg.Live.RTSPURL // only when the media nodes' RTSPS address is named
	}
	return nil
}

// routes builds the web listener's adapters and returns their routes:
// the UI, the API, OAuth and integrations on nodes serving the API, live
// video on nodes serving media, health and metrics on all.
func (n *node) routes(bus events.Bus) ([]httpserver.Route, error) {
	cfg, log, svc := n.cfg, n.log, n.svc
	var routes []httpserver.Route
	if cfg.ServesAPI() {
		ui, err := webui.New(webui.Config{Service: svc, OAuth: n.oa, Logger: log, TLS: cfg.TLS.Enabled(), SessionMax: time.Duration(cfg.Auth.SessionMax)})
		if err != nil {
			return nil, err
		}
		routes = api.New(api.Config{Service: svc, Logger: log, TLS: cfg.TLS.Enabled(), SessionMax: time.Duration(cfg.Auth.SessionMax)}).Routes()
		routes = append(routes, ui.Routes()...)
		routes = append(routes, n.oa.Routes()...)
		verify := func(ctx context.Context, token string) (domain.ID, domain.ID, error) {
			g, err := n.oa.Verify(ctx, token)
			return g.Link, g.Account, err
		}
		routes = append(routes, smarthome.New(smarthome.Config{Service: svc, Verify: verify, Logger: log.With("component", "smarthome")}).Routes()...)
	}
	checks := []readiness{{"store", svc.Ready}}
	if r, ok := bus.(interface{ Ready() error }); ok {
		checks = append(checks, readiness{"bus", func(context.Context) error { return r.Ready() }})
	}
	if cfg.Blob.S3.Enabled() {
		blobs, err := openBlobs(cfg)
		if err != nil {
			return nil, fmt.Errorf("recordings: %w", err)
		}
		if p, ok := blobs.(interface{ Ping(context.Context) error }); ok {
			checks = append(checks, readiness{"blob", p.Ping})
		}
	}
	routes = append(routes, opsRoutes(n.metrics, checks)...)
	if n.live.WHEPURL != "" && cfg.ServesMedia() {
		wh, err := whep.New(whep.Config{Redeemer: svc, Live: n.viewers, Logger: log.With("component", "whep")})
		if err != nil {
			return nil, err
		}
		n.onClose(wh.Close)
		routes = append(routes, wh.Routes()...)
	}
	if n.live.HLSURL != "" && cfg.ServesMedia() {
		n.hls = hls.New(hls.Config{Redeemer: svc, Live: n.viewers, Logger: log.With("component", "hls")})
		n.onClose(n.hls.Close)
		routes = append(routes, n.hls.Routes()...)
	}
	return routes, nil
}

// deviceListener builds the device hub, the device listener's server and,
// when configured, the ingest server; it returns the device hub and the
// URL agents push video to ("" without ingest).
func (n *node) deviceListener(dem *ingest.Demand) (*devicehub.Hub, string, error) {
	cfg, devices, log := n.cfg, n.devices, n.log
	dlog := log.With("component", "devices")
	hub := devicehub.New(devicehub.Config{Service: n.svc, Logger: dlog, Sessions: n.metrics.DeviceSessions, Hello: dem.Hello,
		Placement: n.dir, Node: n.node, Snapshot: n.svc.HeldSnapshot, Trigger: n.svc.HeldTrigger,
		// A camera that goes to another node takes its viewers here
		// along: that node starts its stream, and they ask again.
		Watched: func(c domain.Camera) bool { return n.media.Wanted(c.Ref()) },
		Warm:    func(c domain.Camera) { n.media.Warm(c.Ref()) },
		Moved:   func(c domain.ID) { n.media.Move(c) }})
	n.onClose(hub.Close)
	if err := hub.Serve(); err != nil {
		return nil, "", err
	}
	n.hub = hub
	// The service tells devices of releases and renames through the hub,
	// which is built on the service.
	n.svc.SetDevicePresence(hub)
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	for _, u := range []string{cfg.PublicURL(), devices.URL} {
		if pu, err := url.Parse(u); err == nil && pu.Hostname() != "" {
			hosts = append(hosts, pu.Hostname())
		}
	}
	if h, _, err := net.SplitHostPort(cfg.Devices.Listen); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
		hosts = append(hosts, h)
	}
	cert, err := deviceServerCert(cfg, devices.CA, dedupe(hosts))
	if err != nil {
		return nil, "", err
	}
	if n.devSrv, err = httpserver.New(httpserver.Config{Routes: hub.Routes(), Auth: n.svc, Logger: dlog, Metrics: n.metrics, TLS: true}); err != nil {
		return nil, "", err
	}
	n.devTLS, n.devLog = hub.TLSConfig(cert, devices.CA), dlog
	dlog.Info("device listener", "url", devices.URL, "addr", cfg.Devices.Listen)
	if cfg.Devices.IngestListen == "" {
		return hub, "", nil
	}
	il, err := net.Listen("tcp", cfg.Devices.IngestListen)
	if err != nil {
		return nil, "", fmt.Errorf("ingest listener: %w", err)
	}
	_, port, _ := net.SplitHostPort(il.Addr().String())
	ingestURL := cfg.IngestURL(port)
	ing, err := ingest.Start(ingest.Config{Service: n.svc, Hub: n.media, Logger: log.With("component", "ingest"),
		TLS: hub.TLSConfig(cert, devices.CA), Events: n.metrics.IngestEvent}, il)
	if err != nil {
		il.Close()
		return nil, "", err
	}
	n.onClose(ing.Close)
	dlog.Info("video ingest", "url", ingestURL)
	return hub, ingestURL, nil
}

// serve prints the setup link if no account exists yet, starts the
// background work and the viewer RTSPS server, and serves the web and
// device listeners until ctx ends or one of them fails; it returns when
// all have stopped and the background work has ended.
func (n *node) serve(ctx context.Context) error {
	cfg, log, svc, st := n.cfg, n.log, n.svc, n.st
	if cfg.ServesAPI() { // the link leads to the UI, which media nodes do not serve
		if setupURL, ok, err := svc.PrepareSetup(ctx); err != nil {
			return err
		} else if ok {
			fmt.Fprintf(n.o.Stderr, "\ncamvault: no account exists yet. Open this one-time setup link within 1 hour\n"+
				"to create the first account (it works once; a restart makes a new one):\n\n    %s\n\n", setupURL)
		}
	}
	var background sync.WaitGroup
	defer background.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if n.hls != nil {
		// LL-HLS requests block until the next part; end them when the
		// server stops so that graceful shutdown does not wait on them.
		stop := context.AfterFunc(ctx, n.hls.Close)
		defer stop()
	}
	if n.oa != nil {
		background.Go(func() {
			chore(ctx, st, "oauth.purge", choreRetry, log, func(ctx context.Context) { purgeGrants(ctx, n.oa, log) })
		})
	}
	background.Go(func() {
		chore(ctx, st, "housekeeping", choreRetry, log, func(ctx context.Context) { housekeep(ctx, svc, st, log) })
	})
	var owns func(domain.ID) bool
	if cfg.ClusterMode() {
		owns = recordsHere(n.dir, n.node, n.holds)
	}
	if err := startRecording(ctx, cfg, st, svc, n.archive, n.media, owns, log, background.Go); err != nil {
		return fmt.Errorf("recordings: %w", err)
	}
	// Links revoked by another process (the admin command) end their
	// streams here too.
	if n.outbox != nil {
		background.Go(func() { n.outbox.Run(ctx) })
	}
	background.Go(func() { svc.WatchRevokedLinks(ctx, 250*time.Millisecond) })
	// Other nodes learn that this one is alive, where viewers reach it
	// and whether it drains (on SIGUSR1).
	background.Go(func() { reportNode(ctx, n.dir, n.report, n.instance, log) })
	background.Go(func() { onDrainSignal(ctx, n.drain) })
	// Cameras no home claimed within a day go; the anonymous audit
	// summary is written.
	background.Go(func() { svc.RunMaintenance(ctx, 10*time.Minute) })
	// Platforms that take change notifications hear of their links'
	// cameras.
	reporter := smarthome.NewReporter(svc, smarthome.HTTPNotifier{}, time.Duration(cfg.OAuth.NotifyInterval), log.With("component", "notify"))
	background.Go(func() { chore(ctx, st, "smarthome.notify", choreRetry, log, reporter.Run) })
	errc := make(chan error, 2)
	servers := 1
	if n.devSrv != nil {
		servers++
		go func() { errc <- httpserver.ServeStreams(ctx, n.devL, n.devSrv, n.devTLS, n.devLog, 5*time.Second) }()
	}
	if n.liveL != nil {
		if err := n.serveLive(); err != nil {
			cancel()
			for range servers - 1 {
				<-errc
			}
			return err
		}
	}
	if n.o.Started != nil {
		n.o.Started(Parts{Service: svc, Media: n.media, DataDir: cfg.DataDir, Drain: n.drain})
	}
	log.Info("camvault serving", "url", cfg.PublicURL(), "store", storeKind(cfg.StoreURL()))
	if n.o.Ready != nil {
		n.o.Ready(cfg.PublicURL())
	}
	go func() { errc <- httpserver.Serve(ctx, n.l, n.srv, n.tls, log, 10*time.Second) }()
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

// report is this node's state for the placement directory.
func (n *node) report() placement.Node {
	r := placement.Node{ID: n.node, Instance: n.instance, PublicURL: n.cfg.NodePublicURL(), RTSPURL: n.live.RTSPURL, Streams: n.media.Stats().Readers}
	if n.hub != nil {
		r.Cameras, r.Draining = n.hub.Sessions(), n.hub.Draining()
	}
	return r
}

// holds reports whether this node holds the camera's control session (an
// api node holds none). The hub is made after the service that asks, and
// before anything is served.
func (n *node) holds(camera domain.ID) bool { return n.hub != nil && n.hub.Holds(camera) }

// drain makes the node take no new cameras and sends its agents to
// connect again, to another node; it reports so at once.
func (n *node) drain() {
	if n.hub == nil {
		return
	}
	n.log.Info("draining: control sessions end and no new ones are taken")
	n.hub.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.dir.Report(ctx, n.report())
}

// serveLive starts the viewers' RTSPS server on its listener, with the
// web listener's certificate or else one of the device CA.
func (n *node) serveLive() error {
	lts := n.tls
	if lts == nil {
		cert, err := deviceServerCert(n.cfg, n.devices.CA, liveHosts(n.cfg, n.live.RTSPURL))
		if err != nil {
			return err
		}
		lts = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	lsrv, err := rtsp.Start(rtsp.Config{Redeemer: n.svc, Live: n.viewers, Logger: n.log.With("component", "live-rtsp"), TLS: lts}, n.liveL)
	if err != nil {
		return err
	}
	n.onClose(lsrv.Close)
	n.log.Info("live RTSPS for viewers", "url", n.live.RTSPURL)
	return nil
}
