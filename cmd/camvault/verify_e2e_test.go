package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/clips"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// TestVerifyBinary signs the built-in clip, then checks it with
// `camvault verify`, intact and tampered.
func TestVerifyBinary(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "camera.pub.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	cam := domain.NewID()
	s := videosig.NewSigner(videosig.H264, key, cam, 7)
	var stream []byte
	for i, au := range videosig.AccessUnits(videosig.H264, videosig.SplitAnnexB(clips.PorchH264)) {
		signed, err := s.Sign(au, time.Unix(1_800_000_000, 0).Add(time.Duration(i)*time.Second/15))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range signed {
			stream = append(stream, 0, 0, 0, 1)
			stream = append(stream, n...)
		}
	}
	good := filepath.Join(dir, "capture.h264")
	os.WriteFile(good, stream, 0o600)
	out, err := exec.Command(camvaultBinary(t), "verify", "--key", keyFile, good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verified: camera "+string(cam)+" generation 7, GOPs 0–3 (120 frames)") {
		t.Fatalf("intact capture: %v\n%s", err, out)
	}
	bad := filepath.Join(dir, "tampered.h264")
	tampered := append([]byte(nil), stream...)
	tampered[len(tampered)/2] ^= 0x40
	os.WriteFile(bad, tampered, 0o600)
	out, err = exec.Command(camvaultBinary(t), "verify", "--key", keyFile, bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "PROBLEM") {
		t.Fatalf("tampered capture: %v\n%s", err, out)
	}
}
