package e2e

import (
	"context"
	"crypto/x509"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// balancer is a round-robin TCP balancer in front of a cluster's nodes,
// as an L4 load balancer is: each connection goes to the next node that
// accepts it.
type balancer struct {
	l        net.Listener
	mu       sync.Mutex // guards backends and next
	backends []string
	next     int
}

func newBalancer(t *testing.T) *balancer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{l: l}
	go b.serve()
	t.Cleanup(func() { l.Close() })
	return b
}

func (b *balancer) addr() string { return b.l.Addr().String() }

func (b *balancer) add(backend string) {
	b.mu.Lock()
	b.backends = append(b.backends, backend)
	b.mu.Unlock()
}

func (b *balancer) serve() {
	for {
		in, err := b.l.Accept()
		if err != nil {
			return
		}
		go b.pass(in)
	}
}

// pass hands in to the next backend that answers.
func (b *balancer) pass(in net.Conn) {
	b.mu.Lock()
	backends, start := append([]string(nil), b.backends...), b.next
	b.next++
	b.mu.Unlock()
	for i := range backends {
		out, err := net.DialTimeout("tcp", backends[(start+i)%len(backends)], time.Second)
		if err != nil {
			continue
		}
		go func() { io.Copy(out, in); out.Close() }()
		io.Copy(in, out)
		in.Close()
		return
	}
	in.Close()
}

// Ports for the nodes of binary clusters come from below the kernel's
// ephemeral range (32768 and up), so that no test binding port 0 or
// connecting out takes one between its choice and the node binding it;
// deploy/cluster.sh uses 26000 and up, these tests the ports below.
const (
	firstNodePort = 20000
	nodePorts     = 6000
)

var (
	portsMu sync.Mutex
	chosen  = map[int]bool{}
)

// freeAddr returns a loopback address nothing listens on now, one this
// test binary has not handed out before.
func freeAddr(t *testing.T) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		p := firstNodePort + rand.IntN(nodePorts)
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
	t.Fatal("no free port for a node")
	return ""
}

// binNode is one `camvault serve` process of a binary cluster.
type binNode struct {
	name string
	url  string // this node's own address, past the balancer
	args []string
	dir  string
	s    *binServer
}

// binCluster is n `camvault serve` processes sharing one PostgreSQL
// schema, NATS subject and S3 bucket, behind a balancer for the API and
// one for devices.
type binCluster struct {
	env      clusterEnv
	api, dev *balancer
	nodes    []*binNode
}

func startBinCluster(t *testing.T, n int) *binCluster {
	t.Helper()
	env := newClusterEnv(t)
	c := &binCluster{env: env, api: newBalancer(t), dev: newBalancer(t)}
	for i := range n {
		httpAddr, devAddr := freeAddr(t), freeAddr(t)
		dir := t.TempDir()
		node := &binNode{name: fmt.Sprintf("node%d", i+1), url: "http://" + httpAddr, dir: dir}
		node.args = []string{"serve", "--data-dir", dir, "--listen", httpAddr, "--devices-listen", devAddr,
			"--devices-ingest-listen", freeAddr(t), "--live-rtsp-listen", freeAddr(t),
			"--base-url", "http://" + c.api.addr(), "--devices-url", "wss://" + c.dev.addr(),
			"--store", env.store, "--bus-nats", env.nats, "--bus-subject", env.subject,
			"--blob-s3-endpoint", env.bucket.Endpoint, "--blob-s3-insecure", "--blob-s3-bucket", env.bucket.Bucket,
			"--blob-s3-access-key", env.bucket.AccessKey, "--blob-s3-secret-key-file", filepath.Join(env.secrets, "s3-secret"),
			"--cluster-enabled", "--cluster-node-id", node.name, "--cluster-public-url", node.url,
			"--cluster-server-key-file", filepath.Join(env.secrets, "server.key"),
			"--cluster-oauth-key-file", filepath.Join(env.secrets, "oauth.key"),
			"--cluster-device-ca-dir", filepath.Join(env.secrets, "devices"),
			"--recordings-segment", "2s"}
		c.nodes = append(c.nodes, node)
		c.start(t, i)
		c.api.add(httpAddr)
		c.dev.add(devAddr)
	}
	return c
}

