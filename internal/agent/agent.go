// Package agent is camvault's camera-side agent. It gives the camera its
// own identity — an ECDSA P-256 key created on first start and never sent
// anywhere — enrols it with the server, shows the one-time claim code (in
// the log, as a QR code in the terminal, and on a status page bound to
// loopback) until a home claims the camera, then fetches a client
// certificate for the camera's current ownership generation and keeps one
// outbound control channel to the server: a WebSocket over mutual TLS,
// with heartbeats and reconnects with exponential backoff and jitter.
//
// When the camera leaves its home (removal, transfer) the server retires
// its key, so the agent makes a new key, drops its certificate and server
// state, enrols afresh as a new camera and shows a new claim code: a copy
// of the old key (say, kept by the seller) is worth nothing. Reset wipes
// the key and state, after telling the server so that the old certificate
// dies at once.
//
// Typical use:
//
//	a, err := agent.New(agent.Config{Server: "https://cams.example.org", StateDir: dir, Source: src})
//	...
//	err = a.Run(ctx) // until ctx ends
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures an Agent.
type Config struct {
	// Server is the server's base URL (http(s)://host:port).
	Server string
	// StateDir keeps the device key, certificate and what the server
	// said; mode 0700.
	StateDir string
	// Source is where video comes from.
	Source Source
	// StatusListen is a loopback address for the status page; empty
	// turns it off.
	StatusListen string
	// Version is the agent's version, reported to the server.
	Version string
	Logger  *slog.Logger
	// Out receives the claim code and its QR code for a person to read.
	Out io.Writer
	// HTTPClient talks to Server; nil means a client with sane timeouts.
	HTTPClient *http.Client
	// ClaimPoll is how often an unclaimed agent asks whether it was
	// claimed; zero means 5 s.
	ClaimPoll time.Duration
	// MinBackoff and MaxBackoff bound reconnect delays; zero means 1 s
	// and 60 s.
	MinBackoff, MaxBackoff time.Duration
	// Heartbeat is how often the agent reports status and pings; zero
	// means control.PingInterval.
	Heartbeat time.Duration
	// MotionFactor is how many times the recent average size a
	// predicted picture must reach to count as motion; zero means 3,
	// negative turns the detector off.
	MotionFactor float64
}

// State names what the agent is doing.
type State string

// Agent states.
const (
	StateEnrolling    State = "enrolling"
	StateWaiting      State = "waiting_for_claim"
	StateConnecting   State = "connecting"
	StateConnected    State = "connected"
	StateReconnecting State = "reconnecting"
	StateStopped      State = "stopped"
)

// Status is a snapshot of the agent, for the status page and tests.
type Status struct {
	State          State     `json:"state"`
	CameraID       string    `json:"camera_id,omitempty"`
	Name           string    `json:"name,omitempty"`
	Generation     int64     `json:"generation,omitempty"`
	ClaimCode      string    `json:"claim_code,omitempty"`
	ClaimExpiresAt time.Time `json:"claim_expires_at,omitzero"`
	Server         string    `json:"server"`
	Source         string    `json:"source"`
	SourceHealth   string    `json:"source_health"`
	LastError      string    `json:"last_error,omitempty"`
	Connections    int       `json:"connections"`
	Streaming      bool      `json:"streaming"`
	UpdateVersion  string    `json:"update_available,omitempty"`
}

// Agent is a running camera agent.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	id      atomic.Pointer[identity] // the device key; replaced when the server retires it
	api     *client
	started time.Time

	statusAddr atomic.Value // string: the status page's address

	keyframe keyframeCache     // the newest keyframe pushed, for snapshots
	motion   chan motionReport // motion to report to the server

	mu     sync.Mutex // guards status
	status Status
}

