// Package whep serves live video to browsers and other WebRTC players over
// WHEP (WebRTC-HTTP Egress Protocol) with pion/webrtc, without
// transcoding. A viewer asks the API for a stream URL and POSTs its SDP
// offer to it; the URL's single-use credential (60 s, bound to viewer,
// camera generation and protocol) is redeemed for a grant, for which
// package live opens the viewer's own hub reader, whose grant and
// provenance guard are checked before every frame. The answer's Location
// names the session, which the viewer DELETEs to stop.
package whep

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/fault"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/live"
	"github.com/camvault/camvault/internal/media"
)

// Config configures the WHEP server.
type Config struct {
	// Redeemer spends stream credentials (the service).
	Redeemer live.Redeemer
	// Live opens viewer sessions on the hub.
	Live   *live.Viewers
	Logger *slog.Logger
}

// Server answers WHEP requests.
type Server struct {
	cfg Config
	log *slog.Logger
	api *webrtc.API

	annexB   *annexBCache
	mu       sync.Mutex // guards sessions and closed
	sessions map[string]*peer
	closed   bool
	wg       sync.WaitGroup
}

// New returns a WHEP server.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	// Only what a sender of live video needs: retransmission on NACK
	// from a buffer of 256 packets (about a second of 720p) per viewer,
	// and RTCP reports. No statistics or bandwidth-estimation
	// interceptors: pictures are sent as the camera made them.
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNackWithOptions(m, ir, nil, nack.ResponderSize(256)); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	se := LoopbackOK()
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return &Server{cfg: cfg, log: cfg.Logger, api: api, sessions: map[string]*peer{}, annexB: newAnnexBCache()}, nil
}

// Routes returns the WHEP routes.
func (s *Server) Routes() []httpserver.Route {
	return []httpserver.Route{
		{Pattern: "POST /whep/cameras/{camera}", Public: "WHEP: the single-use stream credential in the URL is the credential", Handler: httpserver.Anyone(s.offer)},
		{Pattern: "DELETE /whep/sessions/{session}", Public: "WHEP: the unguessable session resource returned to the viewer is the credential", Handler: httpserver.Anyone(s.remove)},
	}
}

// peer is one viewer's connection.
type peer struct {
	id     string
	pc     *webrtc.PeerConnection
	track  *webrtc.TrackLocalStaticSample
	origin domain.CameraRef
	cancel context.CancelFunc
}

func fail(w http.ResponseWriter, r *http.Request, status int, code, msg string, log *slog.Logger) {
	kind := fault.KindInvalid
	switch status {
	case http.StatusUnauthorized:
		kind = fault.KindUnauthenticated
	case http.StatusNotFound:
		kind = fault.KindNotFound
	case http.StatusServiceUnavailable:
		kind = fault.KindInternal
	}
	httpserver.WriteError(w, r, &fault.Error{Kind: kind, Code: code, Message: msg}, log)
}

