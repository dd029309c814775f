package agent_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/camvault/camvault/internal/clips"
)

// TestSnapshot: the owner gets the camera's picture from the device; after
// a transfer the former owner gets nothing.
func TestSnapshot(t *testing.T) {
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	ag, _ := runAgentSource(t, s, t.TempDir(), "builtin:porch")
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
	if code != 200 || ct != "image/jpeg" || !bytes.Equal(b, clips.PorchFirstFrame) {
		t.Fatalf("snapshot: %d %s %d bytes", code, ct, len(b))
	}
	s.must(o.token, "POST", "/api/v1/cameras/"+cam+"/transfer", nil, 204)
	if code, _, _ := get(); code != 404 {
		t.Fatalf("snapshot after transfer: %d, want 404", code)
	}
}
