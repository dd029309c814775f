// Package recordtest makes recorded segments from the built-in clips for
// tests of the recording paths.
package recordtest

import (
	"time"

	"github.com/camvault/camvault/internal/clips"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/videosig"
)

// Units returns the porch clip (H.264, 15 fps) as access units with its
// track, looping it to cover d.
func Units(d time.Duration) (media.Track, []*media.AccessUnit) {
	aus := videosig.AccessUnits(videosig.H264, videosig.SplitAnnexB(clips.PorchH264))
	var tr media.Track
	tr.Codec = media.H264
	for _, au := range aus {
		for _, n := range au {
			switch n[0] & 0x1f {
			case 7:
				tr.SPS = n
			case 8:
				tr.PPS = n
			}
		}
	}
	frame := time.Second / clips.FPS
	var out []*media.AccessUnit
	for i := range int(d * clips.FPS / time.Second) {
		nalus := aus[i%len(aus)]
		key := false
		for _, n := range nalus {
			key = key || videosig.IsKey(videosig.H264, n)
		}
		out = append(out, &media.AccessUnit{PTS: time.Duration(i) * frame, Key: key, NALUs: nalus})
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
