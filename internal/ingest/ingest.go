// Package ingest receives cameras' video: agents push H.264 or H.265 over
// RTSPS (RTSP over TLS, interleaved on TCP) with their device certificate.
// The server maps the certificate to the camera and its current
// generation — never trusting the path or anything else the device sends
// — and accepts one stream, on the path /cameras/{camera}, only for that
// camera. Every access unit is checked against the GOP signatures the
// agent embeds (package videosig) with the key the camera enrolled with;
// a stream whose signature fails is cut. Accepted units enter the hub
// stamped with their origin (camera, generation).
//
// The package also starts and stops streams on demand (Demand: a device
// is asked to push, an IP camera is pulled, Pull) and fetches pulled
// cameras' snapshot URLs (FetchSnapshot).
package ingest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/videosig"
)

// Service is what the ingest server needs of the use cases.
type Service interface {
	// AuthenticateDevice maps a device's client certificate to its
	// camera at the camera's current generation, or fails.
	AuthenticateDevice(ctx context.Context, cert *x509.Certificate) (domain.Camera, error)
}

// Config configures the ingest server.
type Config struct {
	Service Service
	Hub     *media.Hub
	Logger  *slog.Logger
	// TLS is the listener's configuration; it must require and verify
	// device client certificates (devicehub's TLSConfig does).
	TLS *tls.Config
	// Events, if set, hears stream events for metrics ("accepted",
	// "refused"). It must not block.
	Events func(event string)
}

// Server is the ingest server.
type Server struct {
	cfg  Config
	log  *slog.Logger
	rtsp *gortsplib.Server
}

// Start serves on l until Close.
func Start(cfg Config, l net.Listener) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Events == nil {
		cfg.Events = func(string) {}
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	h := &handler{s: s}
	s.rtsp = &gortsplib.Server{
		Handler:     h,
		RTSPAddress: l.Addr().String(),
		TLSConfig:   cfg.TLS,
		ReadTimeout: 15 * time.Second,
		// Interleaved TCP only: no UDP ports are opened.
		Listen: func(string, string) (net.Listener, error) { return l, nil },
	}
	h.server = s.rtsp
	if err := s.rtsp.Start(); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return s, nil
}

// Close stops the server and ends every session.
func (s *Server) Close() { s.rtsp.Close() }

// handler implements gortsplib's server callbacks.
type handler struct {
	s      *Server
	server *gortsplib.Server
}

// publishing is one accepted stream.
type publishing struct {
	camera    domain.Camera
	media     *description.Media
	format    format.Format
	codec     bitstream.Codec
	publisher *media.Publisher
	verifier  *videosig.Verifier
	decode    func(*rtp.Packet) ([][]byte, error)

	mu      sync.Mutex // guards the fields below
	closed  bool
	started bool
	first   uint32 // RTP timestamp of the first unit
}

func refuse(code base.StatusCode, why string) (*base.Response, error) {
	return &base.Response{StatusCode: code}, errors.New(why)
}

// camera authenticates the connection's client certificate.
func (h *handler) camera(conn *gortsplib.ServerConn) (domain.Camera, error) {
	tc, ok := conn.NetConn().(*tls.Conn)
	if !ok {
		return domain.Camera{}, errors.New("not a TLS connection")
	}
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return domain.Camera{}, errors.New("no client certificate")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return h.s.cfg.Service.AuthenticateDevice(ctx, st.PeerCertificates[0])
}

