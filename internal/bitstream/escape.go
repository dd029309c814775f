package bitstream

import "github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

// Escape adds emulation prevention bytes to an RBSP, so that it holds no
// start code once inside a NAL unit: a 3 goes before any byte up to 3
// that follows two zeros. (H.264 and H.265 share the rule; mediacommon
// only removes them.)
func Escape(rbsp []byte) []byte {
	out := make([]byte, 0, len(rbsp)+len(rbsp)/64+4)
	zeros := 0
	for _, c := range rbsp {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// Unescape removes emulation prevention bytes, giving back the RBSP.
func Unescape(b []byte) []byte { return h264.EmulationPreventionRemove(b) }
