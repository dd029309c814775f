package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"testing"
)

// TestDisplaySimBinary: `camvault display-sim` links an account to an
// integration registered with `camvault admin integration add`, plays the
// linked camera of a real agent over LL-HLS and verifies its frames and
// snapshot, all through the real binaries.
func TestDisplaySimBinary(t *testing.T) {
	s := startBinServer(t, t.TempDir())
	ownerCamera(t, s, "builtin:porch", "Porch")
	redirect := "https://display.example.com/cb"
	clientID, secret := addIntegration(t, s, redirect)

	for _, protocol := range []string{"hls", "webrtc"} {
		displaySim(t, s, clientID, secret, redirect, protocol)
	}
}

// displaySim runs `camvault display-sim` over protocol and checks its
// report.
func displaySim(t *testing.T, s *binServer, clientID, secret, redirect, protocol string) {
	t.Helper()
	cmd := exec.Command(camvaultBinary(t), "display-sim", "--server", s.url, "--client-id", clientID, "--redirect-uri", redirect,
		"--email", "ana@example.org", "--play", "30s", "--gops", "2", "--protocol", protocol)
	cmd.Env = append(os.Environ(), "CAMVAULT_CLIENT_SECRET="+secret, "CAMVAULT_PASSWORD="+password)
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
	t.Logf("display-sim over %s: %d frames, %d GOPs verified, snapshot %s", protocol, rep.Devices[0].Frames, rep.Devices[0].GOPs, rep.Devices[0].Snapshot)
}

// addIntegration registers "Kitchen display" with redirect through
// `camvault admin integration add` on the server's data dir, and returns
// the client ID and secret it prints.
func addIntegration(t *testing.T, s *binServer, redirect string) (clientID, secret string) {
	t.Helper()
	out, err := exec.Command(camvaultBinary(t), "admin", "integration", "add", "--name", "Kitchen display", "--redirect-uri", redirect, "--data-dir", s.dir).CombinedOutput()
	if err != nil {
		t.Fatalf("integration add: %v\n%s", err, out)
	}
	return regexp.MustCompile(`cvc_[a-z0-9]+`).FindString(string(out)), regexp.MustCompile(`cvcs_[A-Za-z0-9_-]{43}`).FindString(string(out))
}
