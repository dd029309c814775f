package videosig

import (
	"errors"

	"github.com/camvault/camvault/internal/bitstream"
)

// Codec-level helpers: emulation prevention and the SEI syntax camvault
// needs (NAL units and access units are package bitstream's). They accept
// arbitrary input without panicking.

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

// Codec is the stream's codec, which selects the NAL header syntax.
type Codec = bitstream.Codec

// Codecs.
const (
	H264 = bitstream.H264
	H265 = bitstream.H265
)

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
	if len(nalu) < bitstream.HeaderLen(c) {
		return nil, errSEI
	}
	b := unescape(nalu[bitstream.HeaderLen(c):])
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
