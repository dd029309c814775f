package e2e

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// TestClusterPlacement: a camera's agent connected to node A is online at
// node B; a stream asked for at B is a URL at A, and plays; a snapshot
// asked for at B comes from the device through A; a recording trigger
// made at B is marked by A's recorder; and only A's recorder records the
// camera.
func TestClusterPlacement(t *testing.T) {
	env := newClusterEnv(t)
	// Both nodes run on this host: they need names of their own.
	named := func(id string) config.Config {
		c := env.node(t)
		c.Cluster.NodeID = id
		return c
	}
	a := runServer(t, named("node-a"), &syncBuffer{})
	o := a.setup("ana@example.org", "Casa")
	b := runServer(t, named("node-b"), &syncBuffer{})
	dir := t.TempDir()
	cam, _ := claimed(t, a, o, dir, "builtin:porch", "Porch")
	pool, der := agentTrust(t, dir)

	waitFor(t, "the camera online at node B", func() bool {
		_, c := b.call(o.token, "GET", "/api/v1/cameras/"+cam, nil)
		return c["online"] == true
	})

	// Viewers asking B are sent to A.
	atA := func(protocol string) string {
		u := a.must(o.token, "POST", "/api/v1/cameras/"+cam+"/streams", map[string]any{"protocol": protocol}, 201)["url"].(string)
		return u[:strings.Index(u, "/cameras/")]
	}
	for _, protocol := range []string{"webrtc", "hls", "rtsp"} {
		u := b.must(o.token, "POST", "/api/v1/cameras/"+cam+"/streams", map[string]any{"protocol": protocol}, 201)["url"].(string)
		if want := atA(protocol); !strings.HasPrefix(u, want+"/cameras/") {
			t.Fatalf("%s stream asked at B: %s, want a URL under A's %s", protocol, u[:strings.Index(u, "?")], want)
		}
	}
	if !strings.HasPrefix(atA("webrtc"), a.url) {
		t.Fatalf("A's WHEP URL %s is not under its public URL %s", atA("webrtc"), a.url)
	}
	streamURL := b.must(o.token, "POST", "/api/v1/cameras/"+cam+"/streams", map[string]any{"protocol": "rtsp"}, 201)["url"].(string)
	var got atomic.Int64
	if _, _, err := rtspViewer(t, streamURL, pool, func([][]byte) { got.Add(1) }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "frames from node A", func() bool { return got.Load() > 3 })

	// A snapshot asked for at B is the device's, signed, through A.
	req, _ := http.NewRequest("GET", b.url+"/api/v1/cameras/"+cam+"/snapshot", nil)
	req.Header.Set("Authorization", "Bearer "+o.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	jpeg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("snapshot at B: %d %s %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(jpeg))
	}
	if _, err := videosig.VerifySnapshot(jpeg, der, domain.ID(cam), 1); err != nil {
		t.Fatalf("snapshot at B: %v", err)
	}

	// A trigger made at B reaches A's recorder: the camera, recording on
	// events, keeps the time around it. (B records nothing of a camera A
	// holds, so its own recorder would refuse the trigger with a 409.)
	b.must(o.token, "PUT", "/api/v1/cameras/"+cam+"/recording", map[string]any{"mode": "events", "pre_roll_seconds": 4, "post_roll_seconds": 4}, 200)
	var trig time.Time
	waitFor(t, "node A to record the camera and take a trigger made at B", func() bool {
		trig = time.Now()
		code, out := b.call(o.token, "POST", "/api/v1/cameras/"+cam+"/events", map[string]any{"label": "doorbell"})
		if code == 202 {
			return true
		}
		if code != 409 {
			t.Fatalf("trigger at B: %d %v", code, out)
		}
		time.Sleep(200 * time.Millisecond) // A's recorder has not read the new mode yet
		return false
	})
	t.Logf("trigger at B accepted by A's recorder in %v", time.Since(trig).Round(time.Millisecond))
	window := func() string {
		return "?since=" + trig.Add(-time.Minute).UTC().Format(time.RFC3339Nano) + "&until=" + time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)
	}
	waitFor(t, "the triggered recording", func() bool {
		spans, _ := b.must(o.token, "GET", "/api/v1/cameras/"+cam+"/recordings"+window(), nil, 200)["spans"].([]any)
		if len(spans) == 0 {
			return false
		}
		sp := spans[len(spans)-1].(map[string]any)
		start, _ := time.Parse(time.RFC3339Nano, sp["start"].(string))
		end, _ := time.Parse(time.RFC3339Nano, sp["end"].(string))
		// Nothing is kept on events mode but around an event.
		return start.Before(trig.Add(4*time.Second)) && end.After(trig)
	})

	// Recording, switched on at B, happens at A only.
	b.must(o.token, "PUT", "/api/v1/cameras/"+cam+"/recording", map[string]any{"mode": "continuous"}, 200)
	since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	waitFor(t, "a recorded segment", func() bool {
		list := b.must(o.token, "GET", "/api/v1/cameras/"+cam+"/recordings?since="+since+"&until="+time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano), nil, 200)
		spans, _ := list["spans"].([]any)
		return len(spans) > 0 && spans[0].(map[string]any)["segments"].(float64) >= 1
	})
	if st := b.parts.Media.Stats(); st.Streams != 0 || st.Readers != 0 {
		t.Fatalf("node B's hub has %+v: its recorder reads a camera A holds", st)
	}
	if st := a.parts.Media.Stats(); st.Readers < 2 {
		t.Fatalf("node A's hub has %+v: want the viewer and the recorder", st)
	}
}