// start (re)starts node i.
func (c *binCluster) start(t *testing.T, i int) {
	t.Helper()
	c.nodes[i].s = runBin(t, c.nodes[i].dir, c.nodes[i].args)
}

// kill ends node i with SIGKILL.
func (c *binCluster) kill(i int) {
	s := c.nodes[i].s
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
}

// firstOwner creates the first account and home through a setup link a
// node printed, at node n, and signs it in.
func (c *binCluster) firstOwner(t *testing.T, n *binNode) owner {
	t.Helper()
	for _, m := range c.nodes {
		if m.s.setup != "" {
			_, token, _ := strings.Cut(m.s.setup, "#")
			return setupOwner(t, n.url, token, "ana@example.org", "Casa")
		}
	}
	t.Fatal("no node printed a setup link")
	return owner{}
}

// camera makes the first owner, runs an agent through the balancers and
// claims its camera, recording continuously when record is set. It
// returns the owner, the camera's ID and the agent's state dir.
func (c *binCluster) camera(t *testing.T, record bool) (owner, string, string) {
	t.Helper()
	o := c.firstOwner(t, c.nodes[0])
	stateDir := filepath.Join(t.TempDir(), "agent")
	claim := runAgentBinary(t, c.lb(), stateDir, "builtin:porch").claimCode(t, time.Now().Add(time.Minute))
	code, cam := post(t, c.lb()+"/api/v1/homes/"+o.home+"/cameras/claim", map[string]any{"claim_code": claim, "name": "Porch"}, o.token)
	if code != http.StatusCreated {
		t.Fatalf("claim: %d %v", code, cam)
	}
	camera := cam["id"].(string)
	if record {
		if code, body := send(t, "PUT", c.lb()+"/api/v1/cameras/"+camera+"/recording", map[string]any{"mode": "continuous"}, o.token); code != 200 {
			t.Fatalf("recording on: %d %v", code, body)
		}
	}
	return o, camera, stateDir
}

// lb is the URL of the API balancer.
func (c *binCluster) lb() string { return "http://" + c.api.addr() }

// TestClusterNodes runs three nodes of the real binary behind balancers.
// Each part is one thing a cluster must hold that one node holds alone.
func TestClusterNodes(t *testing.T) {
	c := startBinCluster(t, 3)
	a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2]

	// Signed up at A, signed in at B, signed out at C: refused at every
	// node at the next request.
	o := c.firstOwner(t, a)
	session := signIn(t, b.url, "ana@example.org")
	if code, _ := post(t, cc.url+"/api/v1/logout", nil, session); code/100 != 2 {
		t.Fatalf("sign-out at C: %d", code)
	}
	for _, n := range c.nodes {
		if code, _ := getJSON(t, n.url+"/api/v1/me", session); code != http.StatusUnauthorized {
			t.Errorf("a session ended at C answers %d at %s, want 401", code, n.name)
		}
		if code, _ := getJSON(t, n.url+"/api/v1/me", o.token); code != http.StatusOK {
			t.Errorf("another session at %s: %d, want 200", n.name, code)
		}
	}

	// Wrong passwords spread over the nodes are throttled as on one
	// node: each node sees four, below any one node's free tries, so
	// only a shared count throttles them.
	throttled := 0
	for i := range 12 {
		code, _ := post(t, c.nodes[i%3].url+"/api/v1/login", map[string]any{"email": "ana@example.org", "password": fmt.Sprintf("wrong-%d-password", i)}, "")
		if code == http.StatusTooManyRequests {
			throttled++
		} else if code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i+1, code)
		}
	}
	if throttled == 0 {
		t.Error("12 wrong passwords over three nodes were never throttled")
	}

	// The chores run on one node; SIGKILLed, another takes over within
	// the lease's retry period.
	leader := -1
	waitFor(t, "a node to run the retention chore", func() bool {
		for i, n := range c.nodes {
			if strings.Contains(n.s.stderr.String(), `chore=recordings.retention`) && strings.Contains(n.s.stderr.String(), "running the chore here") {
				leader = i
				return true
			}
		}
		return false
	})
	killed := time.Now()
	c.kill(leader)
	waitFor(t, "another node to take the retention chore over", func() bool {
		for i, n := range c.nodes {
			if i != leader && choreTaken(n.s.stderr.String(), "recordings.retention") {
				return true
			}
		}
		return false
	})
	t.Logf("retention taken over %v after its leader was killed", time.Since(killed).Round(time.Millisecond))
	c.start(t, leader)
}

