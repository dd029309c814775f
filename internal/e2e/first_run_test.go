package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the camvault binary built once for the end-to-end tests.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func camvaultBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "camvault-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "camvault")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, "github.com/camvault/camvault/cmd/camvault").CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v\n%s", buildErr, binPath)
	}
	return binPath
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

func post(t *testing.T, url string, body any, token string) (int, map[string]any) {
	t.Helper()
	return send(t, "POST", url, body, token)
}

func send(t *testing.T, method, url string, body any, token string) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(context.Background(), method, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

const e2ePassword = "tulip-Harbor-97-kettle"

// TestFirstRun: from an empty data dir the setup link is printed, works
// once and is refused the second time; nothing can log in before it; a
// restart with an account prints no link.
func TestFirstRun(t *testing.T) {
	dataDir := t.TempDir()
	s := startBinServer(t, dataDir)
	if s.setup == "" {
		t.Fatalf("no setup link printed; stderr:\n%s", s.stderr.String())
	}
	_, token, _ := strings.Cut(s.setup, "#")
	if len(token) < len("cvsetup_")+22 {
		t.Fatalf("setup token too short: %d chars", len(token))
	}
	if strings.Count(s.stderr.String(), token) != 1 {
		t.Fatalf("setup token printed more than once")
	}

	login := map[string]any{"email": "ana@example.org", "password": e2ePassword}
	if code, _ := post(t, s.url+"/api/v1/login", login, ""); code != http.StatusUnauthorized {
		t.Fatalf("login before setup: %d, want 401", code)
	}
	setup := map[string]any{"setup_token": token, "email": "ana@example.org", "password": e2ePassword, "home_name": "Ana's home"}
	if code, body := post(t, s.url+"/api/v1/setup", map[string]any{"setup_token": token + "x", "email": "x@example.org", "password": e2ePassword, "home_name": "x"}, ""); code != http.StatusNotFound {
		t.Fatalf("setup with a wrong token: %d %v", code, body)
	}
	code, body := post(t, s.url+"/api/v1/setup", setup, "")
	if code != http.StatusCreated {
		t.Fatalf("setup: %d %v", code, body)
	}
	if home, _ := body["home"].(map[string]any); home["name"] != "Ana's home" {
		t.Fatalf("setup body: %v", body)
	}
	if code, _ := post(t, s.url+"/api/v1/setup", setup, ""); code != http.StatusNotFound {
		t.Fatalf("second setup: %d, want 404", code)
	}
	code, body = post(t, s.url+"/api/v1/login", login, "")
	if code != http.StatusOK || body["session_token"] == "" {
		t.Fatalf("login after setup: %d %v", code, body)
	}

	// Per-install secrets are private.
	for _, p := range []string{"secrets/server.key", "camvault.db"} {
		fi, err := os.Stat(filepath.Join(dataDir, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group/other access", p, fi.Mode().Perm())
		}
	}
	s.stop(t)

	// Restart: an account exists, so no setup link.
	s2 := startBinServer(t, dataDir)
	if s2.setup != "" || strings.Contains(s2.stderr.String(), "/setup#") {
		t.Fatalf("setup link printed although an account exists")
	}
	if code, _ := post(t, s2.url+"/api/v1/login", login, ""); code != http.StatusOK {
		t.Fatalf("login after restart: %d", code)
	}
}

// TestSetupLinkReplacedOnRestart: while no account exists, each start
// prints a new link and the old one stops working.
func TestSetupLinkReplacedOnRestart(t *testing.T) {
	dataDir := t.TempDir()
	s := startBinServer(t, dataDir)
	_, old, _ := strings.Cut(s.setup, "#")
	s.stop(t)
	s2 := startBinServer(t, dataDir)
	_, fresh, _ := strings.Cut(s2.setup, "#")
	if fresh == "" || fresh == old {
		t.Fatalf("no new setup link after restart")
	}
	setup := map[string]any{"setup_token": old, "email": "ana@example.org", "password": e2ePassword, "home_name": "Home"}
	if code, _ := post(t, s2.url+"/api/v1/setup", setup, ""); code != http.StatusNotFound {
		t.Fatalf("old setup link still works: %d", code)
	}
	setup["setup_token"] = fresh
	if code, body := post(t, s2.url+"/api/v1/setup", setup, ""); code != http.StatusCreated {
		t.Fatalf("new setup link: %d %v", code, body)
	}
}

// TestRefusesPublicListenWithoutTLS and the self-signed path.
func TestServeTLSRules(t *testing.T) {
	out, err := exec.Command(camvaultBinary(t), "serve", "--data-dir", t.TempDir(), "--listen", "0.0.0.0:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--tls-self-signed") {
		t.Fatalf("public listen without TLS: err=%v out=%s", err, out)
	}
	out, err = exec.Command(camvaultBinary(t), "serve", "--print-config", "--store", "postgres://u:s3cretpw@db/x").CombinedOutput()
	if err != nil || strings.Contains(string(out), "s3cretpw") || !strings.Contains(string(out), `listen: "127.0.0.1:8080"`) {
		t.Fatalf("print-config: err=%v out=%s", err, out)
	}
	dataDir := t.TempDir()
	s := startBinServer(t, dataDir, "--tls-self-signed")
	if !strings.HasPrefix(s.url, "https://") || !strings.Contains(s.stderr.String(), "fingerprint") {
		t.Fatalf("self-signed: url %s stderr:\n%s", s.url, s.stderr.String())
	}
	if fi, err := os.Stat(filepath.Join(dataDir, "tls", "ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key: %v %v", fi, err)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"admin", "--help"}, {"agent", "--help"}, {"agent", "reset", "--help"}, {"verify", "--help"}, {"demo", "--help"}, {"sim", "--help"}, {"bench", "--help"}, {"version"}} {
		out, err := exec.Command(camvaultBinary(t), args...).CombinedOutput()
		if err != nil || len(out) < 10 {
			t.Errorf("%v: err=%v out=%s", args, err, out)
		}
	}
}

// ownerCamera creates the first account and its home through the setup
// link, signs in, runs `camvault agent` with source, claims it as name and
// waits until it is online. It returns the session token and camera ID.
func ownerCamera(t *testing.T, s *binServer, source, name string) (session, camera string) {
	t.Helper()
	_, token, _ := strings.Cut(s.setup, "#")
	code, body := post(t, s.url+"/api/v1/setup", map[string]any{"setup_token": token, "email": "ana@example.org", "password": e2ePassword, "home_name": "Casa"}, "")
	if code != http.StatusCreated {
		t.Fatalf("setup: %d %v", code, body)
	}
	home := body["home"].(map[string]any)["id"].(string)
	_, login := post(t, s.url+"/api/v1/login", map[string]any{"email": "ana@example.org", "password": e2ePassword}, "")
	session = login["session_token"].(string)
	claim := startAgentBinary(t, s.url, source)
	code, cam := post(t, s.url+"/api/v1/homes/"+home+"/cameras/claim", map[string]any{"claim_code": claim, "name": name}, session)
	if code != http.StatusCreated {
		t.Fatalf("claim: %d %v", code, cam)
	}
	camera = cam["id"].(string)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, c := getJSON(t, s.url+"/api/v1/cameras/"+camera, session); c["online"] == true {
			return session, camera
		}
		if time.Now().After(deadline) {
			t.Fatalf("camera never online\nserver log:\n%s", s.stderr.String())
		}
	}
}
