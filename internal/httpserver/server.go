package httpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/service"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// SessionCookie is the browser session cookie's name.
const SessionCookie = "camvault_session"

// Config configures a Server.
type Config struct {
	Routes  []Route
	Auth    Authenticator
	Logger  *slog.Logger
	Metrics *Metrics
	// TLS is true when the server is reached over HTTPS: cookies are
	// Secure and HSTS is sent.
	TLS bool
	// SignInPath is where browser routes send unauthenticated callers.
	SignInPath string
}

// Server is camvault's HTTP handler.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	cop     *http.CrossOriginProtection
	handler http.Handler
}

// New builds the server, refusing a route table in which any route fails
// Route.Check.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.SignInPath == "" {
		cfg.SignInPath = "/login"
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), cop: http.NewCrossOriginProtection()}
	seen := map[string]bool{}
	for _, rt := range cfg.Routes {
		if err := rt.Check(); err != nil {
			return nil, err
		}
		if seen[rt.Pattern] {
			return nil, fmt.Errorf("route %q registered twice", rt.Pattern)
		}
		seen[rt.Pattern] = true
		s.mux.Handle(rt.Pattern, s.wrap(rt))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, &service.Error{Kind: service.KindNotFound, Code: "not_found", Message: "not found"}, s.log)
	})
	s.handler = s.recoverer(s.headers(s.mux))
	return s, nil
}

// Routes returns the route table.
func (s *Server) Routes() []Route { return s.cfg.Routes }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v))
				WriteError(w, r, errors.New("panic"), s.log)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// headers sets the security headers every response carries.
func (s *Server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if s.cfg.TLS {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// wrap applies the per-route middleware: metrics, body limit, cross-origin
// protection, caller resolution and the authentication requirement.
func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() { s.cfg.Metrics.observe(rt.Pattern, rec.status, time.Since(start)) }()
		w = rec
		if r.ContentLength > MaxBodyBytes {
			WriteError(w, r, &service.Error{Kind: service.KindInvalid, Code: "too_large", Message: "request body too large"}, s.log)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		if err := s.cop.Check(r); err != nil {
			WriteError(w, r, &service.Error{Kind: service.KindForbidden, Code: "cross_origin", Message: "cross-origin request refused"}, s.log)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		c, err := s.caller(r)
		if err != nil && service.KindOf(err) == service.KindInternal {
			WriteError(w, r, err, s.log)
			return
		}
		if rt.Action != "" && c.Anonymous() {
			s.cfg.Auth.RecordDenied(r.Context(), c, rt.Action, "no credentials: "+rt.Pattern)
			if rt.Browser {
				to := s.cfg.SignInPath
				if r.Method == http.MethodGet {
					to += "?next=" + url.QueryEscape(r.URL.RequestURI())
				}
				http.Redirect(w, r, to, http.StatusSeeOther)
				return
			}
			WriteError(w, r, &service.Error{Kind: service.KindUnauthenticated, Code: "unauthenticated", Message: "sign in first"}, s.log)
			return
		}
		rt.Handler(w, r, c)
	})
}

// caller resolves the request's credentials: a bearer token, else the
// session cookie. No credentials is the anonymous caller; bad credentials
// are too (and the cookie is cleared by the sign-in page).
func (s *Server) caller(r *http.Request) (service.Caller, error) {
	anon := service.Caller{Addr: ClientAddr(r), UserAgent: r.UserAgent()}
	token := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return anon, nil
		}
		token = strings.TrimSpace(tok)
	} else if ck, err := r.Cookie(SessionCookie); err == nil {
		token = ck.Value
	}
	if token == "" {
		return anon, nil
	}
	c, err := s.cfg.Auth.Authenticate(r.Context(), token, anon.Addr, anon.UserAgent)
	if err != nil {
		return anon, err
	}
	return c, nil
}

// ClientAddr is the request's client IP address (the TCP peer; forwarded
// headers are not trusted).
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// SetSessionCookie sets the browser session cookie: HttpOnly,
// SameSite=Lax, and Secure when the server is reached over TLS.
func SetSessionCookie(w http.ResponseWriter, token string, maxAge time.Duration, secure bool) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
}

// KnownDeviceCookie keeps the known-device token a browser gets at
// sign-in; it only spares the account-wide login throttle.
const KnownDeviceCookie = "camvault_device"

// KnownDevice returns the known-device token r carries, or "".
func KnownDevice(r *http.Request) string {
	if ck, err := r.Cookie(KnownDeviceCookie); err == nil {
		return ck.Value
	}
	return ""
}

// SetKnownDeviceCookie stores a known-device token in the browser.
func SetKnownDeviceCookie(w http.ResponseWriter, token string, maxAge time.Duration, secure bool) {
	http.SetCookie(w, &http.Cookie{
		Name: KnownDeviceCookie, Value: token, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
}

// ClearSessionCookie removes the browser session cookie.
func ClearSessionCookie(w http.ResponseWriter, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Serve serves on l until ctx is done, then shuts down gracefully, waiting
// up to grace for requests in flight.
func Serve(ctx context.Context, l net.Listener, h http.Handler, tlsConf *tls.Config, log *slog.Logger, grace time.Duration) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return serve(ctx, srv, l, tlsConf, grace)
}

// ServeStreams is Serve for long-lived connections (WebSockets): no
// whole-request read or write deadline, which would cut them; the handlers
// keep their own liveness checks.
func ServeStreams(ctx context.Context, l net.Listener, h http.Handler, tlsConf *tls.Config, log *slog.Logger, grace time.Duration) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return serve(ctx, srv, l, tlsConf, grace)
}

func serve(ctx context.Context, srv *http.Server, l net.Listener, tlsConf *tls.Config, grace time.Duration) error {
	if tlsConf != nil {
		l = tls.NewListener(l, tlsConf)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		// Requests still running after the grace period (a busy
		// server, a slow client) are cut: stopping is not an error.
		srv.ErrorLog.Printf("shutdown: connections still busy after %v were closed", grace)
		err = srv.Close()
	}
	<-errc
	return err
}
