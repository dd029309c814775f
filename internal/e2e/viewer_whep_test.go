package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/camvault/camvault/internal/displaysim"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// whepViewer plays a WHEP URL with a pion client and hands each access
// unit (as NAL units) to onAU. It returns the peer connection and the
// offer's HTTP status.
func whepViewer(t *testing.T, url string, onAU func([][]byte)) (*webrtc.PeerConnection, int) {
	t.Helper()
	pc, err := displaysim.DialWHEP(context.Background(), url, onAU)
	var we *displaysim.WHEPError
	switch {
	case errors.As(err, &we):
		return nil, we.Status
	case err != nil:
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc, http.StatusCreated
}

// TestWHEPViewer: a WebRTC (WHEP) viewer receives the camera's video; every
// GOP verifies against the device key and names the camera; the credential
// works once; a transfer ends the stream.
func TestWHEPViewer(t *testing.T) {
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	dir := t.TempDir()
	cam, _ := claimed(t, s, o, dir, "builtin:porch", "Porch")
	_, der := agentTrust(t, dir)

	url := s.must(o.token, "POST", "/api/v1/cameras/"+cam+"/streams", map[string]any{"protocol": "webrtc"}, 201)["url"].(string)
	if !strings.Contains(url, "/whep/cameras/"+cam+"?token=cvl_") {
		t.Fatalf("WHEP URL %s", url)
	}
	v, _ := videosig.NewVerifier(videosig.H264, der, domain.ID(cam), 1)
	var mu sync.Mutex
	var verr error
	frames := 0
	pc, code := whepViewer(t, url, func(au [][]byte) {
		mu.Lock()
		defer mu.Unlock()
		frames++
		if verr == nil {
			_, verr = v.Push(au)
		}
	})
	if code != http.StatusCreated {
		t.Fatalf("WHEP offer: %d\n%s", code, s.logs.String())
	}
	waitFor(t, "3 verified GOPs over WebRTC", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if verr != nil {
			t.Fatalf("received video does not verify: %v", verr)
		}
		return v.Verified() >= 3
	})
	mu.Lock()
	t.Logf("WHEP viewer: %d frames, %d GOPs verified", frames, v.Verified())
	mu.Unlock()

	if _, code := whepViewer(t, url, func([][]byte) {}); code != http.StatusUnauthorized {
		t.Fatalf("second use of the credential: %d, want 401", code)
	}

	closed := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateClosed || st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateDisconnected {
			once.Do(func() { close(closed) })
		}
	})
	at := time.Now()
	s.must(o.token, "POST", "/api/v1/cameras/"+cam+"/transfer", nil, 204)
	// Frames stop at once; the peer notices the closed connection a
	// little later (ICE consent), so measure the frames.
	mu.Lock()
	n := frames
	mu.Unlock()
	time.Sleep(time.Second)
	mu.Lock()
	after := frames - n
	mu.Unlock()
	if after > 2 {
		t.Fatalf("%d frames arrived in the second after the transfer", after)
	}
	select {
	case <-closed:
		t.Logf("peer connection ended %v after the transfer", time.Since(at).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatal("the WebRTC session did not end after the transfer")
	}
}
