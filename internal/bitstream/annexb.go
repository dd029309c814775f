package bitstream

import "github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

// SplitAnnexB splits an Annex-B byte stream into NAL units (without start
// codes). Bytes before the first start code are skipped, and so are empty
// units and the zeros that trail a unit (a four-byte start code's first).
// The units share b's memory.
//
// mediacommon's h264.AnnexB reads one access unit (at most 50 NAL units
// and 8 MiB, from a start code on); this reads whole captures.
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

// JoinAnnexB writes NAL units as an Annex-B byte stream, each after a
// four-byte start code. Empty units are left out.
func JoinAnnexB(nalus [][]byte) []byte {
	units := make(h264.AnnexB, 0, len(nalus))
	for _, n := range nalus {
		if len(n) > 0 {
			units = append(units, n)
		}
	}
	b, _ := units.Marshal() // never fails
	return b
}

// SplitAVCC splits an AVCC access unit (NAL units each after a four-byte
// big-endian length, as in an MP4 sample) into its NAL units, which share
// b's memory. Empty units are left out; an access unit without any, or
// above mediacommon's bounds (50 NAL units, 8 MiB), is an error.
func SplitAVCC(b []byte) ([][]byte, error) {
	var au h264.AVCC
	if err := au.Unmarshal(b); err != nil {
		return nil, err
	}
	return au, nil
}

// AVCCToAnnexB turns an AVCC access unit into Annex-B (see SplitAVCC and
// JoinAnnexB). An empty one gives nothing, without error.
func AVCCToAnnexB(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	au, err := SplitAVCC(b)
	if err != nil {
		return nil, err
	}
	return JoinAnnexB(au), nil
}
