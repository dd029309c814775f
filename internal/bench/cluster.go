package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/camvault/camvault/internal/agent"
	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/clips"
)

// ClusterConfig configures RunCluster.
type ClusterConfig struct {
	// Binary is the camvault binary each node runs.
	Binary string
	// Postgres is a PostgreSQL URL; the run makes a schema of its own in
	// that database and drops it afterwards.
	Postgres string
	// NATS is the NATS server's URL; the run uses a subject and
	// placement buckets of its own, and deletes the buckets afterwards.
	NATS string
	// VersityGW is the versitygw binary, run in a temporary directory
	// as the S3 server.
	VersityGW string
	// Rounds is how many viewers each latency is measured over; zero
	// means 20.
	Rounds int
	// Cameras is how many cameras record in the throughput comparison;
	// zero means 4.
	Cameras int
	// Record is how long they record; zero means 20 s.
	Record time.Duration
	Logger *slog.Logger
}

// Revocation is how long a viewer at node A runs on after its access is
// withdrawn at node B: from B's answer to the end of the stream (below
// zero when the stream ends before the answer arrives), and from the
// request to B (which includes B's work).
type Revocation struct {
	How              string  `json:"how"`
	Rounds           int     `json:"rounds"`
	ViewersEnded     int     `json:"viewers_ended"`
	P50Ms            float64 `json:"p50_ms"`
	P99Ms            float64 `json:"p99_ms"`
	FromRequestP50Ms float64 `json:"from_request_p50_ms"`
	FromRequestP99Ms float64 `json:"from_request_p99_ms"`
}

