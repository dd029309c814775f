package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDisplaySimBinary: `camvault display-sim` links an account to an
// integration registered with `camvault admin integration add`, plays the
// linked camera of a real agent over LL-HLS and verifies its frames and
// snapshot, all through the real binaries.
func TestDisplaySimBinary(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	_, token, _ := strings.Cut(s.setup, "#")
	code, body := post(t, s.url+"/api/v1/setup", map[string]any{"setup_token": token, "email": "ana@example.org", "password": e2ePassword, "home_name": "Casa"}, "")
	if code != http.StatusCreated {
		t.Fatalf("setup: %d %v", code, body)
	}
	home := body["home"].(map[string]any)["id"].(string)
	_, login := post(t, s.url+"/api/v1/login", map[string]any{"email": "ana@example.org", "password": e2ePassword}, "")
	session := login["session_token"].(string)
	claim := startAgentBinary(t, s.url, "builtin:porch")
	code, cam := post(t, s.url+"/api/v1/homes/"+home+"/cameras/claim", map[string]any{"claim_code": claim, "name": "Porch"}, session)
	if code != http.StatusCreated {
		t.Fatalf("claim: %d %v", code, cam)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, c := getJSON(t, s.url+"/api/v1/cameras/"+cam["id"].(string), session); c["online"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the camera never came online")
		}
	}
	redirect := "https://display.example.com/cb"
	out, err := exec.Command(camvaultBinary(t), "admin", "integration", "add", "--name", "Kitchen display", "--redirect-uri", redirect, "--data-dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("integration add: %v\n%s", err, out)
	}
	clientID := regexp.MustCompile(`cvc_[a-z0-9]+`).FindString(string(out))
	secret := regexp.MustCompile(`cvcs_[A-Za-z0-9_-]{43}`).FindString(string(out))

	cmd := exec.Command(camvaultBinary(t), "display-sim", "--server", s.url, "--client-id", clientID, "--redirect-uri", redirect,
		"--email", "ana@example.org", "--play", "30s", "--gops", "2")
	cmd.Env = append(os.Environ(), "CAMVAULT_CLIENT_SECRET="+secret, "CAMVAULT_PASSWORD="+e2ePassword)
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("display-sim: %v\n%s", err, stdout)
	}
	var rep struct {
		Linked  bool
		OK      bool
		Refresh string
		Devices []struct {
			Name, Snapshot, Stream string
			Frames                 int
			GOPs                   int `json:"gops_verified"`
		}
	}
	if err := json.Unmarshal(stdout, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout)
	}
	if !rep.Linked || !rep.OK || rep.Refresh != "rotated" || len(rep.Devices) != 1 || rep.Devices[0].Name != "Porch" ||
		rep.Devices[0].GOPs < 1 || rep.Devices[0].Snapshot != "verified" {
		t.Fatalf("display-sim report:\n%s", stdout)
	}
	t.Logf("display-sim: %d frames, %d GOPs verified, snapshot %s", rep.Devices[0].Frames, rep.Devices[0].GOPs, rep.Devices[0].Snapshot)
}
