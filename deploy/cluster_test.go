package deploy_test

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
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "cluster.sh", "-d", filepath.Join(dir, "cluster"), "--", "--auth-open-signup")
	// The nodes read CAMVAULT_* variables as settings: pass none of the
	// test's own.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CAMVAULT_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "CLUSTER_BIN="+bin, "POSTGRES_URL="+pg, "NATS_URL="+nats, "VERSITYGW="+vgw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var urls []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "node" {
			urls = append(urls, f[2])
		}
		if strings.HasPrefix(line, "cluster ready") {
			break
		}
	}
	go func() { io.Copy(io.Discard, out); exited <- cmd.Wait() }()
	if len(urls) != 3 {
		cancel()
		<-exited
		t.Fatalf("script did not report three ready nodes (got %v); stderr:\n%s", urls, stderr.String())
	}

	const email, password = "ada@example.org", "tulip-Harbor-97-kettle"
	body := `{"email":"` + email + `","password":"` + password + `"}`
	if code, _ := call(t, "POST", urls[0]+"/api/v1/signup", "", body); code != http.StatusCreated {
		t.Fatalf("sign-up at node 1: %d", code)
	}
	login := func(url string) string {
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
	ended, kept := login(urls[1]), login(urls[0])
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

	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Errorf("script after SIGTERM: %v; stderr:\n%s", err, stderr.String())
	}
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
