package bench

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRunCluster runs the cluster bench with tiny parameters on the
// machine's PostgreSQL, NATS and versitygw, and checks that its JSON
// holds every figure with sane values: every viewer ended or got its
// frame, latencies are positive, recording cost some CPU.
func TestRunCluster(t *testing.T) {
	pg, natsURL := os.Getenv("CAMVAULT_TEST_POSTGRES"), os.Getenv("CAMVAULT_TEST_NATS")
	if pg == "" || natsURL == "" {
		t.Skip("CAMVAULT_TEST_POSTGRES and CAMVAULT_TEST_NATS are not both set; skipping the cluster bench")
	}
	vgw := os.Getenv("CAMVAULT_TEST_VERSITYGW")
	if vgw == "" {
		vgw = VersityGW()
	}
	if vgw == "" {
		t.Skip("versitygw is not installed; skipping the cluster bench")
	}
	bin := filepath.Join(t.TempDir(), "camvault")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/camvault/camvault/cmd/camvault").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	rep, err := RunCluster(context.Background(), ClusterConfig{Binary: bin, Postgres: pg, NATS: natsURL, VersityGW: vgw,
		Rounds: 2, Cameras: 1, Record: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	json.Unmarshal(b, &fields)
	for _, f := range []string{"revocation_member_removed", "revocation_session_revoked", "redirect_first_frame",
		"recording_s3", "recording_local_disk", "recording_cpu_ratio_s3_over_local", "summary"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("the JSON lacks %q:\n%s", f, b)
		}
	}
	for _, r := range []Revocation{rep.MemberRemoved, rep.SessionRevoked} {
		if r.Rounds != 2 || r.ViewersEnded != r.Rounds {
			t.Errorf("%s: %d of %d viewers ended, want 2 of 2", r.How, r.ViewersEnded, r.Rounds)
		}
		// From B's answer may be below zero (A can end the stream
		// before the answer arrives); from the request it cannot.
		if r.FromRequestP50Ms <= 0 || r.FromRequestP99Ms < r.FromRequestP50Ms || r.P99Ms < r.P50Ms || r.P50Ms > r.FromRequestP50Ms {
			t.Errorf("%s: %+v", r.How, r)
		}
	}
	if r := rep.Redirect; r.Rounds != 2 || r.FirstFrames != r.Rounds || r.P50Ms <= 0 || r.P99Ms < r.P50Ms {
		t.Errorf("redirect: %+v", r)
	}
	for _, r := range []Recording{rep.RecordingS3, rep.RecordingLocal} {
		if r.Storage == "" || r.Cameras != 1 || r.Seconds < 3 || r.ServerCPUSeconds <= 0 || r.CPUPerCameraSecond <= 0 || r.CamerasPerCore <= 0 {
			t.Errorf("recording: %+v", r)
		}
	}
	if rep.CPURatio <= 0 || len(rep.Summary) != 6 {
		t.Errorf("ratio %v, %d summary lines:\n%s", rep.CPURatio, len(rep.Summary), b)
	}
}
