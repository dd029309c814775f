// Package hls serves live video as Low-Latency HLS (gohlslib), without
// transcoding, for players that have neither WebRTC nor RTSP. A viewer
// asks the API for a stream URL: /hls/cameras/{camera}/index.m3u8?token=…
// The first playlist request spends the single-use credential and opens the
// viewer's own session — its own hub reader, grant and muxer; the muxer
// carries the token into every playlist and segment URI, and it names that
// session only. The session is bound to the client address that opened it:
// the same URLs from any other address are answered "not found", as an
// unknown token is, so a URL that leaks after use plays nowhere else. A
// session ends when its viewer's access is withdrawn or it goes unused for
// 30 seconds.
package hls

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/fault"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/live"
	"github.com/camvault/camvault/internal/media"
)

// Config configures the HLS server.
type Config struct {
	// Redeemer spends stream credentials (the service).
	Redeemer live.Redeemer
	// Live opens viewer sessions on the hub.
	Live   *live.Viewers
	Logger *slog.Logger
	// Idle ends a session unused this long; zero means 30 s.
	Idle time.Duration
}

// Server serves HLS sessions.
type Server struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex // guards sessions and closed
	sessions map[string]*session
	closed   bool
	wg       sync.WaitGroup
	stop     chan struct{}
}

type session struct {
	camera domain.ID
	addr   string // the client address that opened the session
	muxer  *gohlslib.Muxer
	cancel context.CancelFunc

	mu   sync.Mutex // guards used
	used time.Time
}

// New starts the server's janitor.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Idle == 0 {
		cfg.Idle = 30 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger, sessions: map[string]*session{}, stop: make(chan struct{})}
	s.wg.Go(s.janitor)
	return s
}

// Routes returns the HLS route.
func (s *Server) Routes() []httpserver.Route {
	return []httpserver.Route{{Pattern: "GET /hls/cameras/{camera}/{file}",
		Public: "HLS: the single-use stream credential in the query opens, and then names, one viewer's session", Handler: httpserver.Anyone(s.serve)}}
}

// errNotFound answers an unknown token, a session of another camera and a
// session opened from another address alike.
var errNotFound = &fault.Error{Kind: fault.KindNotFound, Code: "not_found", Message: "not found"}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	addr := httpserver.ClientAddr(r)
	token := r.URL.Query().Get("token")
	camera := domain.ID(r.PathValue("camera"))
	sum := sha256.Sum256([]byte(token))
	key := hex.EncodeToString(sum[:])
	s.mu.Lock()
	sess, ok := s.sessions[key]
	s.mu.Unlock()
	if !ok {
		if r.PathValue("file") != "index.m3u8" {
			httpserver.WriteError(w, r, errNotFound, s.log)
			return
		}
		var err error
		if sess, err = s.open(r.Context(), key, token, camera, addr); err != nil {
			httpserver.WriteError(w, r, err, s.log)
			return
		}
	}
	if sess.camera != camera {
		httpserver.WriteError(w, r, errNotFound, s.log)
		return
	}
	if addr == "" || addr != sess.addr {
		s.log.Warn("HLS session asked for from another address; refused", "camera", camera)
		httpserver.WriteError(w, r, errNotFound, s.log)
		return
	}
	sess.mu.Lock()
	sess.used = time.Now()
	sess.mu.Unlock()
	w.Header().Del("Cache-Control")
	sess.muxer.Handle(w, r)
}

// open redeems the credential and starts the viewer's session.
func (s *Server) open(ctx context.Context, key, token string, camera domain.ID, addr string) (*session, error) {
	r, err := s.cfg.Live.Redeem(ctx, s.cfg.Redeemer, token, camera, live.ProtoHLS, addr)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	track, err := r.WaitTrack(wctx)
	if err != nil {
		r.Close()
		return nil, &fault.Error{Kind: fault.KindUnavailable, Code: "camera_offline", Message: "the camera is not streaming"}
	}
	ht := &gohlslib.Track{ClockRate: 90000}
	if track.Codec == media.H265 {
		ht.Codec = &codecs.H265{VPS: track.VPS, SPS: track.SPS, PPS: track.PPS}
	} else {
		ht.Codec = &codecs.H264{SPS: track.SPS, PPS: track.PPS}
	}
	mux := &gohlslib.Muxer{Tracks: []*gohlslib.Track{ht}, Variant: gohlslib.MuxerVariantLowLatency,
		SegmentCount: 7, SegmentMinDuration: time.Second, PartMinDuration: 200 * time.Millisecond,
		OnEncodeError: func(err error) { s.log.Warn("HLS encode", "camera", camera, "err", err) }}
	if err := mux.Start(); err != nil {
		r.Close()
		return nil, err
	}
	pctx, pcancel := context.WithCancel(context.Background())
	sess := &session{camera: camera, addr: addr, muxer: mux, cancel: pcancel, used: time.Now()}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		pcancel()
		mux.Close()
		r.Close()
		return nil, errors.New("shutting down")
	}
	s.sessions[key] = sess
	s.wg.Add(1)
	s.mu.Unlock()
	go s.pump(pctx, key, sess, r, ht, track.Codec)
	s.log.Info("HLS viewer started", "camera", camera, "account", r.Principal())
	return sess, nil
}

// pump feeds the viewer's muxer until its access or session ends.
func (s *Server) pump(ctx context.Context, key string, sess *session, r *live.Session, ht *gohlslib.Track, codec media.Codec) {
	defer s.wg.Done()
	origin := r.Origin()
	defer func() {
		r.Close()
		sess.muxer.Close()
		s.mu.Lock()
		if s.sessions[key] == sess {
			delete(s.sessions, key)
		}
		s.mu.Unlock()
	}()
	err := r.Watch(ctx, func(au *media.AccessUnit) error {
		pts := int64(au.PTS) * 90000 / int64(time.Second)
		if codec == media.H265 {
			return sess.muxer.WriteH265(ht, au.Capture, pts, au.NALUs)
		}
		return sess.muxer.WriteH264(ht, au.Capture, pts, au.NALUs)
	})
	s.log.Info("HLS viewer's stream ended", "camera", origin.Camera, "account", r.Principal(), "err", err)
}

// janitor ends sessions nobody reads.
func (s *Server) janitor() {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		for _, sess := range s.sessions {
			sess.mu.Lock()
			idle := time.Since(sess.used) > s.cfg.Idle
			sess.mu.Unlock()
			if idle {
				sess.cancel()
			}
		}
		s.mu.Unlock()
	}
}

// Sessions returns the number of HLS viewers.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Close ends every session and waits.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	for _, sess := range s.sessions {
		sess.cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
