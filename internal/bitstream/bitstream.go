// Package bitstream reads and writes H.264 and H.265 video at the level of
// NAL units: the codec names, Annex-B byte streams (split, streamed and
// joined), AVCC (length-prefixed) samples as MP4 holds them, the grouping
// of NAL units into access units (pictures), keyframes, parameter sets and
// emulation prevention.
// Everything that touches a camera's bytes (ingest, recording, signing,
// the agent, verify) shares these rules, so that all of them cut a stream
// into the same pictures.
//
// It builds on mediacommon's h264 and h265 packages where they fit, and
// imports nothing of camvault. Every function accepts arbitrary input
// without panicking; input from cameras and files is untrusted.
//
// Any Codec but H265, the zero value included, reads as H.264.
package bitstream

import (
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// Codec is a video codec; its value is its name.
type Codec string

// Codecs.
const (
	H264 Codec = "h264"
	H265 Codec = "h265"
)

// ParseCodec reads a codec's name, "h264" or "h265".
func ParseCodec(name string) (Codec, bool) {
	switch c := Codec(name); c {
	case H264, H265:
		return c, true
	}
	return "", false
}

// CodecOfFile tells an Annex-B file's codec by its name: ".h265" and
// ".hevc" files are H.265, any other H.264.
func CodecOfFile(name string) Codec {
	if strings.HasSuffix(name, ".h265") || strings.HasSuffix(name, ".hevc") {
		return H265
	}
	return H264
}

// HeaderLen is the length of the codec's NAL unit header.
func HeaderLen(c Codec) int {
	if c == H265 {
		return 2
	}
	return 1
}

// Type returns a NAL unit's type, or -1 for an empty unit.
func Type(c Codec, nalu []byte) int {
	if len(nalu) == 0 {
		return -1
	}
	if c == H265 {
		return int(nalu[0]>>1) & 0x3f
	}
	return int(nalu[0] & 0x1f)
}

// IsVCL reports a coded slice.
func IsVCL(c Codec, nalu []byte) bool {
	t := Type(c, nalu)
	if c == H265 {
		return t >= 0 && t <= 31 // the VCL types, reserved ones included
	}
	return t >= int(h264.NALUTypeNonIDR) && t <= int(h264.NALUTypeIDR)
}

// IsKey reports a random access point slice: an IDR slice, for H.265 any
// IRAP slice (BLA, IDR, CRA and the reserved IRAP types). It is wider
// than mediacommon's h265.IsRandomAccess, which leaves BLA out: what
// counts as a GOP's start decides where signatures go, so it must not
// change.
func IsKey(c Codec, nalu []byte) bool {
	t := Type(c, nalu)
	if c == H265 {
		return t >= int(h265.NALUType_BLA_W_LP) && t <= int(h265.NALUType_RSV_IRAP_VCL23)
	}
	return t == int(h264.NALUTypeIDR)
}

// IsSEI reports an SEI NAL unit (for H.265 a prefix SEI).
func IsSEI(c Codec, nalu []byte) bool {
	t := Type(c, nalu)
	if c == H265 {
		return t == int(h265.NALUType_PREFIX_SEI_NUT)
	}
	return t == int(h264.NALUTypeSEI)
}

// HasKey reports whether an access unit holds a random access point
// slice (see IsKey).
func HasKey(c Codec, au [][]byte) bool {
	for _, n := range au {
		if IsKey(c, n) {
			return true
		}
	}
	return false
}

// ParamSets returns the parameter sets among an access unit's NAL units
// (the last of each kind); vps is nil for H.264.
func ParamSets(c Codec, au [][]byte) (vps, sps, pps []byte) {
	for _, n := range au {
		switch t := Type(c, n); {
		case c == H265 && t == int(h265.NALUType_VPS_NUT):
			vps = n
		case c == H265 && t == int(h265.NALUType_SPS_NUT):
			sps = n
		case c == H265 && t == int(h265.NALUType_PPS_NUT):
			pps = n
		case c != H265 && t == int(h264.NALUTypeSPS):
			sps = n
		case c != H265 && t == int(h264.NALUTypePPS):
			pps = n
		}
	}
	return vps, sps, pps
}
