// Package bench measures camvault's live video path on loopback: a real
// server process, simulated cameras (real agents playing the built-in clip)
// and real RTSPS viewers. It reports, per scenario, the server's CPU
// seconds per stream-second, its peak memory, delivered bytes, loss and
// time to first frame, as JSON.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/camvault/camvault/internal/agent"
	"github.com/camvault/camvault/internal/clips"
	"github.com/camvault/camvault/internal/live/whep"
)

// Scenario is one measured setup.
type Scenario struct {
	Name     string
	Cameras  int
	Viewers  int // per camera
	Duration time.Duration
	// Protocol is "rtsp" (default) or "webrtc" (WHEP with pion clients).
	Protocol string
}

// Result is one scenario's figures.
type Result struct {
	Scenario           string  `json:"scenario"`
	Protocol           string  `json:"protocol"`
	Cameras            int     `json:"cameras"`
	ViewersPerCamera   int     `json:"viewers_per_camera"`
	Seconds            float64 `json:"seconds"`
	ServerCPUSeconds   float64 `json:"server_cpu_seconds"`
	CPUPerStreamSecond float64 `json:"server_cpu_seconds_per_stream_second"`
	PeakMemoryMiB      float64 `json:"server_peak_memory_mib"`
	DeliveredBytes     int64   `json:"delivered_bytes"`
	DeliveredFrames    int64   `json:"delivered_frames"`
	ExpectedFrames     int64   `json:"expected_frames"`
	Loss               float64 `json:"loss"`
	FirstFrameP50Ms    float64 `json:"time_to_first_frame_p50_ms"`
	FirstFrameP99Ms    float64 `json:"time_to_first_frame_p99_ms"`
}

// Config configures a run.
type Config struct {
	// Binary is the camvault binary to run as the server.
	Binary string
	// Source is what the simulated cameras play; zero means the built-in
	// clip.
	Source agent.Source
	// FPS is the source's frame rate (for expected frames); zero means 15.
	FPS    int
	Logger *slog.Logger
}

// server is the camvault server process under test.
type server struct {
	cmd   *exec.Cmd
	url   string
	token string
	home  string
	dir   string
}

const password = "bench-Harbor-97-kettle-tulip"

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}

var (
	setupRE = regexp.MustCompile(`(cvsetup_[A-Za-z0-9_-]+)`)
	urlRE   = regexp.MustCompile(`msg="camvault serving" url=(\S+)`)
)

// startServer runs `camvault serve` on a fresh data dir and sets it up.
func startServer(ctx context.Context, binary string) (*server, error) {
	dir, err := os.MkdirTemp("", "camvault-bench-")
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, binary, "serve", "--data-dir", dir, "--listen", freeAddr(),
		"--devices-listen", freeAddr(), "--devices-ingest-listen", freeAddr(), "--live-rtsp-listen", freeAddr())
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, dir: dir}
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
		return nil, errors.New("the server did not start")
	}
	var out struct {
		Home struct{ ID string } `json:"home"`
	}
	if err := s.call("", "POST", "/api/v1/setup", map[string]any{"setup_token": setup, "email": "bench@example.org", "password": password, "home_name": "Bench"}, &out); err != nil {
		s.stop()
		return nil, err
	}
	s.home = out.Home.ID
	var login struct {
		Token string `json:"session_token"`
	}
	if err := s.call("", "POST", "/api/v1/login", map[string]any{"email": "bench@example.org", "password": password}, &login); err != nil {
		s.stop()
		return nil, err
	}
	s.token = login.Token
	return s, nil
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
	os.RemoveAll(s.dir)
}

// cpuSeconds and peakMiB read the server process's usage from /proc.
func (s *server) cpuSeconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
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

