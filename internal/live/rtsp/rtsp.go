// Package rtsp serves live video to RTSP clients (VLC, Home Assistant,
// other NVRs) over RTSPS, without transcoding. A viewer asks the API for a
// stream URL and gets rtsps://…/cameras/{camera}?token=…: the token is a
// single-use credential valid for 60 seconds, bound to the viewer, the
// camera's generation and the protocol. Each viewer gets its own stream
// fed by its own hub reader, so the provenance guard and the viewer's
// grant are checked before every access unit it is sent. When the grant
// runs out the viewer is re-authorized; when access is withdrawn the
// session ends.
package rtsp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/service"
)

// Config configures the viewer RTSPS server.
type Config struct {
	Service *service.Service
	Logger  *slog.Logger
	// TLS is the server's TLS configuration (no client certificates).
	TLS *tls.Config
}

// Server is the viewer RTSPS server.
type Server struct {
	cfg  Config
	log  *slog.Logger
	rtsp *gortsplib.Server
}

// Start serves viewers on l until Close.
func Start(cfg Config, l net.Listener) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	h := &handler{s: s}
	s.rtsp = &gortsplib.Server{
		Handler:     h,
		RTSPAddress: l.Addr().String(),
		TLSConfig:   cfg.TLS,
		Listen:      func(string, string) (net.Listener, error) { return l, nil },
	}
	h.server = s.rtsp
	if err := s.rtsp.Start(); err != nil {
		return nil, fmt.Errorf("live rtsp: %w", err)
	}
	return s, nil
}

// Close ends every viewer session.
func (s *Server) Close() { s.rtsp.Close() }

type handler struct {
	s      *Server
	server *gortsplib.Server
}

// viewer is one client's stream.
type viewer struct {
	caller service.Caller
	origin domain.CameraRef
	stream *gortsplib.ServerStream
	media  *description.Media
	encode func([][]byte) ([]*rtp.Packet, error)

	mu     sync.Mutex // guards reader and cancel
	reader *media.Reader
	cancel context.CancelFunc
}

func (v *viewer) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cancel != nil {
		v.cancel()
	}
	if v.reader != nil {
		v.reader.Close()
	}
	v.stream.Close()
}

// OnDescribe redeems the URL's credential and prepares the viewer's
// stream.
func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if v, ok := ctx.Conn.UserData().(*viewer); ok {
		return &base.Response{StatusCode: base.StatusOK}, v.stream, nil
	}
	camera, ok := strings.CutPrefix(strings.Trim(ctx.Path, "/"), "cameras/")
	q, _ := url.ParseQuery(ctx.Query)
	if !ok || !domain.ValidID(camera) {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, errors.New("no such stream")
	}
	addr, _, _ := net.SplitHostPort(ctx.Conn.NetConn().RemoteAddr().String())
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, caller, err := h.s.cfg.Service.RedeemStream(rctx, q.Get("token"), domain.ID(camera), service.ProtoRTSP, addr)
	if err != nil {
		// The same answer for a bad token and a camera not the
		// viewer's: nothing to learn by probing.
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, errors.New("not authorized")
	}
	v, err := h.newViewer(rctx, r, caller)
	if err != nil {
		r.Close()
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, err
	}
	ctx.Conn.SetUserData(v)
	h.s.log.Info("viewer connected", "camera", camera, "account", caller.Account.ID, "addr", addr)
	return &base.Response{StatusCode: base.StatusOK}, v.stream, nil
}

// newViewer waits briefly for the camera's track and builds the stream.
func (h *handler) newViewer(ctx context.Context, r *media.Reader, caller service.Caller) (*viewer, error) {
	track, err := r.WaitTrack(ctx)
	if err != nil {
		return nil, errors.New("the camera is not streaming")
	}
	v := &viewer{caller: caller, origin: r.Grant().Camera(), reader: r}
	var forma format.Format
	switch track.Codec {
	case media.H265:
		f := &format.H265{PayloadTyp: 96, VPS: track.VPS, SPS: track.SPS, PPS: track.PPS}
		enc, err := f.CreateEncoder()
		if err != nil {
			return nil, err
		}
		forma, v.encode = f, enc.Encode
	default:
		f := &format.H264{PayloadTyp: 96, SPS: track.SPS, PPS: track.PPS, PacketizationMode: 1}
		enc, err := f.CreateEncoder()
		if err != nil {
			return nil, err
		}
		forma, v.encode = f, enc.Encode
	}
	v.media = &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	v.stream = &gortsplib.ServerStream{Server: h.server, Desc: &description.Session{Medias: []*description.Media{v.media}}}
	if err := v.stream.Initialize(); err != nil {
		return nil, err
	}
	return v, nil
}

// OnSetup serves only the stream its connection described.
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	v, ok := ctx.Conn.UserData().(*viewer)
	if !ok || ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, errors.New("describe first, with a stream credential")
	}
	return &base.Response{StatusCode: base.StatusOK}, v.stream, nil
}

// OnPlay starts pumping the viewer's reader into its stream.
func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	v, ok := ctx.Conn.UserData().(*viewer)
	if !ok {
		return &base.Response{StatusCode: base.StatusUnauthorized}, errors.New("no stream")
	}
	v.mu.Lock()
	if v.cancel == nil {
		pctx, cancel := context.WithCancel(context.Background())
		v.cancel = cancel
		sess := ctx.Session
		go h.pump(pctx, v, sess)
	}
	v.mu.Unlock()
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnAnnounce: viewers do not publish.
func (h *handler) OnAnnounce(*gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusForbidden}, errors.New("viewers cannot publish")
}

// pump writes the viewer's frames to its stream until access ends.
func (h *handler) pump(ctx context.Context, v *viewer, sess *gortsplib.ServerSession) {
	defer sess.Close()
	base := uint32(time.Now().UnixNano())
	h.s.cfg.Service.Watch(ctx, v.reader, v.caller, func(au *media.AccessUnit) error {
		pkts, err := v.encode(au.NALUs)
		if err != nil {
			return nil // an undecodable unit: skip it
		}
		ts := base + uint32(au.PTS*90000/time.Second)
		for _, p := range pkts {
			p.Timestamp = ts
			if err := v.stream.WritePacketRTP(v.media, p); err != nil {
				return err
			}
		}
		return nil
	})
	h.s.log.Info("viewer's stream ended", "camera", v.origin.Camera, "account", v.caller.Account.ID)
}

// OnConnClose ends the viewer.
func (h *handler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	if v, ok := ctx.Conn.UserData().(*viewer); ok {
		v.close()
	}
}