func (s *Server) offer(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/sdp") {
		fail(w, r, http.StatusUnsupportedMediaType, "bad_request", "the body must be an SDP offer (application/sdp)", s.log)
		return
	}
	offer, err := io.ReadAll(r.Body)
	if err != nil || len(offer) == 0 {
		fail(w, r, http.StatusBadRequest, "bad_request", "could not read the SDP offer", s.log)
		return
	}
	camera := domain.ID(r.PathValue("camera"))
	sess, err := s.cfg.Live.Redeem(r.Context(), s.cfg.Redeemer, r.URL.Query().Get("token"), camera, live.ProtoWebRTC, httpserver.ClientAddr(r))
	if err != nil {
		fail(w, r, http.StatusUnauthorized, "unauthenticated", "stream credential not valid", s.log)
		return
	}
	p, answer, err := s.connect(r.Context(), sess, string(offer))
	if err != nil {
		sess.Close()
		s.log.Warn("WHEP negotiation failed", "camera", camera, "err", err)
		fail(w, r, http.StatusBadRequest, "bad_offer", "could not negotiate the stream: "+safeReason(err), s.log)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whep/sessions/"+p.id)
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

// safeReason is the part of a negotiation error a client may see.
func safeReason(err error) string {
	switch {
	case errors.Is(err, errNoH264):
		return err.Error()
	case errors.Is(err, errNotStreaming):
		return err.Error()
	}
	return "invalid SDP"
}

var (
	errNoH264       = errors.New("this camera sends H.265, which browsers play over HLS or RTSP, not WebRTC")
	errNotStreaming = errors.New("the camera is not streaming")
)

// connect answers the offer and starts the viewer's pump.
func (s *Server) connect(ctx context.Context, sess *live.Session, offer string) (*peer, string, error) {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	track, err := sess.WaitTrack(wctx)
	if err != nil {
		return nil, "", errNotStreaming
	}
	if track.Codec != media.H264 {
		return nil, "", errNoH264
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", err
	}
	vt, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "camvault")
	if err != nil {
		pc.Close()
		return nil, "", err
	}
	sender, err := pc.AddTrack(vt)
	if err != nil {
		pc.Close()
		return nil, "", err
	}
	go func() { // RTCP must be read for the interceptors to work
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		pc.Close()
		return nil, "", err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		pc.Close()
		return nil, "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		pc.Close()
		return nil, "", err
	}
	select {
	case <-gathered:
	case <-wctx.Done():
		pc.Close()
		return nil, "", errors.New("ICE gathering timed out")
	}
	id := make([]byte, 24)
	rand.Read(id)
	pctx, pcancel := context.WithCancel(context.Background())
	p := &peer{id: base64.RawURLEncoding.EncodeToString(id), pc: pc, track: vt, origin: sess.Origin(), cancel: pcancel}
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			once.Do(func() { close(connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateDisconnected:
			pcancel()
		}
	})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		pcancel()
		pc.Close()
		return nil, "", errors.New("shutting down")
	}
	s.sessions[p.id] = p
	s.wg.Add(1)
	s.mu.Unlock()
	go s.pump(pctx, p, sess, connected)
	return p, pc.LocalDescription().SDP, nil
}

// pump writes the session's frames to the viewer's track until access or
// the connection ends.
func (s *Server) pump(ctx context.Context, p *peer, sess *live.Session, connected <-chan struct{}) {
	defer s.wg.Done()
	defer func() {
		sess.Close()
		p.pc.Close()
		s.mu.Lock()
		delete(s.sessions, p.id)
		s.mu.Unlock()
	}()
	select {
	case <-connected:
	case <-ctx.Done():
		return
	case <-time.After(30 * time.Second):
		return
	}
	s.log.Info("WHEP viewer connected", "camera", p.origin.Camera, "account", sess.Principal())
	var last time.Duration
	sess.Watch(ctx, func(au *media.AccessUnit) error {
		d := au.PTS - last
		if d <= 0 || d > time.Second {
			d = time.Second / 15
		}
		last = au.PTS
		return p.track.WriteSample(pmedia.Sample{Data: s.annexB.of(au), Duration: d})
	})
	s.log.Info("WHEP viewer's stream ended", "camera", p.origin.Camera, "account", sess.Principal())
}

// annexBCache makes each access unit's Annex-B form once for all the
// viewers it goes to; units are immutable, so their address names them.
type annexBCache struct {
	mu   sync.Mutex // guards the fields below
	m    map[*media.AccessUnit][]byte
	keys [64]*media.AccessUnit // the newest units, oldest evicted
	next int
}

func newAnnexBCache() *annexBCache {
	return &annexBCache{m: map[*media.AccessUnit][]byte{}}
}

// of returns au as Annex-B. The result is shared: callers must not
// modify it.
func (c *annexBCache) of(au *media.AccessUnit) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.m[au]; ok {
		return b
	}
	b := annexB(au.NALUs)
	if old := c.keys[c.next]; old != nil {
		delete(c.m, old)
	}
	c.keys[c.next], c.next = au, (c.next+1)%len(c.keys)
	c.m[au] = b
	return b
}

func annexB(nalus [][]byte) []byte {
	n := 0
	for _, x := range nalus {
		n += 4 + len(x)
	}
	b := make([]byte, 0, n)
	for _, x := range nalus {
		b = append(b, 0, 0, 0, 1)
		b = append(b, x...)
	}
	return b
}

func (s *Server) remove(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p, ok := s.sessions[r.PathValue("session")]
	s.mu.Unlock()
	if !ok {
		fail(w, r, http.StatusNotFound, "not_found", "not found", s.log)
		return
	}
	p.cancel()
	w.WriteHeader(http.StatusNoContent)
}

// Sessions returns the number of WHEP viewers.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Close ends every viewer and waits.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, p := range s.sessions {
		p.cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// LoopbackOK is a setting engine that lets ICE use loopback candidates
// too, so that peers on the server's own machine connect even without
// another network interface. Clients on the same machine (tests, bench)
// use it as well.
func LoopbackOK() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	return se
}
