package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var claimRE = regexp.MustCompile(`\b([2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4})\b`)

func getJSON(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestAgentBinary drives the real binaries: `camvault agent` enrols and
// prints its claim code, the owner claims it, the camera shows online,
// and `camvault agent reset` takes it out of the home.
func TestAgentBinary(t *testing.T) {
	s := startBinServer(t, t.TempDir())
	_, token, _ := strings.Cut(s.setup, "#")
	code, body := post(t, s.url+"/api/v1/setup", map[string]any{"setup_token": token, "email": "ana@example.org", "password": e2ePassword, "home_name": "Casa"}, "")
	if code != http.StatusCreated {
		t.Fatalf("setup: %d %v", code, body)
	}
	home := body["home"].(map[string]any)["id"].(string)
	_, login := post(t, s.url+"/api/v1/login", map[string]any{"email": "ana@example.org", "password": e2ePassword}, "")
	session := login["session_token"].(string)

	stateDir := filepath.Join(t.TempDir(), "agent")
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	os.WriteFile(clip, []byte("x"), 0o600)
	cmd := exec.Command(camvaultBinary(t), "agent", "--server", s.url, "--state-dir", stateDir, "--source", "file:"+clip, "--status-listen", "127.0.0.1:0")
	out, logs := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	var claim string
	for claim == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no claim code printed\nstdout:\n%s\nstderr:\n%s", out.String(), logs.String())
		}
		time.Sleep(50 * time.Millisecond)
		if m := claimRE.FindStringSubmatch(out.String()); m != nil {
			claim = m[1]
		}
	}
	if !strings.Contains(out.String(), "▀") {
		t.Errorf("no QR code printed:\n%s", out.String())
	}
	code, cam := post(t, s.url+"/api/v1/homes/"+home+"/cameras/claim", map[string]any{"claim_code": claim, "name": "Porch"}, session)
	if code != http.StatusCreated {
		t.Fatalf("claim: %d %v", code, cam)
	}
	camID := cam["id"].(string)
	for {
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("camera never online\nagent log:\n%s", logs.String())
		}
		if _, c := getJSON(t, s.url+"/api/v1/cameras/"+camID, session); c["online"] == true && c["agent_version"] != nil && c["agent_version"] != "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "msg=connected") || !strings.Contains(logs.String(), "waiting for a home to claim this camera") {
		t.Errorf("agent log does not tell what it does:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), claim) {
		t.Errorf("the agent logged its claim code (it belongs on stdout and the status page only)")
	}

	stop()
	reset, err := exec.Command(camvaultBinary(t), "agent", "reset", "--state-dir", stateDir).CombinedOutput()
	if err != nil || !strings.Contains(string(reset), "The server was told") {
		t.Fatalf("reset: %v\n%s", err, reset)
	}
	if c, _ := getJSON(t, s.url+"/api/v1/cameras/"+camID, session); c != http.StatusNotFound {
		t.Fatalf("camera after factory reset: %d, want 404", c)
	}
}

// startAgentBinary runs `camvault agent` against serverURL with source and
// returns the claim code it prints.
func startAgentBinary(t *testing.T, serverURL, source string) string {
	t.Helper()
	stateDir := filepath.Join(t.TempDir(), "agent")
	cmd := exec.Command(camvaultBinary(t), "agent", "--server", serverURL, "--state-dir", stateDir, "--source", source, "--status-listen", "127.0.0.1:0")
	out, logs := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := claimRE.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no claim code printed\nstderr:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
