// Package record keeps what cameras saw: it cuts a camera's live stream
// into fragmented-MP4 segments on keyframes (the cameras' SEI signatures
// stay in the samples, so recordings verify like live video), seals each
// with the camera generation's data key (package sealed, keys from
// package keys) and stores it in blob storage with an index entry in the
// store. It also reads segments back by range for playback, builds
// exports, applies retention, shreds what must go, and reconciles the
// index with the blobs after a crash.
//
// No plaintext video touches the disk: segments are assembled in memory
// and only sealed bytes are written.
package record

import (
	"errors"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/camvault/camvault/internal/media"
)

// TimeScale is the media time scale of recorded tracks (90 kHz).
const TimeScale = 90000

// DefaultSegment is the target length of a segment: segments are cut at
// the first keyframe after it.
const DefaultSegment = 4 * time.Second

// MaxSegment bounds a segment whose camera sends no keyframe: it is cut
// there anyway (the next one then starts at the next keyframe).
const MaxSegment = 30 * time.Second

// Plain is a finished segment in memory: an fMP4 initialization block
// followed by one fragment.
type Plain struct {
	Start, End time.Time
	// Began is when the segment's first unit reached the segmenter, on
	// the server's clock (Start is on the camera's); zero when unknown.
	// A deletion decides on it whether the segment existed then.
	Began time.Time
	// Data is the whole segment; Data[:InitSize] is the initialization
	// block.
	Data     []byte
	InitSize int
	Frames   int
	// Track and Key are the stream's parameters and the segment's first
	// picture (a keyframe), for thumbnails.
	Track media.Track
	Key   *media.AccessUnit
}

// Segmenter cuts a stream of access units into segments. It is not safe
// for concurrent use.
type Segmenter struct {
	// Target is the segment length to cut at; zero means DefaultSegment.
	Target time.Duration
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time

	anchored   bool
	anchorWall time.Time
	anchorPTS  time.Duration

	track    media.Track
	init     []byte
	first    *media.AccessUnit
	start    time.Duration // PTS of the segment's first unit
	began    time.Time     // when the segment's first unit came (our clock)
	samples  []*fmp4.Sample
	pending  *media.AccessUnit // the last unit, whose duration the next tells
	lastDur  time.Duration
	seq      uint32
	skipping bool // waiting for a keyframe
}

// ErrCodec: the track's codec cannot be recorded.
var ErrCodec = errors.New("record: unsupported codec")

func (s *Segmenter) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Segmenter) target() time.Duration {
	if s.Target > 0 {
		return s.Target
	}
	return DefaultSegment
}

// wall maps a presentation time to the wall clock.
func (s *Segmenter) wall(pts time.Duration) time.Time {
	return s.anchorWall.Add(pts - s.anchorPTS)
}

func sameTrack(a, b media.Track) bool {
	return a.Codec == b.Codec && string(a.VPS) == string(b.VPS) && string(a.SPS) == string(b.SPS) && string(a.PPS) == string(b.PPS)
}

// Push adds one access unit of track and returns the segment it
// finished, if any. Units before the first keyframe are dropped.
func (s *Segmenter) Push(track media.Track, au *media.AccessUnit) (*Plain, error) {
	if !s.anchored {
		if !au.Key {
			return nil, nil
		}
		s.anchored = true
		s.anchorPTS, s.anchorWall = au.PTS, s.now()
		// Trust the camera's capture time when it agrees with ours.
		if c := au.Capture; !c.IsZero() && c.Sub(s.anchorWall).Abs() < 10*time.Second {
			s.anchorWall = c
		}
	}
	if s.pending == nil {
		if !au.Key {
			return nil, nil
		}
		return nil, s.begin(track, au)
	}
	d := au.PTS - s.pending.PTS
	if d <= 0 || d > 10*time.Second {
		// A jump in the camera's clock: re-anchor so that wall times
		// stay monotonic, and give the unit an ordinary duration.
		d = s.frameDur()
		s.anchorPTS, s.anchorWall = au.PTS, s.wall(s.pending.PTS).Add(d)
	}
	if err := s.add(s.pending, d); err != nil {
		return nil, err
	}
	s.pending = au
	length := au.PTS - s.start
	// Half a frame of slack: timestamps in whole ticks fall just short.
	cut := (au.Key && length+s.frameDur()/2 >= s.target()) || length >= MaxSegment || (au.Key && !sameTrack(track, s.track))
	if !cut {
		return nil, nil
	}
	seg, err := s.finish(au.PTS)
	if err != nil {
		return nil, err
	}
	s.pending = nil
	if au.Key {
		if err := s.begin(track, au); err != nil {
			return seg, err
		}
	}
	return seg, nil
}