// Redirect is the time from asking node B for a stream of a camera node
// A holds to the first keyframe from A.
type Redirect struct {
	Rounds      int     `json:"rounds"`
	FirstFrames int     `json:"viewers_with_a_frame"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
}

// Recording is the server CPU that cameras recording continuously cost.
type Recording struct {
	Storage            string  `json:"storage"`
	Cameras            int     `json:"cameras"`
	Seconds            float64 `json:"seconds"`
	ServerCPUSeconds   float64 `json:"server_cpu_seconds"`
	CPUPerCameraSecond float64 `json:"server_cpu_seconds_per_camera_second"`
	CamerasPerCore     float64 `json:"cameras_per_core"`
	// Segments is how many segments began in the measured time and
	// were stored by its end.
	Segments int `json:"segments_recorded"`
}

// ClusterReport is a cluster run's figures, with one line of summary
// for each.
type ClusterReport struct {
	MemberRemoved  Revocation `json:"revocation_member_removed"`
	SessionRevoked Revocation `json:"revocation_session_revoked"`
	Redirect       Redirect   `json:"redirect_first_frame"`
	RecordingS3    Recording  `json:"recording_s3"`
	RecordingLocal Recording  `json:"recording_local_disk"`
	// CPURatio is S3's CPU per camera-second divided by local disk's.
	CPURatio float64  `json:"recording_cpu_ratio_s3_over_local"`
	Summary  []string `json:"summary"`
}

// VersityGW finds the versitygw binary on PATH or in ~/go/bin; empty if
// there is none.
func VersityGW() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	p := filepath.Join(os.Getenv("HOME"), "go", "bin", "versitygw")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// RunCluster starts two nodes of the binary sharing a fresh PostgreSQL
// schema, a NATS subject and a bucket in a versitygw of its own, and
// measures revocation across the nodes, the first frame of a stream
// asked of the node that does not hold the camera, and the CPU cost of
// recording to S3 against a single node recording to local disk.
func RunCluster(ctx context.Context, cfg ClusterConfig) (ClusterReport, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rounds <= 0 {
		cfg.Rounds = 20
	}
	if cfg.Cameras <= 0 {
		cfg.Cameras = 4
	}
	if cfg.Record <= 0 {
		cfg.Record = 20 * time.Second
	}
	var rep ClusterReport
	f, err := loadFeed(agent.Source{Kind: "builtin", Location: "porch"}, clips.FPS)
	if err != nil {
		return rep, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, err := startCluster(ctx, cfg, f)
	if err != nil {
		return rep, err
	}
	defer c.stop()
	defer cancel() // before stop: the agents end first

	cams, err := c.a.addCameras(ctx, 1)
	if err != nil {
		return rep, err
	}
	if rep.MemberRemoved, err = c.revocation(ctx, cams[0], cfg.Rounds, "member removed"); err != nil {
		return rep, err
	}
	if rep.SessionRevoked, err = c.revocation(ctx, cams[0], cfg.Rounds, "session revoked"); err != nil {
		return rep, err
	}
	if rep.Redirect, err = c.redirect(ctx, cams[0], cfg.Rounds); err != nil {
		return rep, err
	}

	cams, err = c.a.addCameras(ctx, cfg.Cameras)
	if err != nil {
		return rep, err
	}
	if rep.RecordingS3, err = recordFor(ctx, c.a, cams, cfg.Record); err != nil {
		return rep, fmt.Errorf("recording to S3: %w", err)
	}
	rep.RecordingS3.Storage = "s3 (a cluster node, versitygw on loopback)"
	if rep.RecordingLocal, err = recordLocal(ctx, cfg, f); err != nil {
		return rep, fmt.Errorf("recording to local disk: %w", err)
	}
	rep.RecordingLocal.Storage = "local disk (a single node, SQLite)"
	rep.CPURatio = ratio(rep.RecordingS3.CPUPerCameraSecond, rep.RecordingLocal.CPUPerCameraSecond)
	for _, r := range []Revocation{rep.MemberRemoved, rep.SessionRevoked} {
		rep.Summary = append(rep.Summary, fmt.Sprintf("%s at node B: a viewer at node A ended %.1f ms (p50), %.1f ms (p99) after B answered (%.1f, %.1f ms after the request); %d of %d viewers ended",
			r.How, r.P50Ms, r.P99Ms, r.FromRequestP50Ms, r.FromRequestP99Ms, r.ViewersEnded, r.Rounds))
	}
	rep.Summary = append(rep.Summary, fmt.Sprintf("a stream asked of node B, served by node A: first keyframe %.0f ms (p50), %.0f ms (p99) after the request; %d of %d viewers got one",
		rep.Redirect.P50Ms, rep.Redirect.P99Ms, rep.Redirect.FirstFrames, rep.Redirect.Rounds))
	for _, r := range []Recording{rep.RecordingS3, rep.RecordingLocal} {
		rep.Summary = append(rep.Summary, fmt.Sprintf("recording to %s: %.4f CPU seconds per camera-second, %.0f cameras per core (%d cameras for %.0f s, %d segments)",
			r.Storage, r.CPUPerCameraSecond, r.CamerasPerCore, r.Cameras, r.Seconds, r.Segments))
	}
	rep.Summary = append(rep.Summary, fmt.Sprintf("recording to S3 costs %.2f× the CPU of recording to local disk", rep.CPURatio))
	return rep, nil
}

// cluster is two nodes sharing a schema, a subject and a bucket.
type cluster struct {
	a, b    *server
	cleanup []func() // in reverse order
}

func (c *cluster) stop() {
	for i := len(c.cleanup) - 1; i >= 0; i-- {
		c.cleanup[i]()
	}
}

func startCluster(ctx context.Context, cfg ClusterConfig, f *feed) (_ *cluster, err error) {
	c := &cluster{}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	if cfg.VersityGW == "" {
		return nil, errors.New("no versitygw binary")
	}
	dir, err := os.MkdirTemp("", "camvault-bench-cluster-")
	if err != nil {
		return nil, err
	}
	c.cleanup = append(c.cleanup, func() { os.RemoveAll(dir) })
	id := randomHex(6)

	db, err := sql.Open("pgx", cfg.Postgres)
	if err != nil {
		return nil, err
	}
	c.cleanup = append(c.cleanup, func() { db.Close() })
	schema := "camvault_bench_" + id
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s: %w", redact(cfg.Postgres), err)
	}
	c.cleanup = append(c.cleanup, func() { db.Exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE") })
	store := cfg.Postgres
	if strings.Contains(store, "?") {
		store += "&search_path=" + schema
	} else {
		store += "?search_path=" + schema
	}

	nc, err := nats.Connect(cfg.NATS)
	if err != nil {
		return nil, fmt.Errorf("NATS at %s: %w", cfg.NATS, err)
	}
	c.cleanup = append(c.cleanup, nc.Close)
	prefix := "camvault_bench_" + id
	c.cleanup = append(c.cleanup, func() {
		// After the nodes stop (cleanups run in reverse), so none
		// makes the buckets again.
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		js.DeleteKeyValue(dctx, prefix+"_claims")
		js.DeleteKeyValue(dctx, prefix+"_nodes")
	})

	s3, stopS3, err := startVersityGW(cfg.VersityGW, filepath.Join(dir, "s3"), "bench")
	if err != nil {
		return nil, err
	}
	c.cleanup = append(c.cleanup, stopS3)
	secrets := filepath.Join(dir, "secrets")
	if out, err := exec.Command(cfg.Binary, "admin", "cluster-secrets", secrets).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cluster-secrets: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "s3-secret"), []byte(s3.secret), 0o600); err != nil {
		return nil, err
	}

	var setup string
	for i, name := range []string{"node-a", "node-b"} {
		data := filepath.Join(dir, name)
		if err := os.Mkdir(data, 0o700); err != nil {
			return nil, err
		}
		listen := freeAddr()
		args := []string{"serve", "--data-dir", data, "--listen", listen, "--devices-listen", "127.0.0.1:0",
			"--devices-ingest-listen", "127.0.0.1:0", "--live-rtsp-listen", "127.0.0.1:0",
			"--store", store, "--bus-nats", cfg.NATS, "--bus-subject", "camvault.bench." + id + ".withdrawals",
			"--blob-s3-endpoint", s3.endpoint, "--blob-s3-insecure", "--blob-s3-bucket", "bench",
			"--blob-s3-access-key", s3.access, "--blob-s3-secret-key-file", filepath.Join(dir, "s3-secret"),
			"--cluster-enabled", "--cluster-node-id", name, "--cluster-public-url", "http://" + listen,
			"--cluster-placement-prefix", prefix,
			"--cluster-server-key-file", filepath.Join(secrets, "server.key"),
			"--cluster-oauth-key-file", filepath.Join(secrets, "oauth.key"),
			"--cluster-device-ca-dir", filepath.Join(secrets, "devices")}
		s, token, err := launch(cfg.Binary, data, args, f, cfg.Logger)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		c.cleanup = append(c.cleanup, s.stop)
		if i == 0 {
			c.a, setup = s, token
		} else {
			c.b = s
		}
	}
	if err := c.a.setup(setup); err != nil {
		return nil, err
	}
	c.b.token, c.b.home = c.a.token, c.a.home // sessions are the cluster's
	return c, nil
}

// revocation measures rounds viewers at A whose access is withdrawn at
// B: "member removed" removes a new member each round, "session revoked"
// ends a member's new session.
func (c *cluster) revocation(ctx context.Context, camera string, rounds int, how string) (Revocation, error) {
	r := Revocation{How: how, Rounds: rounds}
	var ds, whole []time.Duration
	join := func(email string) (string, error) {
		var inv struct{ Token string }
		if err := c.a.call(c.a.token, "POST", "/api/v1/homes/"+c.a.home+"/invites", map[string]any{"role": "member"}, &inv); err != nil {
			return "", err
		}
		var out struct {
			Account struct{ ID string } `json:"account"`
		}
		err := c.b.call("", "POST", "/api/v1/invites/"+inv.Token+"/accept", map[string]any{"email": email, "password": password}, &out)
		return out.Account.ID, err
	}
	member := ""
	if how == "session revoked" {
		if _, err := join("bench-sessions@example.org"); err != nil {
			return r, err
		}
	}
	for i := range rounds {
		email := "bench-sessions@example.org"
		if how == "member removed" {
			email = fmt.Sprintf("bench-member-%d@example.org", i)
			var err error
			if member, err = join(email); err != nil {
				return r, err
			}
		}
		var login struct {
			Token string `json:"session_token"`
		}
		if err := c.a.call("", "POST", "/api/v1/login", map[string]any{"email": email, "password": password}, &login); err != nil {
			return r, err
		}
		var st struct{ URL string }
		if err := c.a.call(login.Token, "POST", "/api/v1/cameras/"+camera+"/streams", map[string]any{"protocol": "rtsp"}, &st); err != nil {
			return r, err
		}
		framed := make(chan struct{})
		var once sync.Once
		v, err := watch(st.URL, c.a.pool(), func([][]byte, time.Time) { once.Do(func() { close(framed) }) })
		if err != nil {
			return r, err
		}
		select {
		case <-framed:
		case <-time.After(30 * time.Second):
			v.close()
			return r, errors.New("a viewer got no frame in 30 s")
		case <-ctx.Done():
			v.close()
			return r, ctx.Err()
		}
		// What B is asked to delete; the session's ID is looked up
		// before the clock starts.
		path := "/api/v1/homes/" + c.b.home + "/members/" + member
		token := c.b.token
		if how == "session revoked" {
			var list struct {
				Sessions []struct {
					ID      string
					Current bool
				}
			}
			if err := c.b.call(login.Token, "GET", "/api/v1/me/sessions", nil, &list); err != nil {
				v.close()
				return r, err
			}
			path, token = "", login.Token
			for _, s := range list.Sessions {
				if s.Current {
					path = "/api/v1/me/sessions/" + s.ID
				}
			}
			if path == "" {
				v.close()
				return r, errors.New("node B lists no current session")
			}
		}
		asked := time.Now()
		err = c.b.call(token, "DELETE", path, nil, nil)
		answered := time.Now()
		if err != nil {
			v.close()
			return r, err
		}
		select {
		case <-v.ended:
			r.ViewersEnded++
			ds = append(ds, v.at.Sub(answered))
			whole = append(whole, v.at.Sub(asked))
		case <-time.After(10 * time.Second):
			// Counted as not ended: the figure says so.
		}
		v.close()
	}
	r.P50Ms, r.P99Ms = percentiles(ds)
	r.FromRequestP50Ms, r.FromRequestP99Ms = percentiles(whole)
	return r, nil
}

// redirect measures rounds viewers asking B for a stream of a camera A
// holds, one after another, while another viewer at A keeps the camera
// streaming (what is measured is the hand-over, not the camera's start).
func (c *cluster) redirect(ctx context.Context, camera string, rounds int) (Redirect, error) {
	r := Redirect{Rounds: rounds}
	var at struct{ URL string }
	if err := c.a.call(c.a.token, "POST", "/api/v1/cameras/"+camera+"/streams", map[string]any{"protocol": "rtsp"}, &at); err != nil {
		return r, err
	}
	keeper, err := watch(at.URL, c.a.pool(), func([][]byte, time.Time) {})
	if err != nil {
		return r, err
	}
	defer keeper.close()
	owner, err := url.Parse(at.URL)
	if err != nil {
		return r, err
	}
	var ds []time.Duration
	for range rounds {
		asked := time.Now()
		var st struct{ URL string }
		if err := c.b.call(c.b.token, "POST", "/api/v1/cameras/"+camera+"/streams", map[string]any{"protocol": "rtsp"}, &st); err != nil {
			return r, err
		}
		if u, err := url.Parse(st.URL); err != nil || u.Host != owner.Host {
			return r, fmt.Errorf("node B's stream URL does not lead to node A (%s)", owner.Host)
		}
		first := make(chan time.Time, 1)
		v, err := watch(st.URL, c.a.pool(), func(nalus [][]byte, t time.Time) {
			if bitstream.HasKey(c.a.feed.codec, nalus) {
				select {
				case first <- t:
				default:
				}
			}
		})
		if err != nil {
			return r, err
		}
		select {
		case t := <-first:
			r.FirstFrames++
			ds = append(ds, t.Sub(asked))
		case <-time.After(30 * time.Second):
		case <-ctx.Done():
			v.close()
			return r, ctx.Err()
		}
		v.close()
	}
	r.P50Ms, r.P99Ms = percentiles(ds)
	return r, nil
}

// recordLocal measures recording on a single node with SQLite and local
// disk.
func recordLocal(ctx context.Context, cfg ClusterConfig, f *feed) (Recording, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := startServer(ctx, cfg.Binary, f, cfg.Logger, "")
	if err != nil {
		return Recording{}, err
	}
	defer s.stop()
	defer cancel() // before stop: the agents end first
	cams, err := s.addCameras(ctx, cfg.Cameras)
	if err != nil {
		return Recording{}, err
	}
	return recordFor(ctx, s, cams, cfg.Record)
}

// recordFor turns continuous recording on for cams, waits until each has
// stored a segment, and then measures the server's CPU for d.
func recordFor(ctx context.Context, s *server, cams []string, d time.Duration) (Recording, error) {
	r := Recording{Cameras: len(cams)}
	since := time.Now().Add(-time.Minute)
	for _, cam := range cams {
		if err := s.call(s.token, "PUT", "/api/v1/cameras/"+cam+"/recording", map[string]any{"mode": "continuous"}, nil); err != nil {
			return r, err
		}
	}
	for _, cam := range cams {
		for deadline := time.Now().Add(time.Minute); ; {
			n, err := s.segments(cam, since, time.Now().Add(time.Minute))
			if err != nil {
				return r, err
			}
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				return r, errors.New("a camera stored no segment in a minute")
			}
			select {
			case <-ctx.Done():
				return r, ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	cpu0 := cpuSeconds(s.pid())
	began := time.Now()
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(d):
	}
	r.ServerCPUSeconds = cpuSeconds(s.pid()) - cpu0
	r.Seconds = time.Since(began).Seconds()
	for _, cam := range cams {
		n, err := s.segments(cam, began, began.Add(d))
		if err != nil {
			return r, err
		}
		r.Segments += n
	}
	perCamera := r.ServerCPUSeconds / (float64(len(cams)) * r.Seconds)
	if perCamera > 0 {
		r.CamerasPerCore = round(1/perCamera, 1)
	}
	r.CPUPerCameraSecond = round(perCamera, 6)
	r.ServerCPUSeconds, r.Seconds = round(r.ServerCPUSeconds, 2), round(r.Seconds, 3)
	return r, nil
}

// round rounds x to n decimals (CPU time is counted in hundredths of a
// second anyway).
func round(x float64, n int) float64 {
	p := math.Pow10(n)
	return math.Round(x*p) / p
}

// segments counts camera's recorded segments in [since, until).
func (s *server) segments(camera string, since, until time.Time) (int, error) {
	var out struct {
		Spans []struct{ Segments int }
	}
	q := "?since=" + url.QueryEscape(since.UTC().Format(time.RFC3339Nano)) + "&until=" + url.QueryEscape(until.UTC().Format(time.RFC3339Nano))
	if err := s.call(s.token, "GET", "/api/v1/cameras/"+camera+"/recordings"+q, nil, &out); err != nil {
		return 0, err
	}
	n := 0
	for _, sp := range out.Spans {
		n += sp.Segments
	}
	return n, nil
}

// s3Server is a running versitygw.
type s3Server struct {
	endpoint, access, secret string
}

// startVersityGW runs versitygw with its posix backend in dir, holding
// an empty bucket, on a free loopback port.
func startVersityGW(bin, dir, bucket string) (s3Server, func(), error) {
	if err := os.MkdirAll(filepath.Join(dir, bucket), 0o700); err != nil {
		return s3Server{}, nil, err
	}
	srv := s3Server{access: "bench" + randomHex(4), secret: randomHex(16)}
	var out strings.Builder
	for range 5 { // another process may take the port first
		srv.endpoint = freeAddr()
		cmd := exec.Command(bin, "--port", srv.endpoint, "posix", dir)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+srv.access, "ROOT_SECRET_KEY="+srv.secret)
		out.Reset()
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			return srv, nil, err
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if listening(srv.endpoint, exited) {
			return srv, func() { cmd.Process.Kill(); <-exited }, nil
		}
		cmd.Process.Kill()
		<-exited
	}
	return srv, nil, fmt.Errorf("versitygw did not start: %s", out.String())
}

// listening waits until addr accepts connections, for 20 s at most or
// until exited is closed.
func listening(addr string, exited <-chan struct{}) bool {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return true
		}
		select {
		case <-exited:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// redact hides a URL's password.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "the given URL"
}
