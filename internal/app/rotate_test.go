package app

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/record/keys"
	"github.com/camvault/camvault/internal/record/recordtest"
	"github.com/camvault/camvault/internal/service"
)

// TestRotateServerKey: rotation rewraps the data keys and reseals the
// pulled camera's credentials under a new key; recordings and credentials
// read on, the old key opens nothing, and OAuth grants keep their key.
func TestRotateServerKey(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Live.PullNetworks = "192.0.2.0/24"
	key, st, err := openData(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc, ar, err := newService(cfg, key, st, nil, nil, service.DeviceConfig{}, nil, service.LiveConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := svc.CreateAccount(ctx, "ana@example.org", "tulip-Harbor-97-kettle", false)
	if err != nil {
		t.Fatal(err)
	}
	c := service.Caller{Account: owner}
	home, _ := svc.CreateHome(ctx, c, "Casa")
	source := "rtsp://admin:s3cret-pass@192.0.2.7/stream"
	cam, err := svc.AddPulledCamera(ctx, c, home.ID, service.PulledCamera{Name: "Gate", Source: source})
	if err != nil {
		t.Fatal(err)
	}
	camera, _ := st.Camera(ctx, cam.ID)
	p := recordtest.Segments(time.Now(), 4*time.Second, record.DefaultSegment)[0]
	seg, err := ar.Write(ctx, camera.Ref(), home.ID, p)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	oldKey, _ := ServerKey(cfg.DataDir)

	n, err := RotateServerKey(ctx, cfg)
	if err != nil || n != 2 {
		t.Fatalf("rotate: %d %v", n, err)
	}
	newKey, _ := ServerKey(cfg.DataDir)
	if bytes.Equal(oldKey, newKey) {
		t.Fatal("the server key did not change")
	}
	if oa, _ := OAuthKey(cfg.DataDir); !bytes.Equal(oa, oldKey) {
		t.Fatal("OAuth grants lost their key")
	}
	svc, st, err = NewService(ctx, cfg, nil, nil, service.DeviceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := svc.SegmentData(ctx, c, cam.ID, seg.ID, service.SegmentWhole); err != nil || !bytes.Equal(got, p.Data) {
		t.Fatalf("recording after rotation: %v", err)
	}
	if got, ok := svc.PullSource(ctx, camera.Ref()); !ok || got != source {
		t.Fatalf("pull source after rotation: %q %v", got, ok)
	}
	if ok, _ := keys.Unwraps(ctx, st, oldKey); ok {
		t.Fatal("the old server key still unwraps the data keys")
	}
	// A rotation cut short after its transaction is finished by the next.
	os.WriteFile(secretPath(cfg.DataDir, "server.key.new"), oldKey, 0o600)
	if _, err := ServerKey(cfg.DataDir); err == nil {
		t.Fatal("the server starts with a rotation pending")
	}
	st.Close()
	if _, err := RotateServerKey(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(secretPath(cfg.DataDir, "server.key.new")); !os.IsNotExist(err) {
		t.Fatal("the pending key is still there")
	}
}