func (s *server) peakMiB() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// Run runs the scenarios and returns their results.
func Run(ctx context.Context, cfg Config, scenarios []Scenario) ([]Result, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Source.Kind == "" {
		cfg.Source = agent.Source{Kind: "builtin", Location: "porch"}
	}
	if cfg.FPS == 0 {
		cfg.FPS = clips.FPS
	}
	var out []Result
	for _, sc := range scenarios {
		r, err := runScenario(ctx, cfg, sc)
		if err != nil {
			return out, fmt.Errorf("%s: %w", sc.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func runScenario(ctx context.Context, cfg Config, sc Scenario) (Result, error) {
	if sc.Protocol == "" {
		sc.Protocol = "rtsp"
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := startServer(ctx, cfg.Binary)
	if err != nil {
		return Result{}, err
	}
	defer s.stop()
	stateRoot, _ := os.MkdirTemp("", "camvault-bench-agents-")
	defer os.RemoveAll(stateRoot)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	cams := make([]string, sc.Cameras)
	var pool *x509.CertPool
	for i := range sc.Cameras {
		dir := filepath.Join(stateRoot, fmt.Sprint(i))
		a, err := agent.New(agent.Config{Server: s.url, StateDir: dir, Source: cfg.Source,
			Version: "bench", ClaimPoll: 100 * time.Millisecond, Logger: cfg.Logger})
		if err != nil {
			return Result{}, err
		}
		wg.Go(func() { a.Run(ctx) })
		code := ""
		for deadline := time.Now().Add(30 * time.Second); code == ""; {
			if time.Now().After(deadline) {
				return Result{}, errors.New("a simulated camera did not enrol")
			}
			code = a.Status().ClaimCode
			time.Sleep(10 * time.Millisecond)
		}
		var cam struct{ ID string }
		if err := s.call(s.token, "POST", "/api/v1/homes/"+s.home+"/cameras/claim", map[string]any{"claim_code": code, "name": fmt.Sprint("cam ", i)}, &cam); err != nil {
			return Result{}, err
		}
		cams[i] = cam.ID
		for a.Status().State != agent.StateConnected {
			time.Sleep(10 * time.Millisecond)
		}
		if pool == nil {
			b, _ := os.ReadFile(filepath.Join(dir, "server.json"))
			var st struct{ CA string }
			json.Unmarshal(b, &st)
			pool = x509.NewCertPool()
			pool.AppendCertsFromPEM([]byte(st.CA))
		}
	}
	var bytesIn, frames atomic.Int64
	var mu sync.Mutex
	var firsts []time.Duration
	cpu0 := s.cpuSeconds()
	start := time.Now()
	var vw sync.WaitGroup
	errs := make(chan error, sc.Cameras*sc.Viewers)
	for _, cam := range cams {
		for range sc.Viewers {
			vw.Go(func() {
				var t struct{ URL string }
				asked := time.Now()
				if err := s.call(s.token, "POST", "/api/v1/cameras/"+cam+"/streams", map[string]any{"protocol": sc.Protocol}, &t); err != nil {
					errs <- err
					return
				}
				var once sync.Once
				playFn := play
				if sc.Protocol == "webrtc" {
					playFn = playWHEP
				}
				err := playFn(ctx, t.URL, pool, sc.Duration, func(n int) {
					once.Do(func() {
						mu.Lock()
						firsts = append(firsts, time.Since(asked))
						mu.Unlock()
					})
					bytesIn.Add(int64(n))
					frames.Add(1)
				})
				if err != nil && ctx.Err() == nil {
					errs <- err
				}
			})
		}
	}
	vw.Wait()
	elapsed := time.Since(start)
	cpu := s.cpuSeconds() - cpu0
	close(errs)
	for err := range errs {
		return Result{}, err
	}
	streams := float64(sc.Cameras * sc.Viewers)
	expected := int64(streams * sc.Duration.Seconds() * float64(cfg.FPS))
	r := Result{Scenario: sc.Name, Protocol: sc.Protocol, Cameras: sc.Cameras, ViewersPerCamera: sc.Viewers, Seconds: elapsed.Seconds(),
		ServerCPUSeconds: cpu, CPUPerStreamSecond: cpu / (streams * sc.Duration.Seconds()), PeakMemoryMiB: s.peakMiB(),
		DeliveredBytes: bytesIn.Load(), DeliveredFrames: frames.Load(), ExpectedFrames: expected}
	if expected > 0 {
		r.Loss = max(0, 1-float64(frames.Load())/float64(expected))
	}
	slices.Sort(firsts)
	if n := len(firsts); n > 0 {
		r.FirstFrameP50Ms = float64(firsts[n/2].Microseconds()) / 1000
		r.FirstFrameP99Ms = float64(firsts[min(n-1, n*99/100)].Microseconds()) / 1000
	}
	return r, nil
}

// play receives a stream for d, reporting each access unit's size.
func play(ctx context.Context, url string, pool *x509.CertPool, d time.Duration, onAU func(int)) error {
	u, err := base.ParseURL(url)
	if err != nil {
		return err
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp, TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	if err := c.Start(); err != nil {
		return err
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		return err
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		return errors.New("no H.264")
	}
	dec, _ := forma.CreateDecoder()
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return err
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		if au, err := dec.Decode(pkt); err == nil {
			n := 0
			for _, x := range au {
				n += len(x)
			}
			onAU(n)
		}
	})
	if _, err := c.Play(nil); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	return nil
}

// playWHEP receives a WHEP stream with a pion client for d, reporting each
// access unit's size.
func playWHEP(ctx context.Context, url string, _ *x509.CertPool, d time.Duration, onAU func(int)) error {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return err
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(whep.LoopbackOK())).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return err
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		sb := samplebuilder.New(256, &codecs.H264Packet{}, 90000)
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			sb.Push(pkt)
			for smp := sb.Pop(); smp != nil; smp = sb.Pop() {
				onAU(len(smp.Data))
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	<-gathered
	resp, err := http.Post(url, "application/sdp", strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return err
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("WHEP: %s", resp.Status)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	return nil
}
