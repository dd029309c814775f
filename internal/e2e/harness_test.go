package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/agent"
	"github.com/camvault/camvault/internal/app"
	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/ffmpeg"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/syncbuf"
)

// password passes the server's strength check; every test account has it.
const password = "tulip-Harbor-97-kettle"

// syncBuffer is a goroutine-safe buffer.
type syncBuffer = syncbuf.Buffer

// server is a running camvault server.
type server struct {
	t      *testing.T
	url    string
	stderr *syncBuffer
	logs   *syncBuffer
	stop   func()
	parts  app.Parts
}

// startServer runs the real server (app.Run) on loopback ports.
func startServer(t *testing.T, edit func(*config.Config)) *server {
	t.Helper()
	return runServer(t, testConfig(t, edit), &syncBuffer{})
}

// testConfig is the configuration startServer runs with.
func testConfig(t *testing.T, edit func(*config.Config)) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Devices.Listen = "127.0.0.1:0"
	cfg.Devices.IngestListen = "127.0.0.1:0"
	cfg.Live.RTSPListen = "127.0.0.1:0"
	cfg.Auth.OpenSignup = true
	if edit != nil {
		edit(&cfg)
	}
	return cfg
}

// runServer runs the server with cfg until the test ends or s.stop.
func runServer(t *testing.T, cfg config.Config, logs *syncBuffer) *server {
	t.Helper()
	s := &server{t: t, stderr: &syncBuffer{}, logs: logs}
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, app.Options{Config: cfg, Stderr: s.stderr, Logger: slog.New(slog.NewTextHandler(s.logs, nil)),
			Ready: func(u string) { ready <- u }, Started: func(p app.Parts) { s.parts = p }})
	}()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs.String())
		}
	})
	select {
	case s.url = <-ready:
	case err := <-done:
		t.Fatalf("server did not start: %v\n%s", err, s.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start in time")
	}
	return s
}

// send sends a JSON request (no body when body is nil) to url with an
// optional bearer token and decodes the JSON answer into a map.
func send(t *testing.T, method, url string, body any, token string) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, url, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func post(t *testing.T, url string, body any, token string) (int, map[string]any) {
	t.Helper()
	return send(t, "POST", url, body, token)
}

func getJSON(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	return send(t, "GET", url, nil, token)
}

// call sends a JSON request to the server with an optional bearer token.
func (s *server) call(token, method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	return send(s.t, method, s.url+path, body, token)
}

func (s *server) must(token, method, path string, body any, want int) map[string]any {
	s.t.Helper()
	code, out := s.call(token, method, path, body)
	if code != want {
		s.t.Fatalf("%s %s: %d %v, want %d", method, path, code, out, want)
	}
	return out
}

var setupRE = regexp.MustCompile(`cvsetup_[A-Za-z0-9_-]+`)

// owner is an account with a home.
type owner struct {
	token string
	home  string
}

// setup creates the first account and its home.
func (s *server) setup(email, homeName string) owner {
	s.t.Helper()
	return setupOwner(s.t, s.url, setupRE.FindString(s.stderr.String()), email, homeName)
}

// setupOwner creates the first account and its home at url through the
// setup token the server printed, and signs the account in.
func setupOwner(t *testing.T, url, setupToken, email, homeName string) owner {
	t.Helper()
	code, out := post(t, url+"/api/v1/setup", map[string]any{"setup_token": setupToken, "email": email, "password": password, "home_name": homeName}, "")
	if code != http.StatusCreated {
		t.Fatalf("setup: %d %v", code, out)
	}
	home := out["home"].(map[string]any)["id"].(string)
	return owner{token: signIn(t, url, email), home: home}
}

// signup creates an account (open sign-up) with a home of its own.
func (s *server) signup(email, homeName string) owner {
	s.t.Helper()
	s.must("", "POST", "/api/v1/signup", map[string]any{"email": email, "password": password}, 201)
	tok := s.login(email)
	out := s.must(tok, "POST", "/api/v1/homes", map[string]any{"name": homeName}, 201)
	return owner{token: tok, home: out["id"].(string)}
}

