package e2e

import (
	"encoding/json"
	"os/exec"
	"testing"
)

// TestBenchBinary runs `camvault bench --quick` and checks that it prints
// sane figures.
func TestBenchBinary(t *testing.T) {
	out, err := exec.Command(camvaultBinary(t), "bench", "--quick", "--duration", "2s").Output()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	var res struct {
		Camvault []struct {
			Scenario        string  `json:"scenario"`
			DeliveredFrames int64   `json:"delivered_frames"`
			Loss            float64 `json:"loss"`
			CPU             float64 `json:"server_cpu_seconds_per_stream_second"`
			FirstFrameP50   float64 `json:"time_to_first_frame_p50_ms"`
		} `json:"camvault"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("bench output is not JSON: %v\n%s", err, out)
	}
	if len(res.Camvault) != 2 {
		t.Fatalf("scenarios: %s", out)
	}
	for _, r := range res.Camvault {
		if r.DeliveredFrames == 0 || r.Loss > 0.5 || r.FirstFrameP50 <= 0 {
			t.Errorf("%s: %+v", r.Scenario, r)
		}
	}
}
