package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/clips"
	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// raw fetches path with the bearer token and returns the status and body.
func (s *server) raw(token, path string) (int, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// recordedSegment fetches a recorded segment of cam through the playlist's
// init and media URIs and parses it; it returns the parts and the media
// segment's bytes.
func (s *server) recordedSegment(token, cam, init, media string) (fmp4.Parts, []byte) {
	s.t.Helper()
	base := "/api/v1/cameras/" + cam + "/recordings/"
	c1, ib := s.raw(token, base+init)
	c2, mb := s.raw(token, base+media)
	if c1 != 200 || c2 != 200 {
		s.t.Fatalf("segment %s: %d %d", media, c1, c2)
	}
	var in fmp4.Init
	if err := in.Unmarshal(bytes.NewReader(ib)); err != nil {
		s.t.Fatal(err)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(mb); err != nil {
		s.t.Fatal(err)
	}
	return parts, mb
}

func mediaWall(t uint64) time.Time { return time.UnixMicro(int64(t * 100 / 9)).UTC() }

// TestRecordingEndToEnd: a camera (a real agent over the porch clip)
// records continuously for a minute. Playback of a chosen minute through
// the HLS VOD playlist returns fMP4 whose SEI signatures verify as that
// camera's and whose timestamps cover the request; an export of 30 s is
// one playable MP4 (ffprobe, when installed) that verifies too; nothing
// on disk holds the clip's plaintext; a tampered segment is refused; a
// stranger sees nothing.
func TestRecordingEndToEnd(t *testing.T) {
	secs := time.Duration(envInt("CAMVAULT_TEST_RECORD_SECONDS", 60)) * time.Second
	s := startServer(t, func(c *config.Config) { c.Recordings.CleanInterval = config.Duration(time.Second) })
	o := s.setup("ana@example.org", "Casa")
	dir := t.TempDir()
	cam, _ := claimed(t, s, o, dir, "builtin:porch", "Porch")
	_, der := agentTrust(t, dir)
	settings := s.must(o.token, "PUT", "/api/v1/cameras/"+cam+"/recording", map[string]any{"mode": "continuous"}, 200)
	if settings["recording"] != true {
		t.Fatalf("settings: %v", settings)
	}
	t0 := time.Now()
	time.Sleep(secs + 12*time.Second)

	q := func(since, until time.Time) string {
		return "?since=" + since.UTC().Format(time.RFC3339Nano) + "&until=" + until.UTC().Format(time.RFC3339Nano)
	}
	list := s.must(o.token, "GET", "/api/v1/cameras/"+cam+"/recordings"+q(t0.Add(-time.Minute), time.Now()), nil, 200)
	spans := list["spans"].([]any)
	if len(spans) != 1 {
		t.Fatalf("continuous recording made %d spans: %v", len(spans), list)
	}
	sp := spans[0].(map[string]any)
	spStart, _ := time.Parse(time.RFC3339Nano, sp["start"].(string))
	spEnd, _ := time.Parse(time.RFC3339Nano, sp["end"].(string))
	if spEnd.Sub(spStart) < secs {
		t.Fatalf("recorded %s, want at least %s", spEnd.Sub(spStart), secs)
	}
	t.Logf("recorded %s in %d segments, first frame %s after recording was turned on", spEnd.Sub(spStart).Round(time.Millisecond), int(sp["segments"].(float64)), spStart.Sub(t0).Round(time.Millisecond))

	// Play the last full minute.
	until := spEnd.Add(-time.Second)
	since := until.Add(-secs)
	code, pl := s.raw(o.token, "/api/v1/cameras/"+cam+"/recordings/playlist.m3u8"+q(since, until))
	if code != 200 || !bytes.HasPrefix(pl, []byte("#EXTM3U")) || !bytes.Contains(pl, []byte("#EXT-X-ENDLIST")) {
		t.Fatalf("playlist: %d %s", code, pl)
	}
	v, _ := videosig.NewVerifier(bitstream.H264, der, domain.ID(cam), 1)
	var first, last time.Time
	var segs []string
	var init, media string
	sc := bufio.NewScanner(bytes.NewReader(pl))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#EXT-X-MAP:URI="):
			init = strings.Trim(strings.TrimPrefix(line, "#EXT-X-MAP:URI="), `"`)
		case line != "" && !strings.HasPrefix(line, "#"):
			media = line
			segs = append(segs, media)
			parts, _ := s.recordedSegment(o.token, cam, init, media)
			for _, p := range parts {
				tr := p.Tracks[0]
				start := mediaWall(tr.BaseTime)
				var d uint64
				for _, smp := range tr.Samples {
					nalus, err := smp.GetH264()
					if err != nil {
						t.Fatal(err)
					}
					if _, err := v.Push(nalus); err != nil {
						t.Fatalf("segment %s does not verify: %v", media, err)
					}
					d += uint64(smp.Duration)
				}
				if first.IsZero() {
					first = start
				}
				last = mediaWall(tr.BaseTime + d)
			}
		}
	}
	if first.After(since) || last.Before(until.Add(-time.Second)) {
		t.Fatalf("playback covers %s to %s; asked %s to %s", first, last, since, until)
	}
	if v.Verified() < int(secs/(2*time.Second))-2 {
		t.Fatalf("only %d GOPs verified in %s", v.Verified(), secs)
	}
	t.Logf("played %s to %s in %d segments: %d GOPs verified as camera %s", first.Format(time.TimeOnly), last.Format(time.TimeOnly), len(segs), v.Verified(), cam)

	// Export 30 s.
	xlen := min(30*time.Second, secs)
	x := s.must(o.token, "POST", "/api/v1/cameras/"+cam+"/exports", map[string]any{"since": until.Add(-xlen), "until": until}, 202)
	xid := x["id"].(string)
	var download string
	for deadline := time.Now().Add(30 * time.Second); download == ""; time.Sleep(50 * time.Millisecond) {
		st := s.must(o.token, "GET", "/api/v1/cameras/"+cam+"/exports/"+xid, nil, 200)
		if _, ok := st["progress"].(float64); !ok {
			t.Fatalf("export status has no progress: %v", st)
		}
		if st["status"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("export: %v", st)
		}
		if u, ok := st["download_url"].(string); ok {
			download = u
		}
	}
	code, mp4 := s.raw(o.token, download)
	if code != 200 {
		t.Fatalf("download: %d", code)
	}
	if code, _ := s.raw(o.token, strings.Replace(download, "token=", "token=x", 1)); code != 404 {
		t.Fatalf("download with a wrong token: %d", code)
	}
	var p pmp4.Presentation
	if err := p.Unmarshal(bytes.NewReader(mp4)); err != nil {
		t.Fatalf("export is not an MP4: %v", err)
	}
	xv, _ := videosig.NewVerifier(bitstream.H264, der, domain.ID(cam), 1)
	var xd uint64
	for _, smp := range p.Tracks[0].Samples {
		payload, err := smp.GetPayload()
		if err != nil {
			t.Fatal(err)
		}
		var nalus [][]byte
		for len(payload) >= 4 {
			n := int(payload[0])<<24 | int(payload[1])<<16 | int(payload[2])<<8 | int(payload[3])
			if n > len(payload)-4 {
				t.Fatal("malformed sample in the export")
			}
			nalus = append(nalus, payload[4:4+n])
			payload = payload[4+n:]
		}
		if _, err := xv.Push(nalus); err != nil {
			t.Fatalf("export does not verify: %v", err)
		}
		xd += uint64(smp.Duration)
	}
	xdur := time.Duration(xd) * time.Second / 90000
	if xdur < xlen || xdur > xlen+10*time.Second {
		t.Fatalf("the %s export lasts %s", xlen, xdur)
	}
	t.Logf("export: %d bytes, %s, %d GOPs verified", len(mp4), xdur.Round(time.Millisecond), xv.Verified())
	if _, err := exec.LookPath("ffprobe"); err == nil {
		f := filepath.Join(t.TempDir(), "export.mp4")
		os.WriteFile(f, mp4, 0o600)
		out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name,width,height",
			"-of", "default=nw=1", f).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "codec_name=h264") || !strings.Contains(string(out), "width=640") {
			t.Fatalf("ffprobe: %s %v", out, err)
		}
		t.Logf("ffprobe: %s", strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", " "))
	} else {
		t.Log("ffprobe not installed: export checked by parsing only")
	}

	// Nothing on the server's disk holds the clip's keyframe bytes.
	var needle []byte
	for _, n := range bitstream.SplitAnnexB(clips.PorchH264) {
		if bitstream.IsKey(bitstream.H264, n) && len(n) > 300 {
			needle = n[200:264]
			break
		}
	}
	if !bytes.Contains(mp4, needle) {
		t.Fatal("the needle is not in the exported video: the search would prove nothing")
	}
	files := 0
	filepath.Walk(s.parts.DataDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		files++
		if b, _ := os.ReadFile(path); bytes.Contains(b, needle) {
			t.Errorf("%s holds plaintext video", path)
		}
		return nil
	})
	t.Logf("searched %d files of the data dir for plaintext keyframe bytes", files)

	// A tampered segment is refused on playback.
	seg := strings.Split(segs[len(segs)/2], "/")[1]
	var victim string
	filepath.Walk(filepath.Join(s.parts.DataDir, "recordings"), func(path string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(path, seg) {
			victim = path
		}
		return nil
	})
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatalf("segment file: %v", err)
	}
	b[len(b)-200] ^= 1
	os.WriteFile(victim, b, 0o600)
	if code, body := s.raw(o.token, "/api/v1/cameras/"+cam+"/recordings/segments/"+seg+"/media.m4s"); code != 409 || !bytes.Contains(body, []byte("tampered")) {
		t.Fatalf("tampered segment: %d %s", code, body)
	}

	// A stranger sees nothing.
	other := s.signup("eve@example.org", "Eve's")
	if code, _ := s.call(other.token, "GET", "/api/v1/cameras/"+cam+"/recordings"+q(since, until), nil); code != 404 {
		t.Fatalf("stranger's listing: %d", code)
	}
	if code, _ := s.raw(other.token, "/api/v1/cameras/"+cam+"/recordings/"+segs[0]); code != 404 {
		t.Fatalf("stranger's segment: %d", code)
	}
}

