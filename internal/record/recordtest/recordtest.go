// Package recordtest makes recorded segments from the built-in clips for
// tests of the recording paths.
package recordtest

import (
	"time"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/clips"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/record"
)

// Units returns the porch clip (H.264, 15 fps) as access units with its
// track, looping it to cover d.
func Units(d time.Duration) (media.Track, []*media.AccessUnit) {
	aus := bitstream.AccessUnits(bitstream.H264, bitstream.SplitAnnexB(clips.PorchH264))
	tr := media.Track{Codec: bitstream.H264}
	for _, au := range aus {
		_, sps, pps := bitstream.ParamSets(tr.Codec, au)
		if sps != nil {
			tr.SPS = sps
		}
		if pps != nil {
			tr.PPS = pps
		}
	}
	frame := time.Second / clips.FPS
	var out []*media.AccessUnit
	for i := range int(d * clips.FPS / time.Second) {
		nalus := aus[i%len(aus)]
		out = append(out, &media.AccessUnit{PTS: time.Duration(i) * frame, Key: bitstream.HasKey(tr.Codec, nalus), NALUs: nalus})
	}
	return tr, out
}

// Segments cuts d of the porch clip, starting at start on the wall
// clock, into segments of about target.
func Segments(start time.Time, d, target time.Duration) []*record.Plain {
	tr, aus := Units(d)
	seg := record.Segmenter{Target: target, Now: func() time.Time { return start }}
	var out []*record.Plain
	for _, au := range aus {
		p, err := seg.Push(tr, au)
		if err != nil {
			panic(err)
		}
		if p != nil {
			p.Began = time.Time{} // as if recorded just before it is written
			out = append(out, p)
		}
	}
	if p, _ := seg.Flush(); p != nil {
		p.Began = time.Time{}
		out = append(out, p)
	}
	return out
}
