package agent_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

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
