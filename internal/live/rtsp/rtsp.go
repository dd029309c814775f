// Package rtsp serves live video to RTSP clients (VLC, ffmpeg, Home
// Assistant, other NVRs) over RTSPS, without transcoding. A viewer asks
// the API for a stream URL and gets rtsps://…/cameras/{camera}?token=…:
// the token is a single-use credential valid for 60 seconds, bound to the
// viewer, the camera's generation and the protocol. Each viewer gets its
// own stream fed by its own hub reader (a live session), so the provenance
// guard and the viewer's grant are checked before every access unit it is
// sent. When the grant runs out the viewer is re-authorized; when access
// is withdrawn the session ends.
//
// The server speaks the part of RTSP 1.0 a player needs (OPTIONS,
// DESCRIBE, SETUP with TCP interleaving, PLAY, TEARDOWN, GET_PARAMETER and
// SET_PARAMETER as keep-alives) and nothing else: no UDP (RTSPS keeps
// the video inside TLS), no publishing. Requests are parsed with bounded
// sizes. Each access unit is packetized straight into a buffer of
// interleaved RTP packets and written to the viewer a TLS record at a time,
// so the cost per viewer is a copy, the encryption and a system call per
// record; the buffers are shared by all viewers.
package rtsp

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/live"
	"github.com/camvault/camvault/internal/media"
)

// Limits and timeouts.
const (
	// MaxConns bounds concurrent viewer connections.
	MaxConns = 4096
	// idleTimeout ends a playing session that sends nothing (clients
	// send RTCP receiver reports or keep-alive requests).
	idleTimeout = 75 * time.Second
	// writeTimeout ends a viewer that cannot take a picture in time.
	writeTimeout = 10 * time.Second
	// sessionTimeout is the keep-alive period announced to clients.
	sessionTimeout = 60
	// srInterval is how often an RTCP sender report is sent.
	srInterval = 5 * time.Second
)

// setupTimeout is how long a connection may take from accept to PLAY; a
// reader made at DESCRIBE lives no longer than this without playing.
var setupTimeout = 20 * time.Second

// Config configures the viewer RTSPS server.
type Config struct {
	// Redeemer spends stream credentials (the service).
	Redeemer live.Redeemer
	// Live opens viewer sessions on the hub.
	Live   *live.Viewers
	Logger *slog.Logger
	// TLS is the server's TLS configuration (no client certificates);
	// nil serves plain RTSP, for tests only.
	TLS *tls.Config
}

// Server is the viewer RTSPS server.
type Server struct {
	cfg Config
	log *slog.Logger
	l   net.Listener

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex // guards conns
	conns map[*conn]struct{}
}

// Start serves viewers on l until Close.
func Start(cfg Config, l net.Listener) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Redeemer == nil || cfg.Live == nil {
		return nil, errors.New("live rtsp: no redeemer or viewers")
	}
	if cfg.TLS != nil {
		// Full-size records from the first picture: small first
		// records help web pages, not video, and cost a system call
		// each.
		cfg.TLS = cfg.TLS.Clone()
		cfg.TLS.DynamicRecordSizingDisabled = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, log: cfg.Logger, l: l, ctx: ctx, cancel: cancel, conns: map[*conn]struct{}{}}
	s.wg.Go(s.accept)
	return s, nil
}

// Close stops accepting and ends every viewer session.
func (s *Server) Close() {
	s.cancel()
	s.l.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	for {
		nc, err := s.l.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			s.log.Error("viewer listener failed", "err", err)
			return
		}
		s.mu.Lock()
		full := len(s.conns) >= MaxConns
		s.mu.Unlock()
		if full {
			nc.Close()
			continue
		}
		if s.cfg.TLS != nil {
			nc = tls.Server(nc, s.cfg.TLS)
		}
		c := &conn{s: s, nc: nc, br: bufio.NewReaderSize(nc, 4096)}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			c.serve()
		})
	}
}

// conn is one client connection: at most one described stream, one
// session.
type conn struct {
	s  *Server
	nc net.Conn
	br *bufio.Reader

	wmu      sync.Mutex // serialises writes: responses and pictures
	deadline time.Time  // the write deadline set last; guarded by wmu

	// Set by the request loop only.
	v       *viewer
	session string
	setup   bool
	channel int // interleaved channel of RTP; RTCP is channel+1
	pump    chan struct{}
}

// viewer is a described stream: the viewer's session and how to send it.
type viewer struct {
	origin domain.CameraRef
	sess   *live.Session
	sdp    []byte
	pk     *packetizer
}