// New loads or creates the device key in the state dir.
func New(cfg Config) (*Agent, error) {
	if cfg.Server == "" || !(strings.HasPrefix(cfg.Server, "http://") || strings.HasPrefix(cfg.Server, "https://")) {
		return nil, fmt.Errorf("agent: --server must be the server's http(s):// URL")
	}
	if cfg.StateDir == "" {
		return nil, errors.New("agent: --state-dir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.ClaimPoll == 0 {
		cfg.ClaimPoll = 5 * time.Second
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = time.Minute
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.MotionFactor == 0 {
		cfg.MotionFactor = 3
	}
	cfg.Server = strings.TrimRight(cfg.Server, "/")
	key, created, err := loadOrCreateKey(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if created {
		cfg.Logger.Info("created a new device key", "state_dir", cfg.StateDir)
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, started: time.Now(), motion: make(chan motionReport, 1)}
	a.id.Store(newIdentity(key))
	a.api = &client{base: cfg.Server, http: cfg.HTTPClient, id: &a.id, ver: cfg.Version}
	a.status = Status{State: StateEnrolling, Server: cfg.Server, Source: cfg.Source.String()}
	if st, err := loadServer(cfg.StateDir); err == nil {
		a.status.CameraID, a.status.Name, a.status.Generation = st.CameraID, st.Name, st.Generation
	}
	return a, nil
}

// Status returns a snapshot of the agent.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

func (a *Agent) update(f func(*Status)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(&a.status)
}

// Run runs the agent until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info("agent starting", "server", a.cfg.Server, "source", a.cfg.Source.String(), "version", a.cfg.Version)
	var wg sync.WaitGroup
	defer wg.Wait()
	if a.cfg.StatusListen != "" {
		stop, err := a.serveStatus(ctx, &wg)
		if err != nil {
			return err
		}
		defer stop()
	}
	wg.Go(func() { a.watchSource(ctx) })
	backoff := a.cfg.MinBackoff
	for ctx.Err() == nil {
		cert, err := a.ensureCertificate(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			backoff = a.wait(ctx, err, backoff)
			continue
		}
		began := time.Now()
		err = a.session(ctx, cert)
		if ctx.Err() != nil {
			break
		}
		switch {
		case errors.Is(err, errReleased):
			// The server retired our key with the camera's home.
			a.log.Info("the camera left its home; making a new device key and asking for a new claim code")
			if err := a.renewKey(); err != nil {
				backoff = a.wait(ctx, err, backoff)
				continue
			}
			backoff = a.cfg.MinBackoff
			continue
		case errors.Is(err, errRefused):
			// The server would not take our certificate: it may be of
			// an old generation, or expired. Ask for a current one.
			a.log.Warn("the server refused this device's certificate; asking for a new one")
			dropCert(a.cfg.StateDir)
		}
		switch {
		case errors.Is(err, errMoved):
			// The node drains and another takes the camera: connect
			// again at once, and soon again should the balancer send
			// us back to the draining node.
			backoff = min(a.cfg.MinBackoff, movedBackoff)
		case time.Since(began) > 30*time.Second:
			backoff = a.cfg.MinBackoff // it worked for a while: start over
		}
		backoff = a.wait(ctx, err, backoff)
	}
	a.update(func(s *Status) { s.State = StateStopped })
	a.log.Info("agent stopped")
	return nil
}

// movedBackoff is the first reconnect delay after a draining server
// asked the agent to connect again: short, since the camera's viewers
// wait, and jittered like every delay, so that a node's agents do not all
// land on the others at once.
const movedBackoff = 200 * time.Millisecond

// wait logs err, sleeps about d (with jitter), and returns the next delay.
func (a *Agent) wait(ctx context.Context, err error, d time.Duration) time.Duration {
	var ae *apiError
	if errors.As(err, &ae) && ae.RetryAfter > d {
		d = ae.RetryAfter
	}
	// Full jitter in [d/2, d): agents behind one outage do not return
	// in step.
	sleep := d/2 + rand.N(d/2+1)
	a.update(func(s *Status) { s.State, s.LastError = StateReconnecting, err.Error() })
	a.log.Warn("reconnecting", "in", sleep.Round(time.Millisecond).String(), "err", err)
	t := time.NewTimer(sleep)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return min(2*d, a.cfg.MaxBackoff)
}

// ensureCertificate returns a current client certificate, enrolling and
// waiting for a claim as needed.
func (a *Agent) ensureCertificate(ctx context.Context) (*deviceCert, error) {
	if c, err := loadCert(a.cfg.StateDir, a.identity().key); err == nil && !c.expiresSoon(time.Now()) {
		return c, nil
	}
	shown := ""
	var shownUntil time.Time
	for {
		a.update(func(s *Status) {
			if s.State != StateWaiting {
				s.State = StateEnrolling
			}
		})
		cert, err := a.api.certificate(ctx)
		switch {
		case errors.Is(err, errNotEnrolled) && a.wasEnrolled():
			// The server knew this device and no longer knows its key:
			// the camera left its home while we were away, and its key
			// was retired with it. Start over with a new one.
			a.log.Info("the server retired this device's key; making a new one and enrolling afresh")
			if err := a.renewKey(); err != nil {
				return nil, err
			}
			shown = ""
			continue
		case errors.Is(err, errNotEnrolled):
			cert.Claimed = false
		case err != nil:
			return nil, err
		case cert.Claimed:
			return a.keepCertificate(cert)
		}
		// Not claimed (or not enrolled): show a claim code that works.
		if shown == "" || time.Now().After(shownUntil.Add(-time.Minute)) {
			e, err := a.api.enroll(ctx)
			if errors.Is(err, errKeyRetired) {
				a.log.Info("the server retired this device's key; making a new one and enrolling afresh")
				if err := a.renewKey(); err != nil {
					return nil, err
				}
				shown = ""
				continue
			}
			if err != nil {
				return nil, err
			}
			if e.Claimed {
				continue // claimed meanwhile
			}
			if err := saveServer(a.cfg.StateDir, serverState{CAPEM: e.CA, DeviceURL: e.DeviceURL, CameraID: e.CameraID}); err != nil {
				return nil, err
			}
			shown, shownUntil = e.ClaimCode, e.ClaimExpiresAt
			a.showClaimCode(e)
		}
		t := time.NewTimer(a.cfg.ClaimPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// keepCertificate stores a newly issued certificate.
func (a *Agent) keepCertificate(c certificate) (*deviceCert, error) {
	dc, err := parseCert([]byte(c.Certificate), a.identity().key)
	if err != nil {
		return nil, fmt.Errorf("certificate from server: %w", err)
	}
	st, _ := loadServer(a.cfg.StateDir)
	if st.CameraID != "" && st.CameraID != c.CameraID {
		// This key belongs to one camera for its whole life: a
		// certificate for another means someone else enrolled a copy
		// of it. Take nothing from it; start over with a new key.
		a.log.Warn("the server offered a certificate for another camera than this device enrolled as; making a new key", "camera", st.CameraID, "offered", c.CameraID)
		if err := a.renewKey(); err != nil {
			return nil, err
		}
		return nil, errors.New("certificate for another camera refused")
	}
	st.CAPEM, st.DeviceURL, st.CameraID, st.Generation = c.CA, c.DeviceURL, c.CameraID, c.Generation
	if err := saveServer(a.cfg.StateDir, st); err != nil {
		return nil, err
	}
	if err := saveCert(a.cfg.StateDir, []byte(c.Certificate)); err != nil {
		return nil, err
	}
	a.update(func(s *Status) {
		s.CameraID, s.Generation, s.ClaimCode, s.ClaimExpiresAt = c.CameraID, c.Generation, "", time.Time{}
	})
	a.log.Info("claimed: got a device certificate", "camera", c.CameraID, "generation", c.Generation, "valid_until", c.NotAfter.Format(time.RFC3339))
	return dc, nil
}

// identity returns the current device key.
func (a *Agent) identity() *identity { return a.id.Load() }

// wasEnrolled reports whether the server had enrolled this device before:
// its state names a camera.
func (a *Agent) wasEnrolled() bool {
	st, err := loadServer(a.cfg.StateDir)
	return err == nil && st.CameraID != ""
}

// renewKey replaces a retired device key with a new one and forgets the
// certificate and what the server said, so that the agent enrols afresh
// as a new camera. Goroutines still signing with the old key (a stream of
// the old generation, ending) keep it; new work takes the new one.
func (a *Agent) renewKey() error {
	key, err := replaceKey(a.cfg.StateDir)
	if err != nil {
		return fmt.Errorf("new device key: %w", err)
	}
	a.id.Store(newIdentity(key))
	a.update(func(s *Status) {
		s.CameraID, s.Name, s.Generation, s.ClaimCode, s.ClaimExpiresAt = "", "", 0, "", time.Time{}
	})
	a.log.Info("created a new device key", "state_dir", a.cfg.StateDir)
	return nil
}

// showClaimCode tells a person the code: in the log, as text and QR code
// on Out, and on the status page.
func (a *Agent) showClaimCode(e enrollment) {
	a.update(func(s *Status) {
		s.State, s.CameraID, s.ClaimCode, s.ClaimExpiresAt, s.Generation = StateWaiting, e.CameraID, e.ClaimCode, e.ClaimExpiresAt, 0
	})
	a.log.Info("waiting for a home to claim this camera", "camera", e.CameraID, "code_expires", e.ClaimExpiresAt.Format(time.RFC3339))
	fmt.Fprintf(a.cfg.Out, "\nClaim this camera in camvault with the code\n\n    %s\n\n(valid until %s). Or scan:\n\n%s\n",
		e.ClaimCode, e.ClaimExpiresAt.Local().Format("2006-01-02 15:04"), terminalQR(a.claimURL(e.ClaimCode)))
}

// claimURL is what the QR code holds: the server's claim page with the
// code in the fragment, which browsers never send to the server.
func (a *Agent) claimURL(code string) string {
	return a.cfg.Server + "/claim#" + code
}

// watchSource checks the source now and then.
func (a *Agent) watchSource(ctx context.Context) {
	for {
		h := a.cfg.Source.Health(ctx)
		a.update(func(s *Status) {
			if s.SourceHealth != h {
				a.log.Info("source health", "source", a.cfg.Source.String(), "health", h)
			}
			s.SourceHealth = h
		})
		t := time.NewTimer(30 * time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
