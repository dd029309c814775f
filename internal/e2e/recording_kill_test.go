package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// forwarder is a loopback port the test holds for its whole run, which
// forwards each connection to wherever the server listens now. A server
// restarted on a port the system chose stays reachable at the address
// its agents were given, and no other process can take that address
// meanwhile (the test never lets go of it).
type forwarder struct {
	l  net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex // guards to and conns
	to    string
	conns map[net.Conn]struct{}
}

func newForwarder(t *testing.T) *forwarder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{l: l, conns: map[net.Conn]struct{}{}}
	f.wg.Go(f.accept)
	t.Cleanup(func() {
		l.Close()
		f.mu.Lock()
		for c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

// port is the forwarder's own port.
func (f *forwarder) port() string {
	_, p, _ := net.SplitHostPort(f.l.Addr().String())
	return p
}

// target sets where connections go from now on.
func (f *forwarder) target(addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.to = addr
}

func (f *forwarder) accept() {
	for {
		c, err := f.l.Accept()
		if err != nil {
			return
		}
		f.wg.Go(func() { f.forward(c) })
	}
}

// forward pipes c to the current target until either side ends.
func (f *forwarder) forward(c net.Conn) {
	f.mu.Lock()
	to := f.to
	f.mu.Unlock()
	up, err := net.Dial("tcp", to)
	if err != nil {
		c.Close() // the server is down: the client retries
		return
	}
	f.mu.Lock()
	f.conns[c], f.conns[up] = struct{}{}, struct{}{}
	f.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
	f.mu.Lock()
	delete(f.conns, c)
	delete(f.conns, up)
	f.mu.Unlock()
}

var deviceAddrRE = regexp.MustCompile(`msg="device listener" .*addr=(\S+)`)

// devicesAddr waits for the server to log where its device listener
// listens.
func (s *binServer) devicesAddr(t *testing.T) string {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := deviceAddrRE.FindStringSubmatch(s.stderr.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not log its device listener:\n%s", s.stderr.String())
		}
	}
}

type recSpan struct {
	Start, End time.Time
	Segments   int
}

func recordedSpans(t *testing.T, s *binServer, session, camera string, since time.Time) []recSpan {
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
	// Every listener on a port the system picks; the agent reaches the
	// device listener through a port the test holds across the restart.
	devices := newForwarder(t)
	args := []string{"--devices-url", "wss://localhost:" + devices.port(), "--recordings-segment", "2s"}
	s := startBinServer(t, dir, args...)
	devices.target(s.devicesAddr(t))
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
	s = startBinServer(t, dir, args...)
	devices.target(s.devicesAddr(t))
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
