package bitstream

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/camvault/camvault/internal/clips"
)

func TestCodecNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Codec
		ok   bool
	}{{"h264", H264, true}, {"h265", H265, true}, {"hevc", "", false}, {"", "", false}, {"H264", "", false}} {
		if c, ok := ParseCodec(tc.name); c != tc.want || ok != tc.ok {
			t.Errorf("ParseCodec(%q) = %q, %v; want %q, %v", tc.name, c, ok, tc.want, tc.ok)
		}
	}
	for name, want := range map[string]Codec{"a.h265": H265, "dir/b.hevc": H265, "c.h264": H264, "d.mp4": H264, "e": H264} {
		if got := CodecOfFile(name); got != want {
			t.Errorf("CodecOfFile(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestClips: the built-in clips fall into their 150 pictures (10 s at 15
// fps), a keyframe with its parameter sets every 30.
func TestClips(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec Codec
		data  []byte
	}{{"porch h264", H264, clips.PorchH264}, {"garden h265", H265, clips.GardenH265}} {
		t.Run(tc.name, func(t *testing.T) {
			aus := AccessUnits(tc.codec, SplitAnnexB(tc.data))
			if len(aus) != 150 {
				t.Fatalf("%d access units, want 150", len(aus))
			}
			for i, au := range aus {
				if HasKey(tc.codec, au) != (i%30 == 0) {
					t.Fatalf("access unit %d: keyframe %v", i, HasKey(tc.codec, au))
				}
				vps, sps, pps := ParamSets(tc.codec, au)
				if want := i%30 == 0; (sps != nil) != want || (pps != nil) != want || (vps != nil) != (want && tc.codec == H265) {
					t.Fatalf("access unit %d: parameter sets %d %d %d bytes", i, len(vps), len(sps), len(pps))
				}
			}
			// Joined again and split, the units come back the same.
			var units [][]byte
			for _, au := range aus {
				units = append(units, au...)
			}
			if !reflect.DeepEqual(SplitAnnexB(JoinAnnexB(units)), units) {
				t.Fatal("joining and splitting the units changes them")
			}
		})
	}
}

// TestKeyTypes: every H.265 IRAP type counts as a keyframe, BLA
// included; other slices and non-slices do not.
func TestKeyTypes(t *testing.T) {
	h265 := func(typ byte) []byte { return []byte{typ << 1, 1, 0x80} }
	for typ := range byte(64) {
		want := typ >= 16 && typ <= 23
		if got := IsKey(H265, h265(typ)); got != want {
			t.Errorf("H.265 type %d: key %v, want %v", typ, got, want)
		}
		if got, want := IsVCL(H265, h265(typ)), typ <= 31; got != want {
			t.Errorf("H.265 type %d: VCL %v, want %v", typ, got, want)
		}
	}
	for typ := range byte(32) {
		if got, want := IsKey(H264, []byte{0x60 | typ, 0x80}), typ == 5; got != want {
			t.Errorf("H.264 type %d: key %v, want %v", typ, got, want)
		}
	}
	if IsKey(H264, nil) || IsVCL(H265, nil) || IsSEI(H264, nil) || Type(H264, nil) != -1 {
		t.Error("an empty NAL unit has a type")
	}
	if !IsSEI(H264, []byte{6, 5}) || !IsSEI(H265, []byte{39 << 1, 1}) || IsSEI(H265, []byte{40 << 1, 1}) {
		t.Error("SEI types")
	}
}

func TestAVCC(t *testing.T) {
	for _, tc := range []struct {
		name  string
		avcc  []byte
		annex []byte
		fails bool
	}{
		{"two units", []byte("\x00\x00\x00\x02\x65A\x00\x00\x00\x01\x06"), []byte("\x00\x00\x00\x01\x65A\x00\x00\x00\x01\x06"), false},
		{"an empty unit is left out", []byte("\x00\x00\x00\x00\x00\x00\x00\x02\x65A"), []byte("\x00\x00\x00\x01\x65A"), false},
		{"an empty sample", nil, nil, false},
		{"a length past the end", []byte("\x00\x00\x00\x05\x65A"), nil, true},
		{"a short length", []byte("\x00\x00\x00\x01\x65\x00\x00"), nil, true},
		{"only empty units", []byte("\x00\x00\x00\x00"), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AVCCToAnnexB(tc.avcc)
			if (err != nil) != tc.fails || !bytes.Equal(got, tc.annex) {
				t.Fatalf("got %q, %v; want %q (error %v)", got, err, tc.annex, tc.fails)
			}
		})
	}
}

func TestJoinAnnexB(t *testing.T) {
	got := JoinAnnexB([][]byte{{0x67, 1}, nil, {}, {0x65, 2}})
	if want := []byte("\x00\x00\x00\x01\x67\x01\x00\x00\x00\x01\x65\x02"); !bytes.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := JoinAnnexB([][]byte{nil}); len(got) != 0 {
		t.Fatalf("no units: got %q", got)
	}
}

// FuzzSplitAnnexB: any bytes split into non-empty NAL units, and group
// into access units that hold exactly the units long enough to keep, in
// order.
func FuzzSplitAnnexB(f *testing.F) {
	f.Add(clips.PorchH264[:2000])
	f.Add([]byte{0, 0, 0, 1, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		nalus := SplitAnnexB(b)
		for _, n := range nalus {
			if len(n) == 0 {
				t.Fatal("empty NAL unit")
			}
		}
		for _, c := range []Codec{H264, H265} {
			var kept, grouped [][]byte
			for _, n := range nalus {
				if len(n) > HeaderLen(c) {
					kept = append(kept, n)
				}
			}
			for _, au := range AccessUnits(c, nalus) {
				if len(au) == 0 {
					t.Fatal("empty access unit")
				}
				grouped = append(grouped, au...)
			}
			if len(kept) != 0 && !reflect.DeepEqual(grouped, kept) {
				t.Fatalf("%s: grouping lost or reordered NAL units", c)
			}
			HasKey(c, nalus)
			ParamSets(c, nalus)
		}
	})
}

// FuzzAVCC: any sample either fails or converts to Annex-B that splits
// back into its NAL units whenever they carry no start code of their own;
// and AVCC written by mediacommon converts back to its units.
func FuzzAVCC(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x02\x65A\x00\x00\x00\x01\x06"))
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x02\x65A"))
	f.Add([]byte("\x00\x00\x00\x05\x65A"))
	f.Add([]byte("\xff\xff\xff\xff\x65A"))
	f.Fuzz(func(t *testing.T, b []byte) {
		annex, err := AVCCToAnnexB(b)
		if err != nil {
			return
		}
		units, _ := SplitAVCC(b)
		clean := true
		for _, n := range units {
			clean = clean && !bytes.Contains(n, []byte{0, 0, 1}) && n[len(n)-1] != 0
		}
		if clean && !reflect.DeepEqual(SplitAnnexB(annex), units) && len(units) > 0 {
			t.Fatalf("%q: Annex-B %q splits into %q, want %q", b, annex, SplitAnnexB(annex), units)
		}
		again, err := h264.AVCC(units).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if back, err := SplitAVCC(again); len(units) > 0 && (err != nil || !reflect.DeepEqual(back, units)) {
			t.Fatalf("round trip: %q, %v; want %q", back, err, units)
		}
	})
}

// FuzzEscape: escaped bytes hold no start code (nor its emulation) and
// unescape back to what they were.
func FuzzEscape(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, rbsp []byte) {
		e := Escape(rbsp)
		for i := 0; i+2 < len(e); i++ {
			if e[i] == 0 && e[i+1] == 0 && e[i+2] <= 2 {
				t.Fatalf("%x escapes to %x: start code emulation at %d", rbsp, e, i)
			}
		}
		if back := Unescape(e); !bytes.Equal(back, rbsp) {
			t.Fatalf("%x escapes to %x, which unescapes to %x", rbsp, e, back)
		}
	})
}