// TestEventRecording: a camera recording on events keeps nothing while
// nothing happens; motion the agent reports (its detector, or a sensor
// through Agent.Motion) keeps the pre-roll before it and the post-roll
// after it, and a trigger through the API does the same.
func TestEventRecording(t *testing.T) {
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	ag, _ := runAgentSource(t, s, t.TempDir(), "builtin:porch")
	cam := s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/claim", map[string]any{"claim_code": claimCode(t, ag), "name": "Porch"}, 201)["id"].(string)
	connected(t, ag)
	s.must(o.token, "PUT", "/api/v1/cameras/"+cam+"/recording", map[string]any{"mode": "events", "pre_roll_seconds": 4, "post_roll_seconds": 4}, 200)
	t0 := time.Now()
	spans := func() []any {
		q := "?since=" + t0.Add(-time.Minute).UTC().Format(time.RFC3339Nano) + "&until=" + time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)
		return s.must(o.token, "GET", "/api/v1/cameras/"+cam+"/recordings"+q, nil, 200)["spans"].([]any)
	}
	waitFor(t, "the camera to stream to the recorder", func() bool { return ag.Status().Streaming })
	time.Sleep(8 * time.Second)
	if n := len(spans()); n != 0 {
		t.Fatalf("%d spans recorded before any event", n)
	}
	motion := time.Now()
	if !ag.Motion(motion, 60) {
		t.Fatal("motion report not queued")
	}
	var got []any
	waitFor(t, "the event's recording", func() bool {
		got = spans()
		if len(got) == 0 {
			return false
		}
		end, _ := time.Parse(time.RFC3339Nano, got[0].(map[string]any)["end"].(string))
		return end.After(motion.Add(4 * time.Second))
	})
	sp := got[0].(map[string]any)
	start, _ := time.Parse(time.RFC3339Nano, sp["start"].(string))
	end, _ := time.Parse(time.RFC3339Nano, sp["end"].(string))
	if start.After(motion.Add(-4*time.Second)) || start.Before(motion.Add(-12*time.Second)) || end.Sub(start) > 20*time.Second {
		t.Fatalf("kept %s to %s around motion at %s", start, end, motion)
	}
	t.Logf("motion: kept %s before and %s after", motion.Sub(start).Round(time.Millisecond), end.Sub(motion).Round(time.Millisecond))
	// A trigger through the API.
	time.Sleep(12 * time.Second)
	trig := time.Now()
	s.must(o.token, "POST", "/api/v1/cameras/"+cam+"/events", map[string]any{"label": "doorbell"}, 202)
	waitFor(t, "the triggered recording", func() bool { return len(spans()) == 2 })
	sp = spans()[1].(map[string]any)
	start, _ = time.Parse(time.RFC3339Nano, sp["start"].(string))
	if start.After(trig.Add(-4 * time.Second)) {
		t.Fatalf("the trigger's recording starts at %s, after its pre-roll (trigger %s)", start, trig)
	}
}
