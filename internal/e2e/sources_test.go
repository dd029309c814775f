package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/videosig"
)

// watchAndVerify opens the camera live as the owner and checks that n GOPs
// arrive and verify against the agent's key.
func watchAndVerify(t *testing.T, s *server, o owner, dir, cam string, gops int) {
	t.Helper()
	_, der := agentTrust(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	caller, _ := s.parts.Service.Authenticate(ctx, o.token, "127.0.0.1", "t")
	r, err := s.openLive(ctx, caller, domain.ID(cam))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	v, _ := videosig.NewVerifier(bitstream.H264, der, domain.ID(cam), 1)
	for v.Verified() < gops {
		au, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v\n%s", err, s.logs.String())
		}
		if _, err := v.Push(au.NALUs); err != nil {
			t.Fatalf("does not verify: %v", err)
		}
	}
}

// TestMP4Source: an agent loops an MP4 file.
func TestMP4Source(t *testing.T) {
	aus, sps, pps := porch()
	tr := &pmp4.Track{ID: 1, TimeScale: 90000, Codec: &mp4.CodecH264{SPS: sps, PPS: pps}}
	for _, au := range aus {
		var slices [][]byte
		key := false
		for _, n := range au {
			switch n[0] & 0x1f {
			case 7, 8:
				continue
			case 5:
				key = true
			}
			slices = append(slices, n)
		}
		payload, err := h264.AVCC(slices).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		tr.Samples = append(tr.Samples, &pmp4.Sample{Duration: 6000, IsNonSyncSample: !key, PayloadSize: uint32(len(payload)),
			GetPayload: func() ([]byte, error) { return payload, nil }})
	}
	var buf bytes.Buffer
	if err := (&pmp4.Presentation{Tracks: []*pmp4.Track{tr}}).Marshal(&buf); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "porch.mp4")
	os.WriteFile(file, buf.Bytes(), 0o600)

	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	dir := t.TempDir()
	cam, _ := claimed(t, s, o, dir, "file:"+file, "MP4")
	watchAndVerify(t, s, o, dir, cam, 2)
}

// TestRTSPSource: an agent relays a LAN camera's RTSP stream (with
// credentials in the URL), signing it.
func TestRTSPSource(t *testing.T) {
	addr := startLANCamera(t)
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	dir := t.TempDir()
	cam, _ := claimed(t, s, o, dir, "rtsp://viewer:s3cret@"+addr+"/cam", "LAN")
	watchAndVerify(t, s, o, dir, cam, 2)
	if bytes.Contains([]byte(s.logs.String()), []byte("s3cret")) {
		t.Fatal("the camera's password appears in a log")
	}
}

// TestPulledCamera: a home adds an IP camera the server pulls itself; the
// owner watches it (unsigned); its password never comes back or reaches a
// log; removing it ends the stream.
func TestPulledCamera(t *testing.T) {
	addr := startLANCamera(t)
	s := startServer(t, func(c *config.Config) { c.Live.PullNetworks = "127.0.0.0/8" }) // the simulated LAN is loopback
	o := s.setup("ana@example.org", "Casa")
	cam := s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/pull", map[string]any{"name": "Old IP cam", "source": "rtsp://admin:pa55word-x@" + addr + "/cam"}, 201)
	if cam["pulled"] != true || cam["signed"] != false {
		t.Fatalf("pulled camera: %v", cam)
	}
	id := cam["id"].(string)
	for _, path := range []string{"/api/v1/cameras/" + id, "/api/v1/homes/" + o.home + "/cameras", "/api/v1/homes/" + o.home + "/audit"} {
		req, _ := http.NewRequest("GET", s.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+o.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(b, []byte("pa55word")) {
			t.Fatalf("%s returns the camera's password", path)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	caller, _ := s.parts.Service.Authenticate(ctx, o.token, "127.0.0.1", "t")
	r, err := s.openLive(ctx, caller, domain.ID(id))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for n := 0; n < 45; n++ {
		au, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("after %d frames: %v\n%s", n, err, s.logs.String())
		}
		if string(au.Origin.Camera) != id {
			t.Fatalf("frame of %v", au.Origin)
		}
	}
	s.must(o.token, "DELETE", "/api/v1/cameras/"+id, nil, 204)
	for {
		if _, err := r.Read(ctx); err != nil {
			if !errors.Is(err, media.ErrRevoked) {
				t.Fatalf("after removal: %v", err)
			}
			break
		}
	}
	if bytes.Contains([]byte(s.logs.String()), []byte("pa55word")) {
		t.Fatal("the camera's password reached a log")
	}
}
