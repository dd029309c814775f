package e2e

import (
	"bytes"
	"context"
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

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/blob/localfs"
	"github.com/camvault/camvault/internal/clips"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/record/keys"
	"github.com/camvault/camvault/internal/store/sqlite"
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
	for i, au := range bitstream.AccessUnits(bitstream.H264, bitstream.SplitAnnexB(clips.PorchH264)) {
		signed, err := s.Sign(au, time.Unix(1_800_000_000, 0).Add(time.Duration(i)*time.Second/15))
		if err != nil {
			t.Fatal(err)
		}
		stream = append(stream, bitstream.JoinAnnexB(signed)...)
	}
	good := filepath.Join(dir, "capture.h264")
	os.WriteFile(good, stream, 0o600)
	out, err := exec.Command(camvaultBinary(t), "verify", "--key", keyFile, good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verified: camera "+string(cam)+" generation 7, GOPs 0–3 (120 frames)") {
		t.Fatalf("intact capture: %v\n%s", err, out)
	}
	// The same video recorded: a segment (fragmented MP4) and an export
	// (progressive MP4) verify too.
	segs, mp4 := recordStream(t, stream)
	for name, b := range map[string][]byte{"segment.mp4": segs[0].Data, "export.mp4": mp4} {
		f := filepath.Join(dir, name)
		os.WriteFile(f, b, 0o600)
		out, err := exec.Command(camvaultBinary(t), "verify", "--key", keyFile, f).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "verified: camera "+string(cam)+" generation 7") || strings.Contains(string(out), "PROBLEM") {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
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

// recordStream records an Annex-B stream as the server does and exports
// it.
func recordStream(t *testing.T, stream []byte) ([]*record.Plain, []byte) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "camvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	blobs, _ := localfs.Open(t.TempDir())
	ring, _ := keys.New(st, bytes.Repeat([]byte{3}, 32))
	ar := record.NewArchive(blobs, st, ring, nil)
	aus := bitstream.AccessUnits(bitstream.H264, bitstream.SplitAnnexB(stream))
	tr := media.Track{Codec: bitstream.H264}
	_, tr.SPS, tr.PPS = bitstream.ParamSets(tr.Codec, aus[0])
	seg := record.Segmenter{}
	var plains []*record.Plain
	for i, au := range aus {
		p, err := seg.Push(tr, &media.AccessUnit{PTS: time.Duration(i) * time.Second / 15, Key: bitstream.HasKey(tr.Codec, au), NALUs: au})
		if err != nil {
			t.Fatal(err)
		}
		if p != nil {
			plains = append(plains, p)
		}
	}
	if p, _ := seg.Flush(); p != nil {
		plains = append(plains, p)
	}
	ref, home := domain.CameraRef{Camera: domain.NewID(), Generation: 1}, domain.NewID()
	var stored []domain.Segment
	for _, p := range plains {
		s, err := ar.Write(ctx, ref, home, p)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, s)
	}
	// The owner's grant, from the policy, as the service would get it.
	owner := domain.NewID()
	camera := domain.Camera{ID: ref.Camera, HomeID: home, Generation: ref.Generation, State: domain.CameraStateActive}
	g, d := authz.Authorize(authz.Principal{Account: owner}, domain.ActionExport, authz.Resource{Home: home, Camera: &camera},
		authz.Facts{Now: time.Now(), Membership: &domain.Membership{HomeID: home, AccountID: owner, Role: domain.RoleOwner}})
	if !d.Allowed {
		t.Fatalf("export refused: %+v", d)
	}
	var out bytes.Buffer
	if err := ar.Export(ctx, g, stored, &out, nil); err != nil {
		t.Fatal(err)
	}
	return plains, out.Bytes()
}
