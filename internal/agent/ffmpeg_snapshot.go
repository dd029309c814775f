package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/ffmpeg"
)

// Snapshots of sources without a picture of their own: ffmpeg decodes a
// keyframe (the newest one pushed, or one read from the source for the
// occasion) into a JPEG.

// Snapshot bounds.
const (
	// snapshotBudget bounds making one snapshot; the server waits 5 s.
	snapshotBudget = 4 * time.Second
	// keyframeFresh is how long a pushed keyframe may stand for the
	// camera's picture.
	keyframeFresh = 10 * time.Second
	// maxSnapshotBytes bounds ffmpeg's JPEG; the server takes no more.
	maxSnapshotBytes = 1 << 20
)

// keyframe is one keyframe with what a decoder needs to show it.
type keyframe struct {
	codec  bitstream.Codec
	params [][]byte // the stream's parameter sets (from its description)
	au     [][]byte // the keyframe's NAL units
}

// annexB writes the keyframe as an Annex-B stream: the stream's parameter
// sets first when the unit carries none of its own, then its units.
func (k keyframe) annexB() []byte {
	nalus := k.au
	if _, sps, _ := bitstream.ParamSets(k.codec, k.au); sps == nil {
		nalus = append(append([][]byte{}, k.params...), k.au...)
	}
	return bitstream.JoinAnnexB(nalus)
}

// keyframeCache keeps the newest keyframe the agent pushed, with the
// camera generation it was pushed for, so that a snapshot while streaming
// needs no second reader of the source.
type keyframeCache struct {
	mu  sync.Mutex // guards the following
	kf  keyframe
	gen int64
	at  time.Time
}

// keep remembers au, a keyframe of generation gen seen at at. The NAL
// units are kept as they are: sources never write them again.
func (c *keyframeCache) keep(codec bitstream.Codec, gen int64, vps, sps, pps []byte, au [][]byte, at time.Time) {
	var params [][]byte
	for _, p := range [][]byte{vps, sps, pps} {
		if len(p) > 0 {
			params = append(params, p)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kf = keyframe{codec: codec, params: params, au: append([][]byte(nil), au...)}
	c.gen, c.at = gen, at
}

// get returns the kept keyframe if it is of generation gen and fresh at
// now: a picture taken for an earlier owner is never shown to a later one.
func (c *keyframeCache) get(gen int64, now time.Time) (keyframe, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kf.au == nil || c.gen != gen || now.Sub(c.at) > keyframeFresh || now.Before(c.at) {
		return keyframe{}, false
	}
	return c.kf, true
}

// snapshotKeyframe finds a keyframe to picture: the newest one pushed if
// it is recent, else a file's first, else the first one the source gives
// now.
func (a *Agent) snapshotKeyframe(ctx context.Context) (keyframe, error) {
	if kf, ok := a.keyframe.get(a.Status().Generation, time.Now()); ok {
		return kf, nil
	}
	if a.cfg.Source.Kind == "file" {
		c, err := loadClip(a.cfg.Source)
		if err != nil {
			return keyframe{}, err
		}
		if !bitstream.HasKey(c.codec, c.aus[0]) {
			return keyframe{}, errors.New("the file holds no keyframe")
		}
		vps, sps, pps := c.paramSets()
		return keyframe{codec: c.codec, params: nonEmpty(vps, sps, pps), au: c.aus[0]}, nil
	}
	src, err := a.openFrames(ctx)
	if err != nil {
		return keyframe{}, err
	}
	defer src.close()
	for {
		au, _, err := src.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return keyframe{}, errNoKeyframe
			}
			return keyframe{}, err
		}
		if bitstream.HasKey(src.codec(), au) {
			vps, sps, pps := src.params()
			return keyframe{codec: src.codec(), params: nonEmpty(vps, sps, pps), au: au}, nil
		}
	}
}

func nonEmpty(bs ...[]byte) [][]byte {
	var out [][]byte
	for _, b := range bs {
		if len(b) > 0 {
			out = append(out, b)
		}
	}
	return out
}

// jpegOf decodes kf with ffmpeg into a JPEG of at most maxSnapshotBytes.
func jpegOf(ctx context.Context, path string, kf keyframe) ([]byte, error) {
	format := "h264"
	if kf.codec == bitstream.H265 {
		format = "hevc"
	}
	tail := &stderrTail{}
	b, err := ffmpeg.JPEG(ctx, path, format, kf.annexB(), maxSnapshotBytes, tail)
	switch {
	case errors.Is(err, ffmpeg.ErrTooLarge):
		return nil, errSnapshotTooLarge
	case err != nil:
		return nil, fmt.Errorf("%v%s", err, lastWords(tail))
	}
	return b, nil
}