// choreTaken reports whether a node's log says it runs chore.
func choreTaken(log, chore string) bool {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "running the chore here") && strings.Contains(line, "chore="+chore) {
			return true
		}
	}
	return false
}

// rawGet fetches url with a session token and returns the status and
// body.
func rawGet(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, b
}

// segmentsAt counts the recorded segments of camera in [since, until)
// as node url lists them.
func segmentsAt(t *testing.T, url, token, camera string, since, until time.Time) int {
	t.Helper()
	q := "?since=" + since.UTC().Format(time.RFC3339Nano) + "&until=" + until.UTC().Format(time.RFC3339Nano)
	code, body := getJSON(t, url+"/api/v1/cameras/"+camera+"/recordings"+q, token)
	if code != http.StatusOK {
		t.Fatalf("recordings at %s: %d %v", url, code, body)
	}
	n := 0
	spans, _ := body["spans"].([]any)
	for _, s := range spans {
		n += int(s.(map[string]any)["segments"].(float64))
	}
	return n
}

// TestClusterRecordings: a camera records to the shared bucket; every
// node lists the same segments and plays them; restarting one node, then
// another, loses none of them.
func TestClusterRecordings(t *testing.T) {
	c := startBinCluster(t, 3)
	o, camera, _ := c.camera(t, true)
	since := time.Now().Add(-time.Minute)
	for deadline := time.Now().Add(3 * time.Minute); segmentsAt(t, c.lb(), o.token, camera, since, time.Now().Add(time.Minute)) < 8; time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			t.Fatal("fewer than 8 segments recorded in 3 minutes")
		}
	}
	cut := time.Now()
	want := segmentsAt(t, c.nodes[0].url, o.token, camera, since, cut)
	for _, n := range c.nodes {
		if got := segmentsAt(t, n.url, o.token, camera, since, cut); got != want {
			t.Errorf("%s lists %d segments, node1 %d", n.name, got, want)
		}
		q := "?since=" + since.UTC().Format(time.RFC3339Nano) + "&until=" + cut.UTC().Format(time.RFC3339Nano)
		code, pl := rawGet(t, n.url+"/api/v1/cameras/"+camera+"/recordings/playlist.m3u8"+q, o.token)
		if code != http.StatusOK {
			t.Fatalf("playlist at %s: %d %s", n.name, code, pl)
		}
		media := ""
		for _, line := range strings.Split(string(pl), "\n") {
			if line != "" && !strings.HasPrefix(line, "#") {
				media = line
				break
			}
		}
		if media == "" {
			t.Fatalf("playlist at %s names no segment:\n%s", n.name, pl)
		}
		if !strings.HasPrefix(media, "http") {
			media = n.url + "/api/v1/cameras/" + camera + "/recordings/" + strings.TrimPrefix(media, "/")
		}
		if code, b := rawGet(t, media, o.token); code != http.StatusOK || len(b) == 0 {
			t.Fatalf("a segment played at %s: %d, %d bytes", n.name, code, len(b))
		}
	}
	// A segment in progress at cut may be indexed later; none listed
	// may go.
	for _, i := range []int{1, 2} {
		c.nodes[i].s.stop(t)
		c.start(t, i)
		if got := segmentsAt(t, c.nodes[0].url, o.token, camera, since, cut); got < want {
			t.Fatalf("after restarting %s: %d segments listed before, %d now", c.nodes[i].name, want, got)
		}
	}
}

// owner returns the index of the node whose device listener holds
// camera's control connection now, or -1, as the nodes' logs say.
func (c *binCluster) owner(camera string) int {
	for i, n := range c.nodes {
		if n.s.cmd.ProcessState != nil {
			continue
		}
		held := false
		for _, line := range strings.Split(n.s.stderr.String(), "\n") {
			if !strings.Contains(line, "camera="+camera) {
				continue
			}
			switch {
			case strings.Contains(line, `msg="device connected"`):
				held = true
			case strings.Contains(line, `msg="device disconnected"`), strings.Contains(line, "device connected again elsewhere"):
				held = false
			}
		}
		if held {
			return i
		}
	}
	return -1
}

