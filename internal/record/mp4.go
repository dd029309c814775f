package record

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/media"
)

// ErrNotMP4 means the bytes are not an MP4 camvault can read.
var ErrNotMP4 = errors.New("record: not an MP4 with one H.264 or H.265 track")

// IsMP4 reports whether b starts like an MP4 file.
func IsMP4(b []byte) bool { return len(b) >= 8 && string(b[4:8]) == "ftyp" }

// AnnexB turns an export (progressive MP4) or a recorded segment
// (fragmented MP4) back into the camera's Annex-B stream, SEI signatures
// included, so that it can be verified.
func AnnexB(b []byte) (media.Codec, []byte, error) {
	var p pmp4.Presentation
	if err := p.Unmarshal(bytes.NewReader(b)); err == nil && len(p.Tracks) == 1 {
		codec, ok := codecOf(p.Tracks[0].Codec)
		if !ok {
			return "", nil, ErrNotMP4
		}
		var out []byte
		for _, s := range p.Tracks[0].Samples {
			payload, err := s.GetPayload()
			if err != nil {
				return "", nil, ErrNotMP4
			}
			if out, err = appendAnnexB(out, payload); err != nil {
				return "", nil, ErrNotMP4
			}
		}
		return codec, out, nil
	}
	// A fragmented MP4: initialization, then fragments.
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(b)); err != nil || len(init.Tracks) != 1 {
		return "", nil, ErrNotMP4
	}
	codec, ok := codecOf(init.Tracks[0].Codec)
	if !ok {
		return "", nil, ErrNotMP4
	}
	i := moofStart(b)
	if i < 0 {
		return "", nil, ErrNotMP4
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(b[i:]); err != nil {
		return "", nil, ErrNotMP4
	}
	var out []byte
	var err error
	for _, part := range parts {
		for _, tr := range part.Tracks {
			for _, s := range tr.Samples {
				if out, err = appendAnnexB(out, s.Payload); err != nil {
					return "", nil, ErrNotMP4
				}
			}
		}
	}
	return codec, out, nil
}

func codecOf(c mp4.Codec) (media.Codec, bool) {
	switch c.(type) {
	case *mp4.CodecH264:
		return media.H264, true
	case *mp4.CodecH265:
		return media.H265, true
	}
	return "", false
}

// moofStart finds the first top-level moof box.
func moofStart(b []byte) int {
	for i := 0; i+8 <= len(b); {
		size := int(binary.BigEndian.Uint32(b[i:]))
		if string(b[i+4:i+8]) == "moof" {
			return i
		}
		if size < 8 || i+size > len(b) {
			return -1
		}
		i += size
	}
	return -1
}

// appendAnnexB appends an MP4 sample (AVCC) to out as Annex-B.
func appendAnnexB(out, sample []byte) ([]byte, error) {
	b, err := bitstream.AVCCToAnnexB(sample)
	return append(out, b...), err
}
