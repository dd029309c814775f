// Package devicehub serves the device listener: the mutual-TLS endpoint
// where claimed cameras' agents hold their control channel (a WebSocket
// carrying package control's messages) and ask for a factory reset.
//
// A device is identified by its client certificate alone, checked at the
// TLS handshake and again on every request: issued by the device CA,
// unexpired, for the key the camera enrolled with, and for the camera's
// current generation. A certificate of an earlier generation — after a
// removal, transfer or reset — is refused at the handshake.
//
// The hub keeps at most one session per camera: a new connection replaces
// the old one. In a cluster it claims each camera it holds in the
// placement directory, where again the newest connection wins: a session
// whose claim another node took ends. It implements
// service.DevicePresence for the whole cluster, sending commands for
// cameras held elsewhere to their node. It reaches the use cases through
// Service, which it declares.
package devicehub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/camvault/camvault/internal/control"
	"github.com/camvault/camvault/internal/deviceca"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/fault"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/placement"
	"github.com/camvault/camvault/internal/service"
)

// Service is what the hub needs of the use cases.
type Service interface {
	// AuthenticateDevice maps a device's client certificate to its
	// camera at the camera's current generation, or fails.
	AuthenticateDevice(ctx context.Context, cert *x509.Certificate) (domain.Camera, error)
	// DeviceSeen records that the camera's device is alive and its
	// agent version.
	DeviceSeen(ctx context.Context, cam domain.Camera, agentVersion string)
	// DeviceEvent audits a device event (connect, disconnect).
	DeviceEvent(ctx context.Context, cam domain.Camera, addr, action, detail string)
	// DeviceMotion reports motion the device saw.
	DeviceMotion(ctx context.Context, cam domain.Camera, at time.Time)
	// DeviceSnapshot stores a snapshot the device uploaded.
	DeviceSnapshot(ctx context.Context, cam domain.Camera, jpeg []byte) error
	// DeviceReset releases the camera at its device's request.
	DeviceReset(ctx context.Context, cam domain.Camera, addr string) error
}

// Config configures a Hub.
type Config struct {
	Service Service
	Logger  *slog.Logger
	// OfflineAfter ends a session that sent nothing for this long; zero
	// means control.OfflineAfter.
	OfflineAfter time.Duration
	// Sessions, if set, hears the number of sessions whenever it changes
	// (opened is true when one was just opened). It must not block.
	Sessions func(n int, opened bool)
	// Hello, if set, is called when a device has said hello on a new
	// session (for example to ask it to stream). It must not block.
	Hello func(camera domain.Camera)
	// Placement is the cluster's directory of which node holds which
	// camera; nil means one of this process alone. Node is this node's
	// name in it.
	Placement placement.Directory
	Node      string
	// Snapshot, if set, gets a fresh picture from a camera whose session
	// this hub holds, for another node that asked for it.
	Snapshot func(ctx context.Context, camera domain.ID) ([]byte, error)
	// Trigger, if set, marks an event now at this node's recorder on a
	// camera whose session this hub holds, for another node that asked
	// (and authorized its caller); it reports whether the camera is
	// being recorded.
	Trigger func(camera domain.ID) bool
	// When a camera's session here ends because the camera went to
	// another node (this node drains, or it connected again elsewhere),
	// its viewers here follow it: once the other node holds the camera,
	// that node is asked to start its stream if Watched says viewers
	// watch it here, and then Moved tells those viewers to ask again for
	// a stream. Warm is how this node starts the stream of a camera it
	// holds when another node asks. None may block for long.
	Watched func(camera domain.Camera) bool
	Warm    func(camera domain.Camera)
	Moved   func(camera domain.ID)
}

// Hub holds the control sessions of connected devices.
type Hub struct {
	svc Service
	log *slog.Logger
	cfg Config
	dir placement.Directory
	// stopWatch stops hearing of superseded claims.
	stopWatch func()
	// draining refuses new sessions.
	draining atomic.Bool

	mu       sync.Mutex // guards sessions, closed and stopHandle
	sessions map[domain.ID]*session
	closed   bool
	// stopHandle stops serving other nodes' commands; nil when not.
	stopHandle func()
	wg         sync.WaitGroup // running sessions, and cameras being followed
	// quit is closed by Close: following cameras stops.
	quit chan struct{}
}