// Flush finishes the segment in progress, if any.
func (s *Segmenter) Flush() (*Plain, error) {
	if s.pending == nil {
		return nil, nil
	}
	d := s.frameDur()
	if err := s.add(s.pending, d); err != nil {
		return nil, err
	}
	end := s.pending.PTS + d
	s.pending = nil
	return s.finish(end)
}

// Reset forgets the stream: the next unit starts afresh (a new reader,
// after a reconnect).
func (s *Segmenter) Reset() {
	*s = Segmenter{Target: s.Target, Now: s.Now, seq: s.seq}
}

func (s *Segmenter) frameDur() time.Duration {
	if s.lastDur > 0 {
		return s.lastDur
	}
	return time.Second / 15
}

func (s *Segmenter) begin(track media.Track, au *media.AccessUnit) error {
	if !sameTrack(track, s.track) || s.init == nil {
		init, err := marshalInit(track)
		if err != nil {
			return err
		}
		s.track, s.init = track, init
	}
	s.start, s.pending, s.samples, s.first, s.began = au.PTS, au, nil, au, s.now()
	return nil
}

func (s *Segmenter) add(au *media.AccessUnit, d time.Duration) error {
	smp := &fmp4.Sample{Duration: uint32(d * TimeScale / time.Second), IsNonSyncSample: !au.Key}
	var err error
	if s.track.Codec == media.H265 {
		err = smp.FillH265(0, au.NALUs)
	} else {
		err = smp.FillH264(0, au.NALUs)
	}
	if err != nil {
		return err
	}
	if smp.Duration == 0 {
		smp.Duration = 1
	}
	s.samples = append(s.samples, smp)
	s.lastDur = d
	return nil
}

func (s *Segmenter) finish(endPTS time.Duration) (*Plain, error) {
	start, end := s.wall(s.start), s.wall(endPTS)
	s.seq++
	part := fmp4.Part{SequenceNumber: s.seq, Tracks: []*fmp4.PartTrack{{ID: 1, BaseTime: mediaTime(start), Samples: s.samples}}}
	var buf seekablebuffer.Buffer
	if _, err := buf.Write(s.init); err != nil {
		return nil, err
	}
	if err := part.Marshal(&buf); err != nil {
		return nil, err
	}
	p := &Plain{Start: start, End: end, Began: s.began, Data: buf.Bytes(), InitSize: len(s.init), Frames: len(s.samples), Track: s.track, Key: s.first}
	s.samples = nil
	return p, nil
}

// mediaTime is t on the recording timeline: 90 kHz ticks since the Unix
// epoch, so that every segment of every camera shares one timeline.
func mediaTime(t time.Time) uint64 {
	return uint64(t.UnixMicro()) * (TimeScale / 10000) / 100 // µs × 9/100, without overflow
}

func marshalInit(track media.Track) ([]byte, error) {
	var codec mp4.Codec
	switch track.Codec {
	case media.H264:
		if len(track.SPS) == 0 || len(track.PPS) == 0 {
			return nil, ErrCodec
		}
		codec = &mp4.CodecH264{SPS: track.SPS, PPS: track.PPS}
	case media.H265:
		if len(track.VPS) == 0 || len(track.SPS) == 0 || len(track.PPS) == 0 {
			return nil, ErrCodec
		}
		codec = &mp4.CodecH265{VPS: track.VPS, SPS: track.SPS, PPS: track.PPS}
	default:
		return nil, ErrCodec
	}
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: TimeScale, Codec: codec}}}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