func (c *conn) serve() {
	defer c.nc.Close()
	defer func() {
		if c.pump != nil {
			c.nc.Close()
			<-c.pump
		} else if c.v != nil {
			c.v.sess.Close()
		}
	}()
	setupDeadline := time.Now().Add(setupTimeout)
	c.nc.SetReadDeadline(setupDeadline)
	for {
		if c.pump != nil {
			c.nc.SetReadDeadline(time.Now().Add(idleTimeout))
		}
		b, err := c.br.Peek(1)
		if err != nil {
			return
		}
		if b[0] == base.InterleavedFrameMagicByte {
			// RTCP receiver reports and the like: read and drop.
			var f base.InterleavedFrame
			if err := f.Unmarshal(c.br); err != nil {
				return
			}
			continue
		}
		var req base.Request
		if err := req.Unmarshal(c.br); err != nil {
			c.write(&base.Response{StatusCode: base.StatusBadRequest}, nil)
			return
		}
		res, done := c.handle(&req)
		if cseq, ok := req.Header["CSeq"]; ok {
			if res.Header == nil {
				res.Header = base.Header{}
			}
			res.Header["CSeq"] = cseq
		}
		if err := c.write(res, nil); err != nil || done {
			return
		}
		if res.StatusCode == base.StatusOK && req.Method == base.Play && c.pump == nil {
			c.startPump()
		}
	}
}

// handle answers one request; done ends the connection after the answer.
func (c *conn) handle(req *base.Request) (res *base.Response, done bool) {
	switch req.Method {
	case base.Options:
		return &base.Response{StatusCode: base.StatusOK, Header: base.Header{
			"Public": base.HeaderValue{"OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER, SET_PARAMETER"},
		}}, false
	case base.Describe:
		return c.describe(req)
	case base.Setup:
		return c.doSetup(req), false
	case base.Play:
		return c.play(req), false
	case base.Teardown:
		return &base.Response{StatusCode: base.StatusOK}, true
	case base.GetParameter, base.SetParameter:
		if !c.sessionOK(req) {
			return &base.Response{StatusCode: base.StatusSessionNotFound}, false
		}
		return &base.Response{StatusCode: base.StatusOK}, false
	case base.Announce, base.Record:
		return &base.Response{StatusCode: base.StatusForbidden}, true
	}
	return &base.Response{StatusCode: base.StatusNotImplemented}, false
}

// describe redeems the URL's credential and answers the stream's SDP.
func (c *conn) describe(req *base.Request) (*base.Response, bool) {
	camera, ok := cameraOf(req.URL)
	if !ok {
		return &base.Response{StatusCode: base.StatusNotFound}, true
	}
	if c.v != nil {
		if camera != c.v.origin.Camera {
			return &base.Response{StatusCode: base.StatusUnauthorized}, true
		}
		return c.sdpResponse(req), false
	}
	addr, _, _ := net.SplitHostPort(c.nc.RemoteAddr().String())
	ctx, cancel := context.WithTimeout(c.s.ctx, 10*time.Second)
	defer cancel()
	q, _ := url.ParseQuery(req.URL.RawQuery)
	r, err := c.s.cfg.Live.Redeem(ctx, c.s.cfg.Redeemer, q.Get("token"), camera, live.ProtoRTSP, addr)
	if err != nil {
		// The same answer for a bad token and a camera not the
		// viewer's: nothing to learn by probing.
		return &base.Response{StatusCode: base.StatusUnauthorized}, true
	}
	v, err := newViewer(ctx, r)
	if err != nil {
		r.Close()
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, true
	}
	c.v = v
	c.s.log.Info("viewer connected", "camera", camera, "account", r.Principal(), "addr", addr)
	return c.sdpResponse(req), false
}

func (c *conn) sdpResponse(req *base.Request) *base.Response {
	return &base.Response{StatusCode: base.StatusOK, Header: base.Header{
		"Content-Base": base.HeaderValue{contentBase(req.URL)},
		"Content-Type": base.HeaderValue{"application/sdp"},
	}, Body: c.v.sdp}
}

// cameraOf reads /cameras/{camera}[/…] from a request URL.
func cameraOf(u *base.URL) (domain.ID, bool) {
	if u == nil {
		return "", false
	}
	rest, ok := strings.CutPrefix(u.Path, "/cameras/")
	if !ok {
		return "", false
	}
	id, _, _ := strings.Cut(rest, "/")
	if !domain.ValidID(id) {
		return "", false
	}
	return domain.ID(id), true
}

// contentBase is the stream's URL without its credential.
func contentBase(u *base.URL) string {
	id, _ := cameraOf(u)
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/cameras/" + string(id) + "/"}).String()
}

// newViewer waits briefly for the camera's track and describes it.
func newViewer(ctx context.Context, r *live.Session) (*viewer, error) {
	track, err := r.WaitTrack(ctx)
	if err != nil {
		return nil, errors.New("the camera is not streaming")
	}
	var forma format.Format
	switch track.Codec {
	case media.H265:
		forma = &format.H265{PayloadTyp: payloadType, VPS: track.VPS, SPS: track.SPS, PPS: track.PPS}
	default:
		forma = &format.H264{PayloadTyp: payloadType, SPS: track.SPS, PPS: track.PPS, PacketizationMode: 1}
	}
	desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Control: "trackID=0", Formats: []format.Format{forma}}}}
	sdp, err := desc.Marshal()
	if err != nil {
		return nil, err
	}
	return &viewer{origin: r.Origin(), sess: r, sdp: sdp, pk: newPacketizer(track.Codec)}, nil
}