// New returns a hub.
func New(cfg Config) *Hub {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OfflineAfter == 0 {
		cfg.OfflineAfter = control.OfflineAfter
	}
	if cfg.Sessions == nil {
		cfg.Sessions = func(int, bool) {}
	}
	if cfg.Hello == nil {
		cfg.Hello = func(domain.Camera) {}
	}
	if cfg.Watched == nil {
		cfg.Watched = func(domain.Camera) bool { return false }
	}
	if cfg.Warm == nil {
		cfg.Warm = func(domain.Camera) {}
	}
	if cfg.Moved == nil {
		cfg.Moved = func(domain.ID) {}
	}
	h := &Hub{svc: cfg.Service, log: cfg.Logger, cfg: cfg, dir: cfg.Placement, sessions: map[domain.ID]*session{}, quit: make(chan struct{})}
	if h.dir == nil {
		h.dir = placement.NewLocal()
	}
	h.stopWatch = h.dir.Superseded(h.superseded)
	return h
}

// session is one device's control connection.
type session struct {
	camera domain.Camera
	cert   *x509.Certificate
	conn   *websocket.Conn
	claim  string // the connection's ID in the placement directory
	send   chan control.Message
	cancel context.CancelFunc
	seq    atomic.Int64
	// moving is set, and move closed, when the session ends because
	// this node drains: the device is told to connect again at once, to
	// another node.
	moving atomic.Bool
	move   chan struct{}
}

// Routes returns the device listener's routes.
func (h *Hub) Routes() []httpserver.Route {
	const why = "devices authenticate with their client certificate, checked at the TLS handshake and again here"
	return []httpserver.Route{
		{Pattern: "GET /device/v1/control", Public: why, Handler: h.control},
		{Pattern: "POST /device/v1/reset", Public: why, Handler: h.reset},
		{Pattern: "POST /device/v1/snapshot", Public: why, Handler: h.snapshot},
	}
}

// TLSConfig returns the device listener's TLS configuration: cert is its
// server certificate, and clients must present a device certificate of
// ca that is current for its camera, or the handshake fails.
func (h *Hub) TLSConfig(cert tls.Certificate, ca *deviceca.CA) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("devicehub: no client certificate")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := h.svc.AuthenticateDevice(ctx, cs.PeerCertificates[0])
			return err
		},
	}
}

// authenticate checks the request's client certificate.
func (h *Hub) authenticate(r *http.Request) (domain.Camera, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return domain.Camera{}, errors.New("no client certificate")
	}
	return h.svc.AuthenticateDevice(r.Context(), r.TLS.PeerCertificates[0])
}

func (h *Hub) reset(w http.ResponseWriter, r *http.Request, c service.Caller) {
	cam, err := h.authenticate(r)
	if err != nil {
		httpserver.WriteError(w, r, &fault.Error{Kind: fault.KindUnauthenticated, Code: "unauthenticated", Message: "device certificate not accepted"}, h.log)
		return
	}
	if err := h.svc.DeviceReset(r.Context(), cam, c.Addr); err != nil {
		httpserver.WriteError(w, r, err, h.log)
		return
	}
	h.log.Info("device reset", "camera", cam.ID)
	w.WriteHeader(http.StatusNoContent)
}

