package videosig

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

func snapshotFixture(t testing.TB) ([]byte, *ecdsa.PrivateKey, []byte) {
	jpeg, err := os.ReadFile("../clips/porch-640x360-first-frame.jpg")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	return jpeg, key, der
}

// TestSnapshotSignature: a signed snapshot verifies for its camera and
// generation only, and any change to the picture or claim is caught.
func TestSnapshotSignature(t *testing.T) {
	jpeg, key, der := snapshotFixture(t)
	cam := domain.NewID()
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	signed, err := SignSnapshot(jpeg, key, cam, 3, at)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(signed, []byte{0xff, 0xd8, 0xff, 0xfe}) || len(signed) <= len(jpeg) {
		t.Fatal("no comment segment after SOI")
	}
	c, err := VerifySnapshot(signed, der, cam, 3)
	if err != nil || c.Camera != cam || !c.Capture.Equal(at) {
		t.Fatalf("verify: %+v %v", c, err)
	}
	// Re-signing replaces the segment rather than stacking another.
	again, _ := SignSnapshot(signed, key, cam, 4, at)
	if plain, _, err := splitSnapshot(again); err != nil || !bytes.Equal(plain, jpeg) {
		t.Fatalf("re-signing stacked segments: %v", err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherDER, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	tampered := bytes.Clone(signed)
	tampered[len(tampered)-10] ^= 1
	for name, tc := range map[string]struct {
		jpeg []byte
		der  []byte
		cam  domain.ID
		gen  int64
		want error
	}{
		"other camera":     {signed, der, domain.NewID(), 3, ErrSnapshotMismatch},
		"other generation": {signed, der, cam, 4, ErrSnapshotMismatch},
		"other key":        {signed, otherDER, cam, 3, ErrSnapshotMismatch},
		"altered picture":  {tampered, der, cam, 3, ErrSnapshotMismatch},
		"unsigned":         {jpeg, der, cam, 3, ErrUnsignedSnapshot},
		"not a JPEG":       {[]byte("GIF89a"), der, cam, 3, ErrNotJPEG},
	} {
		if _, err := VerifySnapshot(tc.jpeg, tc.der, tc.cam, tc.gen); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

// FuzzVerifySnapshot: any bytes are refused or verified, never a panic,
// and only the signed picture verifies.
func FuzzVerifySnapshot(f *testing.F) {
	jpeg, key, der := snapshotFixture(f)
	cam := domain.NewID()
	signed, _ := SignSnapshot(jpeg[:2000], key, cam, 1, time.Unix(1, 0))
	f.Add(signed)
	f.Add(jpeg[:200])
	f.Add([]byte{0xff, 0xd8, 0xff, 0xfe, 0x00, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := VerifySnapshot(b, der, cam, 1); err == nil && !bytes.Equal(b, signed) {
			// Only a byte-identical picture and claim can verify
			// (ECDSA signatures are not malleable past DER checks).
			plain, _, _ := splitSnapshot(b)
			want, _, _ := splitSnapshot(signed)
			if !bytes.Equal(plain, want) {
				t.Fatalf("a different picture verified")
			}
		}
		ParseSnapshot(b)
	})
}