// doSetup accepts TCP interleaving for the described track.
func (c *conn) doSetup(req *base.Request) *base.Response {
	if c.v == nil {
		return &base.Response{StatusCode: base.StatusUnauthorized}
	}
	if camera, ok := cameraOf(req.URL); !ok || camera != c.v.origin.Camera {
		return &base.Response{StatusCode: base.StatusNotFound}
	}
	if c.setup {
		if !c.sessionOK(req) {
			return &base.Response{StatusCode: base.StatusSessionNotFound}
		}
		return &base.Response{StatusCode: base.StatusAggregateOperationNotAllowed}
	}
	var ts headers.Transports
	if err := ts.Unmarshal(req.Header["Transport"]); err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}
	}
	var chosen *headers.Transport
	for i := range ts {
		t := &ts[i]
		if t.Protocol == headers.TransportProtocolTCP && t.Profile == headers.TransportProfileAVP &&
			(t.Delivery == nil || *t.Delivery == headers.TransportDeliveryUnicast) &&
			(t.Mode == nil || *t.Mode == headers.TransportModePlay) {
			chosen = t
			break
		}
	}
	if chosen == nil {
		// RTSPS keeps video inside TLS: interleaved TCP only.
		return &base.Response{StatusCode: base.StatusUnsupportedTransport}
	}
	ch := 0
	if chosen.InterleavedIDs != nil {
		ch = chosen.InterleavedIDs[0]
		if ch < 0 || ch > 254 || ch%2 != 0 {
			return &base.Response{StatusCode: base.StatusBadRequest}
		}
	}
	var id [8]byte
	rand.Read(id[:])
	c.session, c.setup, c.channel = hex.EncodeToString(id[:]), true, ch
	c.v.pk.ssrc = uint32(id[0])<<24 | uint32(id[1])<<16 | uint32(id[2])<<8 | uint32(id[3])
	delivery := headers.TransportDeliveryUnicast
	reply := headers.Transport{Protocol: headers.TransportProtocolTCP, Profile: headers.TransportProfileAVP,
		Delivery: &delivery, InterleavedIDs: &[2]int{ch, ch + 1}, SSRC: &c.v.pk.ssrc}
	timeout := uint(sessionTimeout)
	return &base.Response{StatusCode: base.StatusOK, Header: base.Header{
		"Transport": reply.Marshal(),
		"Session":   headers.Session{Session: c.session, Timeout: &timeout}.Marshal(),
	}}
}

func (c *conn) sessionOK(req *base.Request) bool {
	if c.session == "" {
		return false
	}
	var h headers.Session
	return h.Unmarshal(req.Header["Session"]) == nil && h.Session == c.session
}

// play starts the stream of a set-up session.
func (c *conn) play(req *base.Request) *base.Response {
	if !c.setup {
		return &base.Response{StatusCode: base.StatusMethodNotValidInThisState}
	}
	if !c.sessionOK(req) {
		return &base.Response{StatusCode: base.StatusSessionNotFound}
	}
	return &base.Response{StatusCode: base.StatusOK, Header: base.Header{
		"Session": headers.Session{Session: c.session}.Marshal(),
		"Range":   base.HeaderValue{"npt=0.000-"},
	}}
}

// startPump sends the viewer's pictures until access ends or the client
// goes; the connection closes with it.
func (c *conn) startPump() {
	c.pump = make(chan struct{})
	v, ch := c.v, c.channel
	c.s.wg.Go(func() {
		defer close(c.pump)
		defer c.nc.Close()
		var lastSR time.Time
		err := v.sess.Watch(c.s.ctx, func(au *media.AccessUnit) error {
			now := time.Now()
			sr := now.Sub(lastSR) >= srInterval
			if sr {
				lastSR = now
			}
			return v.pk.packetize(au, ch, sr, now, func(b []byte) error { return c.write(nil, b) })
		})
		c.s.log.Info("viewer's stream ended", "camera", v.origin.Camera, "account", v.sess.Principal(), "reason", reason(err))
	})
}

func reason(err error) string {
	switch {
	case err == nil:
		return "closed"
	case errors.Is(err, media.ErrRevoked), errors.Is(err, media.ErrStreamEnded):
		return "access ended"
	case errors.Is(err, media.ErrProvenance):
		return "provenance violation"
	case errors.Is(err, media.ErrMoved):
		return "moved to another node"
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return "client gone"
	}
	return "ended"
}

// write sends a response, or interleaved packets, under the write lock.
func (c *conn) write(res *base.Response, packets []byte) error {
	var b []byte
	if res != nil {
		if res.Header == nil {
			res.Header = base.Header{}
		}
		res.Header["Server"] = base.HeaderValue{"camvault"}
		var err error
		if b, err = res.Marshal(); err != nil {
			return err
		}
	} else {
		b = packets
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// Moving the deadline costs a timer update: do it once a second.
	if now := time.Now(); c.deadline.Sub(now) < writeTimeout-time.Second {
		c.deadline = now.Add(writeTimeout)
		c.nc.SetWriteDeadline(c.deadline)
	}
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("write to viewer: %w", err)
	}
	return nil
}