// TestClusterOwnerKilled: the node holding a recording camera is killed.
// The agent reconnects through the balancer to another node, which then
// holds the camera: it is online, a new viewer gets its frames, recording
// resumes with a gap of about the reconnection, and once the killed node
// is back no segment of it stays "uploading".
func TestClusterOwnerKilled(t *testing.T) {
	c := startBinCluster(t, 3)
	o, camera, stateDir := c.camera(t, true)
	since := time.Now().Add(-time.Minute)
	waitFor(t, "three recorded segments", func() bool {
		return segmentsAt(t, c.lb(), o.token, camera, since, time.Now().Add(time.Minute)) >= 3
	})
	k := c.owner(camera)
	if k < 0 {
		t.Fatal("no node logs holding the camera")
	}
	other := c.nodes[(k+1)%3]

	// A stream credential made at one node and spent at the two others
	// at once works once.
	third := c.nodes[(k+2)%3]
	code, hls := post(t, third.url+"/api/v1/cameras/"+camera+"/streams", map[string]any{"protocol": "hls"}, o.token)
	if code != http.StatusCreated {
		t.Fatalf("stream: %d %v", code, hls)
	}
	_, query, _ := strings.Cut(hls["url"].(string), "?")
	codes := make([]int, 2)
	var spend sync.WaitGroup
	for i, n := range []*binNode{c.nodes[k], other} {
		spend.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", n.url+"/hls/cameras/"+camera+"/index.m3u8?"+query, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				codes[i] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	spend.Wait()
	if refused := (codes[0] == http.StatusUnauthorized) != (codes[1] == http.StatusUnauthorized); !refused {
		t.Errorf("one HLS credential made at a third node, spent at two nodes at once: %v, want exactly one refusal (401)", codes)
	}

	killed := time.Now()
	c.kill(k)
	online := func() bool {
		code, body := getJSON(t, other.url+"/api/v1/cameras/"+camera, o.token)
		return code == 200 && body["online"] == true && c.owner(camera) >= 0
	}
	waitFor(t, "the camera online at another node", online)
	reconnect := time.Since(killed)
	t.Logf("node %s killed: the camera is online at %s after %v", c.nodes[k].name, c.nodes[c.owner(camera)].name, reconnect.Round(time.Millisecond))

	pool, _ := agentTrust(t, stateDir)
	streamURL := post2URL(t, other.url+"/api/v1/cameras/"+camera+"/streams", o.token)
	var got sync.WaitGroup
	got.Add(1)
	var once sync.Once
	_, _, err := rtspViewer(t, streamURL, pool, func([][]byte) { once.Do(got.Done) })
	if err != nil {
		t.Fatalf("a viewer after the kill: %v", err)
	}
	frames := make(chan struct{})
	go func() { got.Wait(); close(frames) }()
	select {
	case <-frames:
	case <-time.After(30 * time.Second):
		t.Fatal("a new viewer got no frame 30 s after the camera came back")
	}

	// Recording resumes at the new owner.
	resumed := time.Now()
	waitFor(t, "recording to resume", func() bool {
		return segmentsAt(t, c.lb(), o.token, camera, resumed, time.Now().Add(time.Minute)) >= 2
	})
	q := "?since=" + since.UTC().Format(time.RFC3339Nano) + "&until=" + time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)
	_, body := getJSON(t, c.lb()+"/api/v1/cameras/"+camera+"/recordings"+q, o.token)
	spans, _ := body["spans"].([]any)
	var gap time.Duration
	for i := 1; i < len(spans); i++ {
		end, _ := time.Parse(time.RFC3339Nano, spans[i-1].(map[string]any)["end"].(string))
		start, _ := time.Parse(time.RFC3339Nano, spans[i].(map[string]any)["start"].(string))
		gap = max(gap, start.Sub(end))
	}
	// At most the segment in progress at the kill (2 s, cut at a
	// keyframe 2 s apart), the reconnection, and the new owner's
	// recorder finding the camera at its next rescan (5 s).
	t.Logf("recording gap across the kill: %v", gap.Round(time.Millisecond))
	if limit := 4*time.Second + reconnect + 5*time.Second; gap > limit {
		t.Errorf("recording gap %v, more than a segment, the reconnection and a rescan (%v)", gap, limit)
	}

	// The killed node comes back and clears what it was storing.
	c.start(t, k)
	db, err := sql.Open("pgx", c.env.store)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var left int
	if err := db.QueryRow(`SELECT COUNT(*) FROM segments WHERE uploading_by = $1`, c.nodes[k].name).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d segments of the killed node still uploading after it came back", left)
	}
}

