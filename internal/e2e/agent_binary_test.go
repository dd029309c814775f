package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgentBinary drives the real binaries: `camvault agent` enrols and
// prints its claim code, the owner claims it, the camera shows online,
// and `camvault agent reset` takes it out of the home.
func TestAgentBinary(t *testing.T) {
	s := startBinServer(t, t.TempDir())
	o := s.firstOwner(t, "Casa")
	home, session := o.home, o.token

	stateDir := filepath.Join(t.TempDir(), "agent")
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	os.WriteFile(clip, []byte("x"), 0o600)
	ag := runAgentBinary(t, s.url, stateDir, "file:"+clip)
	out, logs, stop := ag.out, ag.logs, ag.stop
	deadline := time.Now().Add(30 * time.Second)
	claim := ag.claimCode(t, deadline)
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
