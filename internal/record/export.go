package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
)

// MaxExport bounds one export's length.
const MaxExport = 2 * time.Hour

// Parse splits a stored segment into its initialization block and
// samples.
func Parse(data []byte, initSize int64) (*fmp4.Init, fmp4.Parts, error) {
	if initSize <= 0 || initSize > int64(len(data)) {
		return nil, nil, ErrCorrupt
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(data[:initSize])); err != nil || len(init.Tracks) != 1 {
		return nil, nil, fmt.Errorf("%w: init: %v", ErrCorrupt, err)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(data[initSize:]); err != nil {
		return nil, nil, fmt.Errorf("%w: parts: %v", ErrCorrupt, err)
	}
	return &init, parts, nil
}

type exportSample struct {
	seg    int
	part   int
	sample int
	s      *pmp4.Sample
}

// Export writes segs (one camera generation, in time order) as one
// progressive MP4 to w. Gaps between segments are bridged by holding
// the last picture, so that the file's timeline matches the wall clock.
// progress is told how many of the steps are done. g must allow export
// of every segment when it starts; an export under way is not cut short
// when g expires.
func (a *Archive) Export(ctx context.Context, g authz.Grant, segs []domain.Segment, w io.Writer, progress func(done, total int)) error {
	if len(segs) == 0 {
		return errors.New("record: nothing to export")
	}
	for _, seg := range segs {
		if err := a.allow(g, domain.ActionExport, seg.Camera, seg.Start); err != nil {
			return err
		}
	}
	release := a.Pin(segs)
	defer release()
	total := 2 * len(segs)
	if progress == nil {
		progress = func(int, int) {}
	}
	var track *pmp4.Track
	var samples []*exportSample
	var prevEnd time.Time
	for i, seg := range segs {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := a.readAll(ctx, seg)
		if err != nil {
			return err
		}
		init, parts, err := Parse(data, seg.InitSize)
		if err != nil {
			return err
		}
		if track == nil {
			track = &pmp4.Track{ID: 1, TimeScale: TimeScale, Codec: init.Tracks[0].Codec}
		}
		// Bridge a gap by stretching the previous picture.
		if len(samples) > 0 && seg.Start.After(prevEnd) {
			gap := uint64(seg.Start.Sub(prevEnd) * TimeScale / time.Second)
			last := samples[len(samples)-1].s
			if d := uint64(last.Duration) + gap; d < 1<<31 {
				last.Duration = uint32(d)
			}
		}
		for pi, p := range parts {
			for _, pt := range p.Tracks {
				for si, smp := range pt.Samples {
					es := &exportSample{seg: i, part: pi, sample: si, s: &pmp4.Sample{Duration: smp.Duration,
						PTSOffset: smp.PTSOffset, IsNonSyncSample: smp.IsNonSyncSample, PayloadSize: uint32(len(smp.Payload))}}
					samples = append(samples, es)
				}
			}
		}
		prevEnd = seg.End
		progress(i+1, total)
	}
	// Second pass: the payloads, one segment in memory at a time.
	cur, done := -1, len(segs)
	var curParts fmp4.Parts
	var loadErr error
	for _, es := range samples {
		es := es
		es.s.GetPayload = func() ([]byte, error) {
			if es.seg != cur {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				data, err := a.readAll(ctx, segs[es.seg])
				if err != nil {
					loadErr = err
					return nil, err
				}
				if _, curParts, err = Parse(data, segs[es.seg].InitSize); err != nil {
					return nil, err
				}
				cur = es.seg
				done++
				progress(done, total)
			}
			p := curParts[es.part]
			if len(p.Tracks) == 0 || es.sample >= len(p.Tracks[0].Samples) {
				return nil, ErrCorrupt
			}
			return p.Tracks[0].Samples[es.sample].Payload, nil
		}
		track.Samples = append(track.Samples, es.s)
	}
	pres := pmp4.Presentation{Tracks: []*pmp4.Track{track}}
	if err := pres.Marshal(w); err != nil {
		if loadErr != nil {
			return loadErr
		}
		return err
	}
	progress(total, total)
	return nil
}
