package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/camvault/camvault/internal/control"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// Session outcomes that change what the agent does next.
var (
	// errReleased: the server said the camera left its home.
	errReleased = errors.New("camera left its home")
	// errRefused: the server refused the certificate.
	errRefused = errors.New("certificate refused by the server")
	// errRenew: the certificate is due for renewal.
	errRenew = errors.New("certificate due for renewal")
	// errMoved: the server, draining, asked the agent to connect again
	// at once (to another node behind the same name).
	errMoved = errors.New("the server asked to connect again")
)

// tlsConfig is the mutual-TLS configuration for the device listener: the
// server must prove itself with the device CA the agent learned at
// enrolment, and the agent presents its certificate.
func (a *Agent) tlsConfig(cert *deviceCert) (*tls.Config, string, error) {
	st, err := loadServer(a.cfg.StateDir)
	if err != nil {
		return nil, "", fmt.Errorf("server state: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(st.CAPEM)) {
		return nil, "", errors.New("server state holds no device CA")
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		RootCAs:      pool,
		Certificates: []tls.Certificate{cert.tls},
	}, st.DeviceURL, nil
}

// session holds one control connection until it ends and says why.
func (a *Agent) session(ctx context.Context, cert *deviceCert) error {
	conf, deviceURL, err := a.tlsConfig(cert)
	if err != nil {
		return err
	}
	a.update(func(s *Status) { s.State = StateConnecting })
	a.log.Info("connecting", "url", deviceURL)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: conf, TLSHandshakeTimeout: 15 * time.Second}}
	defer hc.CloseIdleConnections()
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	conn, resp, err := websocket.Dial(dctx, deviceURL+"/device/v1/control", &websocket.DialOptions{HTTPClient: hc})
	cancel()
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized || refusedByPeer(err) {
			return errRefused
		}
		return fmt.Errorf("connect: %w", err)
	}
	conn.SetReadLimit(control.MaxMessageBytes)
	defer conn.CloseNow()
	a.update(func(s *Status) { s.State, s.LastError = StateConnected, ""; s.Connections++ })
	a.log.Info("connected", "camera", cert.leaf.Subject.CommonName)

	s := &agentSession{a: a, conn: conn, cert: cert}
	defer s.stopPush()
	if err := s.send(ctx, control.Message{Type: control.TypeHello, Hello: &control.Hello{AgentVersion: a.cfg.Version}}); err != nil {
		return err
	}
	if err := s.send(ctx, s.statusMessage()); err != nil {
		return err
	}
	beat := a.cfg.Heartbeat
	if beat == 0 {
		beat = control.PingInterval
	}
	ticker := time.NewTicker(beat)
	defer ticker.Stop()
	renewAt := cert.leaf.NotBefore.Add(cert.leaf.NotAfter.Sub(cert.leaf.NotBefore) * 2 / 3)
	renew := time.NewTimer(time.Until(renewAt))
	defer renew.Stop()

	in := make(chan control.Message)
	readErr := make(chan error, 1)
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go func() {
		for {
			_, b, err := conn.Read(rctx)
			if err != nil {
				readErr <- err
				return
			}
			m, err := control.Decode(b)
			if err != nil {
				a.log.Warn("refused a control message from the server", "err", err)
				s.send(rctx, control.Refusal(m.ID, err))
				continue
			}
			select {
			case in <- m:
			case <-rctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			conn.Close(websocket.StatusNormalClosure, "agent stopping")
			return ctx.Err()
		case err := <-readErr:
			if errors.Is(err, errReleased) {
				return err
			}
			if websocket.CloseStatus(err) == websocket.StatusServiceRestart {
				return errMoved
			}
			return fmt.Errorf("connection lost: %w", err)
		case <-renew.C:
			conn.Close(websocket.StatusNormalClosure, "renewing certificate")
			return errRenew
		case <-ticker.C:
			if err := s.send(ctx, s.statusMessage()); err != nil {
				return fmt.Errorf("heartbeat: %w", err)
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("heartbeat: server did not answer: %w", err)
			}
		case m := <-in:
			if err := s.handle(ctx, m); err != nil {
				return err
			}
		case mo := <-a.motion:
			msg := control.Message{Type: control.TypeMotion, Motion: &control.Motion{At: mo.at.UnixMilli(), Score: mo.score}}
			if err := s.send(ctx, msg); err != nil {
				return err
			}
			a.log.Info("reported motion", "score", mo.score)
		}
	}
}

// refusedByPeer reports a TLS alert from the server during the handshake
// (as opposed to a network failure).
func refusedByPeer(err error) bool {
	var opErr *net.OpError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.As(err, &opErr) && opErr.Op == "remote error" {
		return true
	}
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return true
	}
	return strings.Contains(err.Error(), "remote error: tls:")
}