func (h *Hub) snapshot(w http.ResponseWriter, r *http.Request, c service.Caller) {
	cam, err := h.authenticate(r)
	if err != nil {
		httpserver.WriteError(w, r, &fault.Error{Kind: fault.KindUnauthenticated, Code: "unauthenticated", Message: "device certificate not accepted"}, h.log)
		return
	}
	jpeg, err := io.ReadAll(io.LimitReader(r.Body, service.MaxSnapshotBytes+1))
	if err != nil {
		httpserver.WriteError(w, r, &fault.Error{Kind: fault.KindInvalid, Code: "invalid", Message: "could not read the snapshot"}, h.log)
		return
	}
	if err := h.svc.DeviceSnapshot(r.Context(), cam, jpeg); err != nil {
		httpserver.WriteError(w, r, err, h.log)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// RequestSnapshot implements service.SnapshotRequester for cameras this
// node holds; FetchSnapshot serves the others.
func (h *Hub) RequestSnapshot(camera domain.ID) bool {
	return h.sendLocal(camera, control.Message{Type: control.TypeSnapshot})
}

func (h *Hub) control(w http.ResponseWriter, r *http.Request, c service.Caller) {
	cam, err := h.authenticate(r)
	if err != nil {
		httpserver.WriteError(w, r, &fault.Error{Kind: fault.KindUnauthenticated, Code: "unauthenticated", Message: "device certificate not accepted"}, h.log)
		return
	}
	if h.draining.Load() {
		// The agent retries, through the same name, and lands on
		// another node.
		httpserver.WriteError(w, r, &fault.Error{Kind: fault.KindUnavailable, Code: "draining", Message: "this node is draining; connect again"}, h.log)
		return
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept answered the client
	}
	conn.SetReadLimit(control.MaxMessageBytes)
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	s := &session{camera: cam, cert: r.TLS.PeerCertificates[0], conn: conn, send: make(chan control.Message, 16), cancel: cancel,
		claim: newConnID(), move: make(chan struct{})}
	if !h.register(s) {
		cancel()
		conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer h.wg.Done()
	log := h.log.With("camera", cam.ID, "addr", c.Addr)
	log.Info("device connected")
	h.svc.DeviceSeen(ctx, cam, "")
	h.svc.DeviceEvent(ctx, cam, c.Addr, "device.connect", "")
	var reason string
	if err := h.claim(ctx, s); err != nil {
		// Unclaimed, no other node could find the camera: the agent
		// tries again.
		log.Warn("camera not claimed in the placement directory", "err", err)
		reason = "placement unavailable"
	} else {
		reason = h.run(ctx, s, log)
	}
	status := websocket.StatusNormalClosure
	if s.moving.Load() {
		// Said first, while the session's reader still runs to hear
		// the device's answer: ending ctx would cut the connection
		// without a word.
		status, reason = websocket.StatusServiceRestart, "this node is draining; connect again"
		conn.Close(status, reason)
	}
	h.unregister(s)
	cancel()
	h.release(s)
	conn.Close(status, reason)
	log.Info("device disconnected", "reason", reason)
	h.svc.DeviceEvent(context.WithoutCancel(ctx), cam, c.Addr, "device.disconnect", reason)
}

// register makes s the camera's session, ending any earlier one.
func (h *Hub) register(s *session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	if old, ok := h.sessions[s.camera.ID]; ok {
		old.cancel()
	}
	h.sessions[s.camera.ID] = s
	h.wg.Add(1)
	h.cfg.Sessions(len(h.sessions), true)
	return true
}

func (h *Hub) unregister(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sessions[s.camera.ID] == s {
		delete(h.sessions, s.camera.ID)
		h.cfg.Sessions(len(h.sessions), false)
	}
}

// run serves a session until it ends and returns why.
func (h *Hub) run(ctx context.Context, s *session, log *slog.Logger) string {
	in := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, b, err := s.conn.Read(ctx)
			if err != nil {
				readErr <- err
				return
			}
			select {
			case in <- b:
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
		}
	}()
	idle := time.NewTimer(h.cfg.OfflineAfter)
	defer idle.Stop()
	var lastTouch time.Time
	for {
		select {
		case <-ctx.Done():
			// Replaced by a newer connection, released, or shutdown;
			// the sender says which by what it sent last.
			return "session ended"
		case err := <-readErr:
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return "closed by device"
			}
			return "connection lost"
		case <-idle.C:
			return "no heartbeat"
		case <-s.move:
			return "node draining"
		case m := <-s.send:
			if err := h.write(ctx, s, m); err != nil {
				return "write failed"
			}
			if m.Type == control.TypeUnclaim {
				return "camera left its home"
			}
		case b := <-in:
			idle.Reset(h.cfg.OfflineAfter)
			m, err := control.Decode(b)
			if err != nil {
				log.Warn("refused control message", "err", err)
				if h.write(ctx, s, control.Refusal(m.ID, err)) != nil {
					return "write failed"
				}
				continue
			}
			switch m.Type {
			case control.TypeHello, control.TypeStatus:
				// The certificate must stay good for the whole
				// session: a release ends it at once, expiry here.
				if _, err := h.svc.AuthenticateDevice(ctx, s.cert); err != nil {
					return "certificate no longer valid"
				}
				version := ""
				if m.Hello != nil {
					version = m.Hello.AgentVersion
				} else {
					version = m.Status.AgentVersion
				}
				if time.Since(lastTouch) > time.Minute || m.Type == control.TypeHello {
					h.svc.DeviceSeen(ctx, s.camera, version)
					lastTouch = time.Now()
				}
				if m.Type == control.TypeHello {
					h.cfg.Hello(s.camera)
				}
			case control.TypeMotion:
				h.svc.DeviceMotion(ctx, s.camera, time.UnixMilli(m.Motion.At))
			case control.TypeAck, control.TypeError:
				log.Debug("device answered", "type", m.Type, "reply_to", m.ReplyTo)
			default:
				if h.write(ctx, s, control.Refusal(m.ID, control.ErrUnknownType)) != nil {
					return "write failed"
				}
			}
		}
	}
}

func (h *Hub) write(ctx context.Context, s *session, m control.Message) error {
	if m.ID == "" && m.Type != control.TypeError && m.Type != control.TypeAck {
		m.ID = "s" + strconv.FormatInt(s.seq.Add(1), 10)
	}
	b, err := control.Encode(m)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return s.conn.Write(wctx, websocket.MessageText, b)
}

// Send queues a message for the camera's device, here or at the node
// holding it; false if it is not connected or its queue is full.
func (h *Hub) Send(camera domain.ID, m control.Message) bool {
	if h.sendLocal(camera, m) {
		return true
	}
	return h.sendRemote(camera, m)
}

// sendLocal queues a message for a device whose session this hub holds.
func (h *Hub) sendLocal(camera domain.ID, m control.Message) bool {
	h.mu.Lock()
	s, ok := h.sessions[camera]
	h.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case s.send <- m:
		return true
	default:
		return false
	}
}

