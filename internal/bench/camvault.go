package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/agent"
)

// server is the camvault server process under test, with simulated
// cameras: real agents relaying the feed as their LAN camera.
type server struct {
	cmd   *exec.Cmd
	url   string
	token string
	home  string
	dir   string
	log   *slog.Logger
	feed  *feed

	agents sync.WaitGroup
	added  int // agents started, naming their state directories
	ca     *x509.CertPool
}

const password = "bench-Harbor-97-kettle-tulip"

// freeAddr returns a loopback address for a server's listener: a port
// below the kernel's ephemeral range (32768 and up), so that no process
// binding port 0 or connecting out takes it before the server binds it,
// and in a band of its own (camvault's cluster tests and deploy script use
// 20000 to 31999); never one handed out before.
func freeAddr() string {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		p := 32000 + rand.IntN(768)
		if chosen[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		chosen[p] = true
		return l.Addr().String()
	}
	return "127.0.0.1:0"
}

var (
	portsMu sync.Mutex
	chosen  = map[int]bool{}
)

var (
	setupRE = regexp.MustCompile(`(cvsetup_[A-Za-z0-9_-]+)`)
	urlRE   = regexp.MustCompile(`msg="camvault serving" url=(\S+)`)
)

// startServer runs `camvault serve` on a fresh data dir and sets it up.
func startServer(ctx context.Context, binary string, f *feed, log *slog.Logger, profile string) (*server, error) {
	dir, err := os.MkdirTemp("", "camvault-bench-")
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--data-dir", dir, "--listen", freeAddr(),
		"--devices-listen", freeAddr(), "--devices-ingest-listen", freeAddr(), "--live-rtsp-listen", freeAddr()}
	if profile != "" {
		args = append(args, "--cpu-profile", profile+".cpu", "--mem-profile", profile+".mem")
	}
	s, setup, err := launch(binary, dir, args, f, log)
	if err != nil {
		return nil, err
	}
	if err := s.setup(setup); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// launch runs the binary with args (a `serve` of dir, which stop
// removes) and waits until it serves. It returns the setup token the
// server printed, if any.
func launch(binary, dir string, args []string, f *feed, log *slog.Logger) (*server, string, error) {
	cmd := exec.Command(binary, args...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	s := &server{cmd: cmd, dir: dir, feed: f, log: log}
	sc := bufio.NewScanner(stderr)
	var setup string
	deadline := time.Now().Add(30 * time.Second)
	for s.url == "" && sc.Scan() && time.Now().Before(deadline) {
		line := sc.Text()
		if m := setupRE.FindStringSubmatch(line); m != nil {
			setup = m[1]
		}
		if m := urlRE.FindStringSubmatch(line); m != nil {
			s.url = m[1]
		}
	}
	go io.Copy(io.Discard, stderr)
	if s.url == "" {
		s.stop()
		return nil, "", errors.New("the server did not start")
	}
	return s, setup, nil
}

// setup makes the first account and its home with the setup token, and
// signs it in.
func (s *server) setup(token string) error {
	var out struct {
		Home struct{ ID string } `json:"home"`
	}
	if err := s.call("", "POST", "/api/v1/setup", map[string]any{"setup_token": token, "email": "bench@example.org", "password": password, "home_name": "Bench"}, &out); err != nil {
		return err
	}
	s.home = out.Home.ID
	var login struct {
		Token string `json:"session_token"`
	}
	if err := s.call("", "POST", "/api/v1/login", map[string]any{"email": "bench@example.org", "password": password}, &login); err != nil {
		return err
	}
	s.token = login.Token
	return nil
}

func (s *server) name() string         { return "camvault" }
func (s *server) pid() int             { return s.cmd.Process.Pid }
func (s *server) pool() *x509.CertPool { return s.ca }

// addCameras starts n agents relaying the feed, claims their cameras and
// waits until they are connected.
func (s *server) addCameras(ctx context.Context, n int) ([]string, error) {
	feedURL, err := s.feed.serve(ctx)
	if err != nil {
		return nil, err
	}
	cams := make([]string, n)
	for i := range n {
		dir := filepath.Join(s.dir, "agents", fmt.Sprint(s.added))
		s.added++
		a, err := agent.New(agent.Config{Server: s.url, StateDir: dir, Source: agent.Source{Kind: "rtsp", Location: feedURL},
			Version: "bench", ClaimPoll: 100 * time.Millisecond, Logger: s.log})
		if err != nil {
			return nil, err
		}
		s.agents.Go(func() { a.Run(ctx) })
		code := ""
		for deadline := time.Now().Add(30 * time.Second); code == ""; {
			if time.Now().After(deadline) {
				return nil, errors.New("a simulated camera did not enrol")
			}
			code = a.Status().ClaimCode
			time.Sleep(10 * time.Millisecond)
		}
		var cam struct{ ID string }
		if err := s.call(s.token, "POST", "/api/v1/homes/"+s.home+"/cameras/claim", map[string]any{"claim_code": code, "name": fmt.Sprint("cam ", i)}, &cam); err != nil {
			return nil, err
		}
		cams[i] = cam.ID
		for deadline := time.Now().Add(30 * time.Second); a.Status().State != agent.StateConnected; {
			if time.Now().After(deadline) {
				return nil, errors.New("a simulated camera did not connect")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if s.ca == nil {
			b, _ := os.ReadFile(filepath.Join(dir, "server.json"))
			var st struct{ CA string }
			json.Unmarshal(b, &st)
			s.ca = x509.NewCertPool()
			s.ca.AppendCertsFromPEM([]byte(st.CA))
		}
	}
	return cams, nil
}

// streamURL asks the API for a viewer's stream credential.
func (s *server) streamURL(_ context.Context, camera, protocol string) (string, error) {
	var t struct{ URL string }
	err := s.call(s.token, "POST", "/api/v1/cameras/"+camera+"/streams", map[string]any{"protocol": protocol}, &t)
	return t.URL, err
}

func (s *server) call(token, method, path string, body, out any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, s.url+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, rb)
	}
	if out != nil {
		return json.Unmarshal(rb, out)
	}
	return nil
}

// stop ends the server; the agents end with the scenario's context.
func (s *server) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
		}
	}
	s.agents.Wait()
	os.RemoveAll(s.dir)
}

// cpuSeconds and peakMiB read a process's usage from /proc.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100 // USER_HZ
}

// resetPeak restarts the process's peak memory count (Linux 4.0+).
func resetPeak(pid int) {
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// peakMiB is the process's peak resident memory; rssMiB its current.
func peakMiB(pid int) float64 { return procStatusMiB(pid, "VmHWM:") }

func rssMiB(pid int) float64 { return procStatusMiB(pid, "VmRSS:") }

func procStatusMiB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