// agentSession is the agent's side of one connection.
type agentSession struct {
	a    *Agent
	conn *websocket.Conn
	cert *deviceCert
	seq  atomic.Int64

	snapshotting atomic.Bool // a snapshot is being made and sent

	pushCancel context.CancelFunc // the running push, if any
	pushDone   chan struct{}
}

// startPush publishes video to url until stopPush.
func (s *agentSession) startPush(ctx context.Context, url string) {
	if s.pushCancel != nil {
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.pushCancel, s.pushDone = cancel, done
	go func() {
		defer close(done)
		// While the server wants video, keep publishing, with backoff
		// after failures.
		backoff := time.Second
		for pctx.Err() == nil {
			began := time.Now()
			err := s.a.push(pctx, url, s.cert)
			if pctx.Err() != nil {
				return
			}
			s.a.log.Warn("streaming stopped; retrying", "in", backoff.String(), "err", err)
			s.a.update(func(st *Status) { st.LastError = "stream: " + err.Error() })
			if time.Since(began) > 30*time.Second {
				backoff = time.Second
			}
			select {
			case <-pctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}()
}

func (s *agentSession) stopPush() {
	if s.pushCancel != nil {
		s.pushCancel()
		<-s.pushDone
		s.pushCancel, s.pushDone = nil, nil
	}
}

func (s *agentSession) send(ctx context.Context, m control.Message) error {
	if m.ID == "" && m.Type != control.TypeAck && m.Type != control.TypeError {
		m.ID = "a" + strconv.FormatInt(s.seq.Add(1), 10)
	}
	b, err := control.Encode(m)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return s.conn.Write(wctx, websocket.MessageText, b)
}

func (s *agentSession) statusMessage() control.Message {
	st := s.a.Status()
	return control.Message{Type: control.TypeStatus, Status: &control.Status{
		AgentVersion: s.a.cfg.Version, SourceHealth: truncate(st.SourceHealth, 200), SourceKind: s.a.cfg.Source.Kind,
		UptimeSeconds: int64(time.Since(s.a.started).Seconds()), Streaming: st.Streaming,
	}}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// handle acts on a server command.
func (s *agentSession) handle(ctx context.Context, m control.Message) error {
	a := s.a
	ack := control.Message{Type: control.TypeAck, ReplyTo: m.ID}
	switch m.Type {
	case control.TypeUnclaim:
		s.send(ctx, ack)
		s.conn.Close(websocket.StatusNormalClosure, "released")
		return errReleased
	case control.TypeRename:
		a.log.Info("renamed", "name", m.Rename.Name)
		a.update(func(st *Status) { st.Name = m.Rename.Name })
		if st, err := loadServer(a.cfg.StateDir); err == nil {
			st.Name = m.Rename.Name
			saveServer(a.cfg.StateDir, st)
		}
		return s.send(ctx, ack)
	case control.TypeStartStream:
		a.log.Info("stream requested", "url", m.Stream.URL)
		s.startPush(ctx, m.Stream.URL)
		return s.send(ctx, ack)
	case control.TypeStopStream:
		a.log.Info("stream no longer needed")
		s.stopPush()
		return s.send(ctx, ack)
	case control.TypeSnapshot:
		// Making a picture can take seconds (ffmpeg); the control loop
		// goes on meanwhile. One picture at a time: a request during
		// one is answered by it.
		if !s.snapshotting.CompareAndSwap(false, true) {
			return s.send(ctx, ack)
		}
		go func() {
			defer s.snapshotting.Store(false)
			jpeg, err := a.snapshotJPEG()
			if err == nil {
				// Signed like video, so that whoever shows it can tell
				// which camera took it.
				jpeg, err = videosig.SignSnapshot(jpeg, s.cert.key, domain.ID(s.cert.leaf.Subject.CommonName), a.Status().Generation, time.Now())
			}
			if err != nil {
				s.send(ctx, control.Message{Type: control.TypeError, ReplyTo: m.ID,
					Error: &control.Error{Code: control.CodeUnsupported, Message: truncate(err.Error(), 200)}})
				return
			}
			if err := a.uploadSnapshot(ctx, s.cert, jpeg); err != nil {
				a.log.Warn("snapshot upload failed", "err", err)
			}
		}()
		return s.send(ctx, ack)
	case control.TypeUpdateAvailable:
		a.log.Info("an agent update is available", "version", m.Update.Version)
		a.update(func(st *Status) { st.UpdateVersion = m.Update.Version })
		return s.send(ctx, ack)
	case control.TypeAck, control.TypeError:
		return nil
	}
	return s.send(ctx, control.Refusal(m.ID, control.ErrUnknownType))
}
