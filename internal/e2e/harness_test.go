package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/agent"
	"github.com/camvault/camvault/internal/app"
	"github.com/camvault/camvault/internal/config"
)

// password passes the server's strength check; every test account has it.
const password = "tulip-Harbor-97-kettle"

// camvaultBin is the camvault binary TestMain builds for the tests that
// drive the real program.
var camvaultBin string

// TestMain builds the binary once (with the race detector, as the tests
// run) for every test of the package, and removes it afterwards.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "camvault-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	camvaultBin = filepath.Join(dir, "camvault")
	out, err := exec.Command("go", "build", "-race", "-o", camvaultBin, "github.com/camvault/camvault/cmd/camvault").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build camvault: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// camvaultBinary is the path of the binary TestMain built.
func camvaultBinary(t *testing.T) string {
	t.Helper()
	if camvaultBin == "" {
		t.Fatal("the camvault binary was not built (TestMain did not run)")
	}
	return camvaultBin
}

// syncBuffer is a goroutine-safe buffer.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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

// ffmpegChildren returns the IDs of the ffmpeg processes this test binary
// started that still exist (zombies included: they were not reaped).
func ffmpegChildren() []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	me := os.Getpid()
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces.
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(s[closing+1:])
		if len(fields) < 2 || s[open+1:closing] != "ffmpeg" {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == me {
			pid, _ := strconv.Atoi(strings.TrimSpace(s[:open]))
			pids = append(pids, pid)
		}
	}
	return pids
}

// binServer is a running `camvault serve` process.
type binServer struct {
	cmd    *exec.Cmd
	dir    string // the data dir
	url    string
	setup  string // the setup link, if one was printed
	stderr *syncBuffer
}

var (
	setupLinkRE = regexp.MustCompile(`(https?://\S+/setup#cvsetup_\S+)`)
	urlRE       = regexp.MustCompile(`msg="camvault serving" url=(\S+)`)
)

// startBinServer runs `camvault serve` on a free loopback port with dataDir
// and waits until it serves.
func startBinServer(t *testing.T, dataDir string, extra ...string) *binServer {
	t.Helper()
	args := append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--devices-listen", "127.0.0.1:0", "--devices-ingest-listen", "127.0.0.1:0", "--live-rtsp-listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(camvaultBinary(t), args...)
	cmd.Env = append(os.Environ(), "CAMVAULT_LOG_LEVEL=info")
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &binServer{cmd: cmd, dir: dataDir, stderr: &syncBuffer{}}
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		closed := false
		for sc.Scan() {
			line := sc.Text()
			s.stderr.Write([]byte(line + "\n"))
			if m := setupLinkRE.FindStringSubmatch(line); m != nil {
				s.setup = m[1]
			}
			if m := urlRE.FindStringSubmatch(line); m != nil && !closed {
				s.url = m[1]
				closed = true
				close(found)
			}
		}
	}()
	t.Cleanup(func() { s.stop(t) })
	select {
	case <-found:
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not start; stderr:\n%s", s.stderr.String())
	}
	return s
}

func (s *binServer) stop(t *testing.T) {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server exited with %v after SIGTERM; stderr:\n%s", err, s.stderr.String())
		}
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		t.Errorf("server did not stop within 15 s of SIGTERM")
	}
}

// firstOwner creates the first account (ana@example.org) and its home
// through the setup link the server printed, and signs it in.
func (s *binServer) firstOwner(t *testing.T, homeName string) owner {
	t.Helper()
	_, token, _ := strings.Cut(s.setup, "#")
	return setupOwner(t, s.url, token, "ana@example.org", homeName)
}

// ownerCamera creates the first account and its home through the setup
// link, signs in, runs `camvault agent` with source, claims it as name and
// waits until it is online. It returns the session token and camera ID.
func ownerCamera(t *testing.T, s *binServer, source, name string) (session, camera string) {
	t.Helper()
	o := s.firstOwner(t, "Casa")
	claim := startAgentBinary(t, s.url, source)
	code, cam := post(t, s.url+"/api/v1/homes/"+o.home+"/cameras/claim", map[string]any{"claim_code": claim, "name": name}, o.token)
	if code != http.StatusCreated {
		t.Fatalf("claim: %d %v", code, cam)
	}
	camera = cam["id"].(string)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, c := getJSON(t, s.url+"/api/v1/cameras/"+camera, o.token); c["online"] == true {
			return o.token, camera
		}
		if time.Now().After(deadline) {
			t.Fatalf("camera never online\nserver log:\n%s", s.stderr.String())
		}
	}
}

// agentBinary is a running `camvault agent` process.
type agentBinary struct {
	out, logs *syncBuffer // its stdout and stderr
	stop      func()      // ends it with SIGTERM and waits
}

// runAgentBinary runs `camvault agent` against serverURL with source and
// state in stateDir until the test ends or stop is called.
func runAgentBinary(t *testing.T, serverURL, stateDir, source string) *agentBinary {
	t.Helper()
	cmd := exec.Command(camvaultBinary(t), "agent", "--server", serverURL, "--state-dir", stateDir, "--source", source, "--status-listen", "127.0.0.1:0")
	a := &agentBinary{out: &syncBuffer{}, logs: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = a.out, a.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	a.stop = func() { once.Do(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }) }
	t.Cleanup(a.stop)
	return a
}

var claimRE = regexp.MustCompile(`\b([2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4})\b`)

// claimCode waits until the agent prints its claim code, at most until
// deadline.
func (a *agentBinary) claimCode(t *testing.T, deadline time.Time) string {
	t.Helper()
	for {
		if m := claimRE.FindStringSubmatch(a.out.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no claim code printed\nstdout:\n%s\nstderr:\n%s", a.out.String(), a.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startAgentBinary runs `camvault agent` against serverURL with source and
// returns the claim code it prints.
func startAgentBinary(t *testing.T, serverURL, source string) string {
	t.Helper()
	a := runAgentBinary(t, serverURL, filepath.Join(t.TempDir(), "agent"), source)
	return a.claimCode(t, time.Now().Add(30*time.Second))
}