// OnAnnounce accepts a stream for the certificate's own camera only.
func (h *handler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	cam, err := h.camera(ctx.Conn)
	if err != nil {
		h.s.cfg.Events("refused")
		return refuse(base.StatusUnauthorized, "device not accepted")
	}
	log := h.s.log.With("camera", cam.ID, "generation", cam.Generation)
	if strings.Trim(ctx.Path, "/") != "cameras/"+string(cam.ID) {
		log.Warn("refused a stream for another path", "path", ctx.Path)
		h.s.cfg.Events("refused")
		return refuse(base.StatusForbidden, "a device may publish only its own camera")
	}
	p := &publishing{camera: cam}
	var h264 *format.H264
	var h265 *format.H265
	switch {
	case ctx.Description.FindFormat(&h264) != nil:
		p.media, p.format, p.codec = ctx.Description.FindFormat(&h264), h264, bitstream.H264
		dec, err := h264.CreateDecoder()
		if err != nil {
			return refuse(base.StatusBadRequest, "bad H.264 format")
		}
		p.decode = dec.Decode
	case ctx.Description.FindFormat(&h265) != nil:
		p.media, p.format, p.codec = ctx.Description.FindFormat(&h265), h265, bitstream.H265
		dec, err := h265.CreateDecoder()
		if err != nil {
			return refuse(base.StatusBadRequest, "bad H.265 format")
		}
		p.decode = dec.Decode
	default:
		h.s.cfg.Events("refused")
		return refuse(base.StatusUnsupportedMediaType, "only H.264 and H.265 video are accepted")
	}
	if p.verifier, err = videosig.NewVerifier(p.codec, cam.DeviceKey, cam.ID, cam.Generation); err != nil {
		return refuse(base.StatusBadRequest, "device key")
	}
	track := media.Track{Codec: p.codec}
	if p.codec == bitstream.H265 {
		track.VPS, track.SPS, track.PPS = h265.VPS, h265.SPS, h265.PPS
	} else {
		track.SPS, track.PPS = h264.SPS, h264.PPS
	}
	p.publisher = h.s.cfg.Hub.Publish(cam.Ref(), track)
	ctx.Session.SetUserData(p)
	log.Info("camera publishing", "codec", track.Codec)
	h.s.cfg.Events("accepted")
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup allows setting up the announced media only.
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() != gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusForbidden}, nil, errors.New("ingest takes streams; it serves none")
	}
	return &base.Response{StatusCode: base.StatusOK}, nil, nil
}

// OnDescribe: ingest serves nothing.
func (h *handler) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusForbidden}, nil, errors.New("ingest serves no streams")
}

// OnRecord starts taking packets.
func (h *handler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	p, ok := ctx.Session.UserData().(*publishing)
	if !ok {
		return &base.Response{StatusCode: base.StatusBadRequest}, errors.New("record before announce")
	}
	sess := ctx.Session
	ctx.Session.OnPacketRTP(p.media, p.format, func(pkt *rtp.Packet) {
		h.packet(sess, p, pkt)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// maxAUBytes bounds one access unit (a 4K keyframe is well under it).
const maxAUBytes = 2 << 20

func (h *handler) packet(sess *gortsplib.ServerSession, p *publishing, pkt *rtp.Packet) {
	nalus, err := p.decode(pkt)
	if err != nil || len(nalus) == 0 {
		return // more packets needed, or a damaged packet: drop it
	}
	size := 0
	for _, n := range nalus {
		size += len(n)
	}
	if size > maxAUBytes {
		h.cut(sess, p, "access unit too large")
		return
	}
	if _, err := p.verifier.Push(nalus); err != nil {
		h.cut(sess, p, "signature check failed: "+err.Error())
		return
	}
	// Presentation time from the 90 kHz RTP clock, relative to the first
	// unit (unsigned arithmetic handles wrap-around).
	p.mu.Lock()
	if !p.started {
		p.first, p.started = pkt.Timestamp, true
	}
	pts := time.Duration(pkt.Timestamp-p.first) * time.Second / 90000
	p.mu.Unlock()
	au := &media.AccessUnit{Origin: p.camera.Ref(), PTS: pts, Capture: time.Now(), Key: bitstream.HasKey(p.codec, nalus), NALUs: nalus}
	if err := p.publisher.Write(au); err != nil {
		h.cut(sess, p, "stream ended: "+err.Error())
	}
}

// cut ends a stream that must not go on.
func (h *handler) cut(sess *gortsplib.ServerSession, p *publishing, why string) {
	p.mu.Lock()
	first := !p.closed
	p.closed = true
	p.mu.Unlock()
	if !first {
		return
	}
	h.s.log.Warn("cut a camera stream", "camera", p.camera.ID, "generation", p.camera.Generation, "reason", why)
	h.s.cfg.Events("refused")
	p.publisher.Close()
	go sess.Close()
}

// OnSessionClose releases the publisher.
func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	if p, ok := ctx.Session.UserData().(*publishing); ok {
		p.publisher.Close()
		h.s.log.Info("camera stopped publishing", "camera", p.camera.ID)
	}
}
