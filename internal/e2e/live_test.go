package e2e

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/videosig"
)

// TestLiveStream: a real agent pushes the built-in clip over RTSPS when a
// viewer opens the camera; the viewer's reader gets frames of exactly
// that camera and generation, every GOP's signature verifies against the
// device key, and a transfer ends the stream within a second.
func TestLiveStream(t *testing.T) {
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	dir := t.TempDir()
	cam, _ := claimed(t, s, o, dir, "builtin:porch", "Porch")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	caller, err := s.parts.Service.Authenticate(ctx, o.token, "127.0.0.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.openLive(ctx, caller, domain.ID(cam))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	keyPEM, _ := os.ReadFile(filepath.Join(dir, "device-key.pem"))
	blk, _ := pem.Decode(keyPEM)
	k, _ := x509.ParsePKCS8PrivateKey(blk.Bytes)
	der, _ := x509.MarshalPKIXPublicKey(k.(crypto.Signer).Public())
	v, err := videosig.NewVerifier(videosig.H264, der, domain.ID(cam), 1)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	frames := 0
	var first time.Duration
	for v.Verified() < 3 {
		au, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("after %d frames: %v\n%s", frames, err, s.logs.String())
		}
		if frames == 0 {
			first = time.Since(start)
			if !au.Key {
				t.Fatal("the first frame is not a keyframe")
			}
		}
		if au.Origin != (domain.CameraRef{Camera: domain.ID(cam), Generation: 1}) {
			t.Fatalf("frame of %+v", au.Origin)
		}
		if _, err := v.Push(au.NALUs); err != nil {
			t.Fatalf("frame %d does not verify: %v", frames, err)
		}
		frames++
	}
	t.Logf("first frame after %v; %d frames, %d GOPs verified", first.Round(time.Millisecond), frames, v.Verified())

	// A transfer ends the stream at once.
	at := time.Now()
	s.must(o.token, "POST", "/api/v1/cameras/"+cam+"/transfer", nil, 204)
	for {
		_, err := r.Read(ctx)
		if errors.Is(err, media.ErrRevoked) {
			break
		}
		if err != nil {
			t.Fatalf("after transfer: %v", err)
		}
	}
	t.Logf("stream ended %v after the transfer", time.Since(at).Round(time.Millisecond))
}
