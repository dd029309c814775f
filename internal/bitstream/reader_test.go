package bitstream

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/camvault/camvault/internal/clips"
)

// readAll reads every access unit from data delivered in pieces of the
// given sizes (cycled).
func readAll(data []byte, codec Codec, limit int, pieces []int) ([][][]byte, error) {
	p := NewReader(&piecesReader{b: data, sizes: pieces}, codec, limit)
	var out [][][]byte
	for {
		au, err := p.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, au)
	}
}

// piecesReader hands out b in reads of the given sizes (cycled; 0 means
// an empty read).
type piecesReader struct {
	b     []byte
	sizes []int
	i     int
}

func (r *piecesReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := len(r.b)
	if len(r.sizes) > 0 {
		n = r.sizes[r.i%len(r.sizes)]
		r.i++
	}
	n = min(n, len(p), len(r.b))
	copy(p, r.b[:n])
	r.b = r.b[n:]
	return n, nil
}

// TestAnnexBReader: read piece by piece, a stream falls into the same
// access units as when it is split whole.
func TestAnnexBReader(t *testing.T) {
	garden := clips.GardenH265
	tests := []struct {
		name   string
		codec  Codec
		data   []byte
		pieces []int
	}{
		{"h264 whole", H264, clips.PorchH264, nil},
		{"h264 one byte at a time", H264, clips.PorchH264, []int{1}},
		{"h264 odd pieces", H264, clips.PorchH264, []int{3, 0, 7, 4096, 2, 65536}},
		{"h265 odd pieces", H265, garden, []int{5, 1, 1000}},
		{"garbage before the first start code", H264, append([]byte("junk\x00\x00"), clips.PorchH264...), []int{2}},
		{"four-byte start codes and trailing zeros", H264, []byte("\x00\x00\x00\x01\x67AB\x00\x00\x00\x00\x01\x68CD\x00\x00\x01\x65EF\x00\x00\x01\x41GH\x00"), []int{1}},
		{"no start code", H264, []byte("just text, no video"), []int{4}},
		{"empty", H264, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(tt.data, tt.codec, 2<<20, tt.pieces)
			if err != nil {
				t.Fatal(err)
			}
			want := AccessUnits(tt.codec, SplitAnnexB(tt.data))
			if !sameAUs(got, want) {
				t.Fatalf("got %d access units, want %d (as split whole)", len(got), len(want))
			}
		})
	}
}

func sameAUs(a, b [][][]byte) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// TestAnnexBReaderLimits: an access unit, or a NAL unit still arriving,
// above the limit ends the stream with ErrTooLarge, while the
// units before it come through.
func TestAnnexBReaderLimits(t *testing.T) {
	small := []byte("\x00\x00\x01\x65small-keyframe")
	big := append([]byte("\x00\x00\x01\x41"), bytes.Repeat([]byte{0xaa}, 5000)...)
	tests := []struct {
		name  string
		data  []byte
		units int // access units that come through before the error
	}{
		// The keyframe is complete only once the next unit is: it
		// never is.
		{"one huge NAL unit", append(append([]byte{}, small...), big...), 0},
		{"huge NAL unit with no end in sight", append(append([]byte{}, small...), big[:4000]...), 0},
		{"many NAL units in one access unit", append(append([]byte{}, small...), bytes.Repeat([]byte("\x00\x00\x01\x06"+string(bytes.Repeat([]byte{1}, 500))), 10)...), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Small reads: a reader that buffered without bound would
			// still get to the end.
			p := NewReader(&piecesReader{b: tt.data, sizes: []int{100}}, H264, 1024)
			units := 0
			for {
				au, err := p.Next()
				if err != nil {
					if !errors.Is(err, ErrTooLarge) {
						t.Fatalf("got %v, want ErrTooLarge", err)
					}
					break
				}
				if units == 0 && (len(au) != 1 || string(au[0]) != "\x65small-keyframe") {
					t.Fatalf("first unit: %q", au)
				}
				units++
			}
			if units != tt.units {
				t.Fatalf("%d access units before the error, want %d", units, tt.units)
			}
			if len(p.buf) > 1024+2+100 {
				t.Fatalf("the reader buffered %d bytes", len(p.buf))
			}
		})
	}
}

// FuzzAnnexBReader: any input, read in any pieces, never panics, never
// yields an access unit above the limit, and when it ends without error
// it matches SplitAnnexB and AccessUnits' of the whole input.
func FuzzAnnexBReader(f *testing.F) {
	f.Add(clips.PorchH264[:4000], byte(7), false)
	f.Add([]byte("\x00\x00\x00\x01\x67AB\x00\x00\x00\x01\x68CD\x00\x00\x01\x65EF"), byte(1), false)
	f.Add([]byte("\x00\x00\x01\x40\x01\x0c\x00\x00\x01\x26\x01\xaf\x00\x00\x01\x02\x01\xd0"), byte(2), true)
	f.Add([]byte("\x00\x00\x00\x00\x00\x01"), byte(0), false)
	f.Fuzz(func(t *testing.T, data []byte, piece byte, h265 bool) {
		codec := H264
		if h265 {
			codec = H265
		}
		const limit = 512
		got, err := readAll(data, codec, limit, []int{int(piece)%64 + 1, 0, int(piece) / 3})
		for _, au := range got {
			n := 0
			for _, nal := range au {
				n += len(nal)
			}
			if n > limit {
				t.Fatalf("an access unit of %d bytes passed a limit of %d", n, limit)
			}
		}
		switch {
		case errors.Is(err, ErrTooLarge):
			if len(data) <= limit {
				t.Fatalf("%d bytes of input called too large", len(data))
			}
		case err != nil:
			t.Fatal(err)
		default:
			if want := AccessUnits(codec, SplitAnnexB(data)); !sameAUs(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		}
	})
}