// post2URL asks for an RTSPS stream of a camera and returns its URL.
func post2URL(t *testing.T, url, token string) string {
	t.Helper()
	code, body := post(t, url, map[string]any{"protocol": "rtsp"}, token)
	if code != http.StatusCreated {
		t.Fatalf("stream: %d %v", code, body)
	}
	return body["url"].(string)
}

// watched is an RTSPS viewer's record of when frames came.
type watched struct {
	done  <-chan error  // the session ended
	frame chan struct{} // closed at the first frame

	mu          sync.Mutex // guards first and last
	first, last time.Time
}

// watch plays url as a viewer trusting pool.
func watch(t *testing.T, url string, pool *x509.CertPool) *watched {
	t.Helper()
	w := &watched{frame: make(chan struct{})}
	_, done, err := rtspViewer(t, url, pool, func([][]byte) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.last = time.Now()
		if w.first.IsZero() {
			w.first = w.last
			close(w.frame)
		}
	})
	if err != nil {
		t.Fatalf("a viewer at %s: %v", url, err)
	}
	w.done = done
	return w
}

// times returns when the first and the last frame came.
func (w *watched) times() (first, last time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first, w.last
}

// TestClusterDrain: a node told to drain (SIGUSR1) ends its agents'
// control sessions and refuses new ones; the agent reconnects through the
// balancer to another node, where the camera is online and plays. A
// viewer watching at the drained node sees its stream end once the camera
// is held elsewhere, asks again for a stream and watches the new owner's;
// the gap it saw is logged.
func TestClusterDrain(t *testing.T) {
	c := startBinCluster(t, 3)
	o, camera, stateDir := c.camera(t, false)
	waitFor(t, "a node to hold the camera", func() bool { return c.owner(camera) >= 0 })
	k := c.owner(camera)
	pool, _ := agentTrust(t, stateDir)
	before := watch(t, post2URL(t, c.nodes[k].url+"/api/v1/cameras/"+camera+"/streams", o.token), pool)
	select {
	case <-before.frame:
	case <-time.After(30 * time.Second):
		t.Fatal("a viewer at the camera's node got no frame in 30 s")
	}

	drained := time.Now()
	c.nodes[k].s.cmd.Process.Signal(syscall.SIGUSR1)
	waitFor(t, "the camera at another node", func() bool {
		j := c.owner(camera)
		return j >= 0 && j != k
	})
	j := c.owner(camera)
	t.Logf("%s drained: the camera is held by %s after %v", c.nodes[k].name, c.nodes[j].name, time.Since(drained).Round(time.Millisecond))
	waitFor(t, "the camera online", func() bool {
		code, body := getJSON(t, c.nodes[k].url+"/api/v1/cameras/"+camera, o.token)
		return code == 200 && body["online"] == true
	})

	// The viewer at the drained node: its stream ends, and it asks again
	// (through the balancer, at any node) and watches the new owner's.
	select {
	case <-before.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the stream at the drained node did not end within 30 s of the drain")
	}
	ended := time.Now()
	after := watch(t, post2URL(t, c.lb()+"/api/v1/cameras/"+camera+"/streams", o.token), pool)
	select {
	case <-after.frame:
	case <-time.After(30 * time.Second):
		t.Fatal("no frame 30 s after the camera moved")
	}
	_, last := before.times()
	first, _ := after.times()
	t.Logf("viewer: last frame at the drained node %v after the drain, its stream ended after %v, first frame from %s %v after the drain: a gap of %v",
		last.Sub(drained).Round(time.Millisecond), ended.Sub(drained).Round(time.Millisecond), c.nodes[j].name,
		first.Sub(drained).Round(time.Millisecond), first.Sub(last).Round(time.Millisecond))
}