// Holds reports whether the camera's device holds a session here. It
// asks no other node, so it answers at once also when the directory does
// not.
func (h *Hub) Holds(camera domain.ID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.sessions[camera]
	return ok
}

// Online implements service.DevicePresence: the camera's device holds a
// session here or at another live node.
func (h *Hub) Online(camera domain.ID) bool {
	if h.Holds(camera) {
		return true
	}
	_, ok := h.remoteOwner(camera)
	return ok
}

// Released implements service.DevicePresence: the device hears "unclaim"
// and its session ends, here or at the node holding it.
func (h *Hub) Released(camera domain.ID) {
	if !h.releasedLocal(camera) {
		h.releasedRemote(camera)
	}
}

// releasedLocal ends the session this hub holds for camera, after telling
// the device; false if it holds none.
func (h *Hub) releasedLocal(camera domain.ID) bool {
	h.mu.Lock()
	s, ok := h.sessions[camera]
	if ok {
		delete(h.sessions, camera)
		h.cfg.Sessions(len(h.sessions), false)
	}
	h.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case s.send <- control.Message{Type: control.TypeUnclaim}:
		// The session writes it and ends; make sure it does not linger.
		time.AfterFunc(5*time.Second, s.cancel)
	default:
		s.cancel()
	}
	return true
}

// Renamed implements service.DevicePresence.
func (h *Hub) Renamed(camera domain.ID, name string) {
	h.Send(camera, control.Message{Type: control.TypeRename, Rename: &control.Rename{Name: name}})
}

// Sessions returns the number of connected devices.
func (h *Hub) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// Close stops serving other nodes' commands, ends every session (their
// claims are released) and waits for them.
func (h *Hub) Close() {
	h.mu.Lock()
	if !h.closed {
		close(h.quit)
	}
	h.closed = true
	stop := h.stopHandle
	h.stopHandle = nil
	for _, s := range h.sessions {
		s.cancel()
	}
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
	h.wg.Wait()
	h.stopWatch()
}
