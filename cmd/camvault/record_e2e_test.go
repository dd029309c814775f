package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type recSpan struct {
	Start, End time.Time
	Segments   int
}

func recordedSpans(t *testing.T, s *server, session, camera string, since time.Time) []recSpan {
	t.Helper()
	q := "?since=" + since.UTC().Format(time.RFC3339Nano) + "&until=" + time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)
	code, body := getJSON(t, s.url+"/api/v1/cameras/"+camera+"/recordings"+q, session)
	if code != http.StatusOK {
		t.Fatalf("recordings: %d %v", code, body)
	}
	b, _ := json.Marshal(body["spans"])
	var spans []recSpan
	json.Unmarshal(b, &spans)
	return spans
}

// TestRecordingSurvivesKill: the server is killed with SIGKILL while a
// camera records. After the restart the index and the files agree
// (checked by `camvault admin recordings check`), nothing that was
// indexed before the kill is lost, at most the segment being written is,
// and recording resumes on its own.
func TestRecordingSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	ports := []string{"--listen", freePort(t), "--devices-listen", freePort(t), "--devices-ingest-listen", freePort(t),
		"--live-rtsp-listen", freePort(t), "--recordings-segment", "2s"}
	s := startServer(t, dir, ports...)
	session, camera := ownerCamera(t, s, "builtin:porch", "Porch")
	if code, body := send(t, "PUT", s.url+"/api/v1/cameras/"+camera+"/recording", map[string]any{"mode": "continuous"}, session); code != 200 {
		t.Fatalf("recording on: %d %v", code, body)
	}
	t0 := time.Now()
	time.Sleep(9 * time.Second)
	before := recordedSpans(t, s, session, camera, t0.Add(-time.Minute))
	if len(before) != 1 || before[0].Segments < 3 {
		t.Fatalf("before the kill: %+v", before)
	}
	killed := time.Now()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
	lagged := killed.Sub(before[0].End)
	t.Logf("killed %s after the last indexed segment ended (%d segments indexed)", lagged.Round(time.Millisecond), before[0].Segments)

	// The files and the index, as the kill left them: at most one
	// segment stored but not indexed (an orphan), nothing indexed without
	// its file.
	out, _ := exec.Command(camvaultBinary(t), "admin", "recordings", "check", "--data-dir", dir).Output()
	var check struct {
		Orphans  int `json:"orphan_files"`
		Missing  int `json:"missing_files"`
		Damaged  int `json:"damaged"`
		Segments int `json:"segments"`
	}
	if err := json.Unmarshal(out, &check); err != nil {
		t.Fatalf("check: %s %v", out, err)
	}
	if check.Missing != 0 || check.Damaged != 0 || check.Orphans > 1 || check.Segments < before[0].Segments {
		t.Fatalf("after SIGKILL: %s", out)
	}
	t.Logf("after SIGKILL: %s", strings.TrimSpace(string(out)))

	restarted := time.Now()
	s = startServer(t, dir, ports...)
	var after []recSpan
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		after = recordedSpans(t, s, session, camera, t0.Add(-time.Minute))
		if n := len(after); n >= 2 && after[n-1].End.After(restarted.Add(4*time.Second)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recording did not resume after the restart: %+v\n%s", after, s.stderr.String())
		}
	}
	// Nothing indexed before the kill went; at most the segment in
	// progress (2 s, cut at the next keyframe 2 s apart) did.
	first := after[0]
	if first.Start != before[0].Start || first.End.Before(before[0].End) || first.Segments < before[0].Segments {
		t.Fatalf("recording before the kill changed: before %+v, after %+v", before[0], first)
	}
	if lost := killed.Sub(first.End); lost > 2*2*time.Second+3*time.Second {
		t.Fatalf("%s before the kill were lost, more than the segment being written", lost)
	}
	t.Logf("resumed %s after the restart; lost %s at the kill", after[len(after)-1].Start.Sub(restarted).Round(time.Millisecond), killed.Sub(first.End).Round(time.Millisecond))

	// A clean stop, then the check passes with nothing to repair.
	s.stop(t)
	out, err := exec.Command(camvaultBinary(t), "admin", "recordings", "check", "--data-dir", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"ok":true`) {
		t.Fatalf("check after the restart: %v %s", err, out)
	}
}
