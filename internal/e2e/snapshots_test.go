package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/clips"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// TestSnapshot: the owner gets the camera's picture from the device; after
// a transfer the former owner gets nothing.
func TestSnapshot(t *testing.T) {
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	dir := t.TempDir()
	ag, _ := runAgentSource(t, s, dir, "builtin:porch")
	cam := s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/claim", map[string]any{"claim_code": claimCode(t, ag), "name": "Porch"}, 201)["id"].(string)
	connected(t, ag)
	get := func() (int, []byte, string) {
		req, _ := http.NewRequest("GET", s.url+"/api/v1/cameras/"+cam+"/snapshot", nil)
		req.Header.Set("Authorization", "Bearer "+o.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, resp.Header.Get("Content-Type")
	}
	code, b, ct := get()
	if code != 200 || ct != "image/jpeg" {
		t.Fatalf("snapshot: %d %s %d bytes", code, ct, len(b))
	}
	// The picture beside the clip, signed by the device for its camera.
	_, der := agentTrust(t, dir)
	if _, err := videosig.VerifySnapshot(b, der, domain.ID(cam), 1); err != nil {
		t.Fatalf("snapshot signature: %v", err)
	}
	if !bytes.Equal(b[len(b)-1000:], clips.PorchFirstFrame[len(clips.PorchFirstFrame)-1000:]) {
		t.Fatal("the snapshot is not the picture beside the clip")
	}
	s.must(o.token, "POST", "/api/v1/cameras/"+cam+"/transfer", nil, 204)
	if code, _, _ := get(); code != 404 {
		t.Fatalf("snapshot after transfer: %d, want 404", code)
	}
}

// TestSnapshotUploadSigned: the device listener takes a snapshot from a
// device only when it is signed by that device for its camera and
// generation; an unsigned picture, one signed by another key, and one
// signed for another camera are refused, and the cache keeps the last
// good one.
func TestSnapshotUploadSigned(t *testing.T) {
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	dir := t.TempDir()
	cam, stop := claimed(t, s, o, dir, "builtin:porch", "Porch")
	stop()
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "device-key.pem"))
	certPEM, _ := os.ReadFile(filepath.Join(dir, "device-cert.pem"))
	serverJSON, _ := os.ReadFile(filepath.Join(dir, "server.json"))
	hc, deviceURL, deviceKey := deviceHTTP(t, keyPEM, certPEM, serverJSON)
	upload := func(jpeg []byte) int {
		resp, err := hc.Post(deviceURL+"/device/v1/snapshot", "image/jpeg", bytes.NewReader(jpeg))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good, _ := videosig.SignSnapshot(clips.PorchFirstFrame, deviceKey, domain.ID(cam), 1, time.Now())
	foreignKey, _ := videosig.SignSnapshot(clips.PorchFirstFrame, other, domain.ID(cam), 1, time.Now())
	foreignCam, _ := videosig.SignSnapshot(clips.PorchFirstFrame, deviceKey, domain.NewID(), 1, time.Now())
	oldGen, _ := videosig.SignSnapshot(clips.PorchFirstFrame, deviceKey, domain.ID(cam), 0, time.Now())
	if code := upload(good); code != http.StatusNoContent {
		t.Fatalf("a signed snapshot: %d", code)
	}
	for name, jpeg := range map[string][]byte{"unsigned": clips.PorchFirstFrame, "another key": foreignKey,
		"another camera": foreignCam, "another generation": oldGen} {
		if code := upload(jpeg); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, code)
		}
	}
	_, _, b := s.snapshot(o.token, cam)
	if !bytes.Equal(b, good) {
		t.Fatal("the cached snapshot is not the signed one")
	}
}
