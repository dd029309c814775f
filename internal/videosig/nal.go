package videosig

import (
	"errors"

	"github.com/camvault/camvault/internal/bitstream"
)

// The SEI syntax camvault needs (NAL units, access units and emulation
// prevention are package bitstream's). It accepts arbitrary input without
// panicking.

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
	b := bitstream.Unescape(nalu[bitstream.HeaderLen(c):])
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
	return append(seiHeader(c), bitstream.Escape(rbsp)...)
}
