package videosig

import "errors"

// Codec-level helpers: Annex-B splitting, emulation prevention, and the
// SEI syntax camvault needs. They accept arbitrary input without panicking.

// SplitAnnexB splits an Annex-B byte stream into NAL units (without start
// codes). Empty units are skipped.
func SplitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	i := 0
	for i+2 < len(b) {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && b[end-1] == 0 {
					end-- // trailing zero of a 4-byte start code
				}
				if end > start {
					out = append(out, b[start:end])
				}
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

// escape adds emulation prevention bytes to an RBSP.
func escape(rbsp []byte) []byte {
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

// unescape removes emulation prevention bytes.
func unescape(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
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

// Codec selects NAL header syntax.
type Codec int

// Codecs.
const (
	H264 Codec = iota
	H265
)

// nalType returns the NAL unit type, or -1 for an empty unit.
func nalType(c Codec, nalu []byte) int {
	if len(nalu) == 0 {
		return -1
	}
	if c == H265 {
		return int(nalu[0]>>1) & 0x3f
	}
	return int(nalu[0] & 0x1f)
}

// headerLen is the NAL header length.
func headerLen(c Codec) int {
	if c == H265 {
		return 2
	}
	return 1
}

// isSEI reports an SEI NAL unit (H.265: prefix SEI).
func isSEI(c Codec, nalu []byte) bool {
	t := nalType(c, nalu)
	if c == H265 {
		return t == 39
	}
	return t == 6
}

// IsVCL reports a coded slice.
func IsVCL(c Codec, nalu []byte) bool {
	t := nalType(c, nalu)
	if c == H265 {
		return t >= 0 && t <= 31
	}
	return t >= 1 && t <= 5
}

// IsKey reports a random access point slice (IDR; H.265 IRAP).
func IsKey(c Codec, nalu []byte) bool {
	t := nalType(c, nalu)
	if c == H265 {
		return t >= 16 && t <= 23
	}
	return t == 5
}

// seiHeader is the NAL header of an SEI unit.
func seiHeader(c Codec) []byte {
	if c == H265 {
		return []byte{39 << 1, 1}
	}
	return []byte{6}
}

// seiMessage is one sei_message.
type seiMessage struct {
	typ     int
	payload []byte
}

// errSEI reports malformed SEI syntax.
var errSEI = errors.New("videosig: malformed SEI")

// maxSEIPayload bounds one SEI payload.
const maxSEIPayload = 4096

// parseSEI parses the messages of an SEI NAL unit.
func parseSEI(c Codec, nalu []byte) ([]seiMessage, error) {
	if len(nalu) < headerLen(c) {
		return nil, errSEI
	}
	b := unescape(nalu[headerLen(c):])
	var out []seiMessage
	for len(b) > 0 {
		if len(b) == 1 && b[0] == 0x80 {
			return out, nil // rbsp trailing bits
		}
		typ, n, ok := ffCoded(b)
		if !ok {
			return nil, errSEI
		}
		b = b[n:]
		size, n, ok := ffCoded(b)
		if !ok || size > len(b)-n || size > maxSEIPayload {
			return nil, errSEI
		}
		b = b[n:]
		out = append(out, seiMessage{typ: typ, payload: b[:size]})
		b = b[size:]
		if len(out) > 64 {
			return nil, errSEI
		}
	}
	return out, nil
}

// ffCoded reads an 0xFF-prefixed value (SEI type or size).
func ffCoded(b []byte) (v, n int, ok bool) {
	for n < len(b) {
		c := b[n]
		n++
		v += int(c)
		if c != 0xff {
			return v, n, v <= 1<<16
		}
	}
	return 0, 0, false
}

// buildSEI makes an SEI NAL unit with one user_data_unregistered message.
func buildSEI(c Codec, payload []byte) []byte {
	rbsp := []byte{5} // user_data_unregistered
	for n := len(payload); ; n -= 255 {
		if n >= 255 {
			rbsp = append(rbsp, 0xff)
			continue
		}
		rbsp = append(rbsp, byte(n))
		break
	}
	rbsp = append(rbsp, payload...)
	rbsp = append(rbsp, 0x80)
	return append(seiHeader(c), escape(rbsp)...)
}
