package videosig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/clips"
	"github.com/camvault/camvault/internal/domain"
)

var cam = domain.ID("camaaaaaaaaaaaaaaaaaaaaaaa")

type clip struct {
	name  string
	codec Codec
	data  []byte
}

var testClips = []clip{{"porch h264", H264, clips.PorchH264}, {"garden h265", H265, clips.GardenH265}}

// signClip signs a clip's access units as camera at generation.
func signClip(t testing.TB, c clip, key *ecdsa.PrivateKey, gen int64) [][][]byte {
	t.Helper()
	s := NewSigner(c.codec, key, cam, gen)
	start := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	var out [][][]byte
	for i, au := range bitstream.AccessUnits(c.codec, bitstream.SplitAnnexB(c.data)) {
		signed, err := s.Sign(au, start.Add(time.Duration(i)*time.Second/15))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, signed)
	}
	return out
}

func verifyAll(c clip, der []byte, gen int64, aus [][][]byte) (int, error) {
	v, err := NewVerifier(c.codec, der, cam, gen)
	if err != nil {
		return 0, err
	}
	for _, au := range aus {
		if _, err := v.Push(au); err != nil {
			return v.Verified(), err
		}
	}
	return v.Verified(), nil
}

func TestSignAndVerifyClips(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	for _, c := range testClips {
		t.Run(c.name, func(t *testing.T) {
			aus := bitstream.AccessUnits(c.codec, bitstream.SplitAnnexB(c.data))
			if len(aus) != 150 {
				t.Fatalf("%d access units, want 150 (10 s at 15 fps)", len(aus))
			}
			signed := signClip(t, c, key, 3)
			n, err := verifyAll(c, der, 3, signed)
			// 5 GOPs; the last is signed only when a next GOP starts.
			if err != nil || n != 4 {
				t.Fatalf("verified %d GOPs, err %v; want 4", n, err)
			}
			// A verifier that joins mid-stream verifies from its first
			// full GOP on.
			if n, err := verifyAll(c, der, 3, signed[40:]); err != nil || n != 2 {
				t.Fatalf("mid-stream: verified %d, err %v; want 2", n, err)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherDER, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	c := testClips[0]
	signed := signClip(t, c, key, 3)
	clone := func() [][][]byte {
		out := make([][][]byte, len(signed))
		for i, au := range signed {
			out[i] = make([][]byte, len(au))
			for j, n := range au {
				out[i][j] = append([]byte(nil), n...)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		der  []byte
		gen  int64
		edit func([][][]byte) [][][]byte
		want error
	}{
		{"another key", otherDER, 3, nil, ErrSignature},
		{"another generation", der, 4, nil, ErrCamera},
		{"a flipped bit in a frame", der, 3, func(a [][][]byte) [][][]byte {
			a[10][len(a[10])-1][100] ^= 1
			return a
		}, ErrHash},
		{"a dropped frame", der, 3, func(a [][][]byte) [][][]byte { return append(a[:12:12], a[13:]...) }, ErrHash},
		{"a dropped GOP", der, 3, func(a [][][]byte) [][][]byte { return append(a[:30:30], a[60:]...) }, ErrChain},
		{"a stripped signature", der, 3, func(a [][][]byte) [][][]byte {
			a[30] = stripOwn(H264, a[30])
			return a
		}, ErrUnsigned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aus := clone()
			if tc.edit != nil {
				aus = tc.edit(aus)
			}
			if _, err := verifyAll(c, tc.der, tc.gen, aus); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// Another camera's signed stream, presented as ours.
	other2 := NewSigner(H264, key, domain.ID("cambbbbbbbbbbbbbbbbbbbbbbb"), 3)
	v, _ := NewVerifier(H264, der, cam, 3)
	var err error
	for _, au := range bitstream.AccessUnits(H264, bitstream.SplitAnnexB(c.data)) {
		s, _ := other2.Sign(au, time.Now())
		if _, err = v.Push(s); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrCamera) {
		t.Fatalf("another camera's stream: %v", err)
	}
}

func TestSEIEscaping(t *testing.T) {
	// A payload full of zeros needs emulation prevention.
	c := Claim{Camera: cam, Generation: 1, Signature: make([]byte, 70)}
	nalu := buildSEI(H264, c.payload())
	for i := 0; i+2 < len(nalu); i++ {
		if nalu[i] == 0 && nalu[i+1] == 0 && nalu[i+2] <= 2 {
			t.Fatalf("start code emulation at %d", i)
		}
	}
	got, ok, err := FindClaim(H264, nalu)
	if !ok || err != nil || got.Camera != cam || len(got.Signature) != 70 {
		t.Fatalf("round trip: %+v %v %v", got, ok, err)
	}
}

func BenchmarkVerifyGOP(b *testing.B) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	signed := signClip(b, testClips[0], key, 1)
	b.ResetTimer()
	for b.Loop() {
		verifyAll(testClips[0], der, 1, signed)
	}
	b.ReportMetric(float64(len(signed))*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

func FuzzFindClaim(f *testing.F) {
	c := Claim{Camera: cam, Generation: 1, Signature: []byte{1, 2, 3}}
	f.Add(buildSEI(H264, c.payload()), false)
	f.Add(buildSEI(H265, c.payload()), true)
	f.Add([]byte{6, 5, 0xff, 0xff}, false)
	f.Fuzz(func(t *testing.T, nalu []byte, h265 bool) {
		codec := H264
		if h265 {
			codec = H265
		}
		FindClaim(codec, nalu)
	})
}

func FuzzVerifier(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	signed := signClip(f, testClips[0], key, 1)
	f.Add(bitstream.JoinAnnexB(signed[29]), bitstream.JoinAnnexB(signed[30]))
	f.Add([]byte{0, 0, 1, 0x65, 0x88}, []byte{0, 0, 1, 6, 5, 1, 0x80})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		v, _ := NewVerifier(H264, der, cam, 1)
		for _, au := range bitstream.AccessUnits(H264, append(bitstream.SplitAnnexB(a), bitstream.SplitAnnexB(b)...)) {
			if _, err := v.Push(au); err != nil {
				return
			}
		}
	})
}

func TestReport(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	signed := signClip(t, testClips[0], key, 2)
	var stream []byte
	for i, au := range signed {
		if i == 70 {
			au = append([][]byte(nil), au...)
			au[len(au)-1] = append([]byte(nil), au[len(au)-1]...)
			au[len(au)-1][50] ^= 0xff // tamper inside GOP 2 (frames 60–89)
		}
		stream = append(stream, bitstream.JoinAnnexB(au)...)
	}
	spans, problems, err := Report(H264, stream, der)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !errors.Is(problems[0].Err, ErrHash) || problems[0].AccessUnit != 90 {
		t.Fatalf("problems %v", problems)
	}
	if len(spans) != 2 || spans[0].GOPs != 2 || spans[0].Camera != cam || spans[0].Generation != 2 ||
		spans[1].FirstSeq != 3 || spans[1].GOPs != 1 {
		t.Fatalf("spans %+v", spans)
	}
}
