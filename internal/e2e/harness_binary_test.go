package e2e

import (
	"bufio"
	"fmt"
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
	return runBin(t, dataDir, append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--devices-listen", "127.0.0.1:0",
		"--devices-ingest-listen", "127.0.0.1:0", "--live-rtsp-listen", "127.0.0.1:0"}, extra...))
}

// runBin runs the binary with args (a `serve` of dataDir) and waits until
// it serves.
func runBin(t *testing.T, dataDir string, args []string) *binServer {
	t.Helper()
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
	session, camera, _ = ownerCameraAgent(t, s, source, name, filepath.Join(t.TempDir(), "agent"))
	return session, camera
}

// ownerCameraAgent is ownerCamera with the agent's state in stateDir; it
// returns the agent too.
func ownerCameraAgent(t *testing.T, s *binServer, source, name, stateDir string) (session, camera string, ag *agentBinary) {
	t.Helper()
	o := s.firstOwner(t, "Casa")
	ag = runAgentBinary(t, s.url, stateDir, source)
	claim := ag.claimCode(t, time.Now().Add(30*time.Second))
	code, cam := post(t, s.url+"/api/v1/homes/"+o.home+"/cameras/claim", map[string]any{"claim_code": claim, "name": name}, o.token)
	if code != http.StatusCreated {
		t.Fatalf("claim: %d %v", code, cam)
	}
	camera = cam["id"].(string)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, c := getJSON(t, s.url+"/api/v1/cameras/"+camera, o.token); c["online"] == true {
			return o.token, camera, ag
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
