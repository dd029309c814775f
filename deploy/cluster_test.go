package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/camvault/camvault/internal/syncbuf"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestClusterScript runs deploy/cluster.sh as an operator would, against
// the machine's PostgreSQL and NATS and a local versitygw, and checks the
// three nodes act as one installation: an account made at the first node
// signs in at the second, and a session ended at the third is refused at
// every node.
func TestClusterScript(t *testing.T) {
	c := startCluster(t)
	urls := c.urls
	if len(urls) != 3 {
		t.Fatalf("script did not report three ready nodes (got %v); stderr:\n%s", urls, c.stderr.String())
	}

	const email, password = "ada@example.org", "tulip-Harbor-97-kettle"
	body := `{"email":"` + email + `","password":"` + password + `"}`
	if code, _ := call(t, "POST", urls[0]+"/api/v1/signup", "", body); code != http.StatusCreated {
		t.Fatalf("sign-up at node 1: %d", code)
	}
	ended, kept := login(t, urls[1], body), login(t, urls[0], body)
	if code, _ := call(t, "POST", urls[2]+"/api/v1/logout", ended, ""); code/100 != 2 {
		t.Fatalf("sign-out at node 3: %d", code)
	}
	for _, u := range urls {
		if code, _ := call(t, "GET", u+"/api/v1/me", ended, ""); code != http.StatusUnauthorized {
			t.Errorf("ended session at %s: %d, want 401", u, code)
		}
		if code, _ := call(t, "GET", u+"/api/v1/me", kept, ""); code != http.StatusOK {
			t.Errorf("other session at %s: %d, want 200", u, code)
		}
	}
	c.stop(t)
}

// TestClusterScriptRoles starts one api node and two media nodes: the api
// node answers the API, the media nodes answer 404 for it but are ready,
// and no media node's data or secrets hold the device CA's key or the
// OAuth key.
func TestClusterScriptRoles(t *testing.T) {
	c := startCluster(t, "-r", "api,media,media")
	if len(c.urls) != 3 || strings.Join(c.roles, ",") != "api,media,media" {
		t.Fatalf("script did not report three ready nodes with their roles (got %v %v); stderr:\n%s", c.urls, c.roles, c.stderr.String())
	}
	api, media := c.urls[0], c.urls[1:]
	body := `{"email":"grace@example.org","password":"tulip-Harbor-97-kettle"}`
	if code, _ := call(t, "POST", api+"/api/v1/signup", "", body); code != http.StatusCreated {
		t.Fatalf("sign-up at the api node: %d", code)
	}
	tok := login(t, api, body)
	if code, _ := call(t, "GET", api+"/api/v1/me", tok, ""); code != http.StatusOK {
		t.Errorf("/api/v1/me at the api node: %d, want 200", code)
	}
	for i, u := range media {
		if code, _ := call(t, "GET", u+"/api/v1/me", tok, ""); code != http.StatusNotFound {
			t.Errorf("/api/v1/me at media node %s: %d, want 404", u, code)
		}
		if code, _ := call(t, "GET", u+"/readyz", "", ""); code != http.StatusOK {
			t.Errorf("/readyz at media node %s: %d, want 200", u, code)
		}
		held := files(t, filepath.Join(c.dir, fmt.Sprintf("node%d", i+2)))
		if !held["device-ca.pem"] || !held["device-server-key.pem"] || !held["server.key"] {
			t.Errorf("media node %s was not given its secrets: %v", u, held)
		}
		if held["device-ca-key.pem"] || held["oauth.key"] {
			t.Errorf("media node %s holds the device CA key or the OAuth key: %v", u, held)
		}
	}
	if held := files(t, filepath.Join(c.dir, "node1")); !held["device-ca-key.pem"] || !held["oauth.key"] || held["device-server-key.pem"] {
		t.Errorf("the api node holds %v, want the CA key and the OAuth key and not the media server key", held)
	}
	c.stop(t)
}

// cluster is a running deploy/cluster.sh.
type cluster struct {
	dir         string // the script's folder: nodeN/ is node N's data dir
	urls, roles []string
	stderr      *syncbuf.Buffer
	cmd         *exec.Cmd
	exited      chan error
	cancel      func()
}

// startCluster builds camvault, runs cluster.sh with args (and open
// sign-up) and waits for it to report the cluster ready. Unless the
// test stops it, the cluster is stopped when the test ends.
func startCluster(t *testing.T, args ...string) *cluster {
	t.Helper()
	pg, nats := os.Getenv("CAMVAULT_TEST_POSTGRES"), os.Getenv("CAMVAULT_TEST_NATS")
	if pg == "" || nats == "" {
		t.Skip("CAMVAULT_TEST_POSTGRES and CAMVAULT_TEST_NATS not set: cluster script test skipped")
	}
	vgw := os.Getenv("CAMVAULT_TEST_VERSITYGW")
	if vgw == "" {
		vgw, _ = exec.LookPath("versitygw")
	}
	if vgw == "" {
		t.Skip("versitygw not installed (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0): cluster script test skipped")
	}
	if _, err := exec.LookPath("psql"); err != nil {
		t.Skip("psql not installed: cluster script test skipped")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "camvault")
	build := exec.Command("go", "build", "-o", bin, "../cmd/camvault")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	c := &cluster{dir: filepath.Join(dir, "cluster"), stderr: &syncbuf.Buffer{}, exited: make(chan error, 1), cancel: cancel}
	c.cmd = exec.CommandContext(ctx, "bash", append(append([]string{"cluster.sh", "-d", c.dir}, args...), "--", "--auth-open-signup")...)
	// The nodes read CAMVAULT_* variables as settings: pass none of the
	// test's own.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CAMVAULT_") {
			env = append(env, kv)
		}
	}
	c.cmd.Env = append(env, "CLUSTER_BIN="+bin, "POSTGRES_URL="+pg, "NATS_URL="+nats, "VERSITYGW="+vgw)
	c.cmd.Stderr = c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "node" {
			c.urls = append(c.urls, f[2])
			if len(f) >= 5 {
				c.roles = append(c.roles, strings.TrimPrefix(f[4], "role="))
			}
		}
		if strings.HasPrefix(line, "cluster ready") {
			break
		}
	}
	go func() { io.Copy(io.Discard, out); c.exited <- c.cmd.Wait() }()
	t.Cleanup(func() {
		if c.cancel != nil {
			c.cancel()
			<-c.exited
		}
	})
	return c
}

// stop ends the script as an operator would, and checks it stops cleanly.
func (c *cluster) stop(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-c.exited; err != nil {
		t.Errorf("script after SIGTERM: %v; stderr:\n%s", err, c.stderr.String())
	}
	c.cancel()
	c.cancel = nil
}

// files names the files under dir, at any depth.
func files(t *testing.T, dir string) map[string]bool {
	t.Helper()
	held := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			held[d.Name()] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return held
}

// login signs in at url with the JSON credentials body and returns the
// session token.
func login(t *testing.T, url, body string) string {
	t.Helper()
	code, resp := call(t, "POST", url+"/api/v1/login", "", body)
	if code != http.StatusOK {
		t.Fatalf("sign-in at %s: %d", url, code)
	}
	var r struct {
		Token string `json:"session_token"`
	}
	if err := json.Unmarshal(resp, &r); err != nil || r.Token == "" {
		t.Fatalf("sign-in answer %q: %v", resp, err)
	}
	return r.Token
}

// call sends one API request, with a session token when given.
func call(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b
}