func (s *server) login(email string) string {
	s.t.Helper()
	return signIn(s.t, s.url, email)
}

// signIn signs email in at url and returns the session token.
func signIn(t *testing.T, url, email string) string {
	t.Helper()
	code, out := post(t, url+"/api/v1/login", map[string]any{"email": email, "password": password}, "")
	if code != http.StatusOK {
		t.Fatalf("login: %d %v", code, out)
	}
	return out["session_token"].(string)
}

// runAgent runs an agent with fast timings until the test ends or stop
// is called.
func runAgent(t *testing.T, s *server, stateDir string) (a *agent.Agent, stop func()) {
	t.Helper()
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	os.WriteFile(clip, []byte("not really video"), 0o600)
	return runAgentSource(t, s, stateDir, "file:"+clip)
}

// runAgentSource runs an agent of source.
func runAgentSource(t *testing.T, s *server, stateDir, source string) (a *agent.Agent, stop func()) {
	t.Helper()
	return runAgentBeat(t, s, stateDir, source, 200*time.Millisecond)
}

// runAgentBeat runs an agent of source with heartbeats every beat.
func runAgentBeat(t *testing.T, s *server, stateDir, source string, beat time.Duration) (a *agent.Agent, stop func()) {
	t.Helper()
	src, err := agent.ParseSource(source)
	if err != nil {
		t.Fatal(err)
	}
	a, err = agent.New(agent.Config{
		Server: s.url, StateDir: stateDir, Source: src,
		Version: "test-1.0", ClaimPoll: 200 * time.Millisecond, MinBackoff: 50 * time.Millisecond,
		MaxBackoff: 400 * time.Millisecond, Heartbeat: beat,
		Logger: slog.New(slog.NewTextHandler(s.logs, nil)).With("agent", filepath.Base(stateDir)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return a, stop
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// claimCode waits for the agent to show a claim code.
func claimCode(t *testing.T, a *agent.Agent) string {
	t.Helper()
	waitFor(t, "a claim code", func() bool { return a.Status().ClaimCode != "" })
	return a.Status().ClaimCode
}

func connected(t *testing.T, a *agent.Agent) {
	t.Helper()
	waitFor(t, "the agent to connect", func() bool { return a.Status().State == agent.StateConnected })
}

// freePort returns a loopback address with a port free right now.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// metric reads one metric's value from /metrics.
func (s *server) metric(name string) string {
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return fmt.Sprintf("(no %s)", name)
}

// claimed runs an agent of source in dir, claims its camera into o's home
// as name, and waits until it is connected. It returns the camera ID and a
// function that stops the agent.
func claimed(t *testing.T, s *server, o owner, dir, source, name string) (string, func()) {
	t.Helper()
	ag, stop := runAgentSource(t, s, dir, source)
	cam := s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/claim", map[string]any{"claim_code": claimCode(t, ag), "name": name}, 201)["id"].(string)
	connected(t, ag)
	// The agent counts itself connected once its side of the channel is
	// up; the server registers it a moment later.
	waitFor(t, "the server to see the camera online", func() bool {
		_, c := s.call(o.token, "GET", "/api/v1/cameras/"+cam, nil)
		return c["online"] == true
	})
	return cam, stop
}

// openLive opens c's live reader of camera on the hub: the service
// grants, and the reader is added for the grant as package live does for
// a viewer (without its re-authorization).
func (s *server) openLive(ctx context.Context, c service.Caller, camera domain.ID) (*media.Reader, error) {
	g, err := s.parts.Service.LiveGrant(ctx, c, camera)
	if err != nil {
		return nil, err
	}
	return s.parts.Media.AddReader(g)
}

// ffmpegChildren returns the ffmpeg processes this test binary started
// that still exist.
func ffmpegChildren() []int { return ffmpeg.Children() }
