// Package snapshot makes still pictures of live video: the keyframe that
// starts a stream's current GOP, decoded to JPEG by ffmpeg through pipes
// (no plaintext file). The service's snapshots of pulled cameras (Maker,
// reading the hub by Grant) and the recorder's timeline stills (JPEG)
// both use it.
package snapshot

import (
	"context"
	"log/slog"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/fault"
	"github.com/camvault/camvault/internal/ffmpeg"
	"github.com/camvault/camvault/internal/media"
)

// JPEG decodes key, a keyframe of track, to a JPEG of at most max bytes
// with the ffmpeg at path.
func JPEG(ctx context.Context, path string, track media.Track, key *media.AccessUnit, max int) ([]byte, error) {
	format := "h264"
	if track.Codec == media.H265 {
		format = "hevc"
	}
	return ffmpeg.JPEG(ctx, path, format, ffmpeg.AnnexB([][]byte{track.VPS, track.SPS, track.PPS}, key.NALUs), max, nil)
}

// Config configures a Maker.
type Config struct {
	Hub *media.Hub
	// FFmpeg is the path of the ffmpeg binary.
	FFmpeg string
	// Wait bounds waiting for a keyframe, and decoding it; zero means
	// 5 s.
	Wait time.Duration
	// Max bounds a picture's size in bytes.
	Max    int
	Logger *slog.Logger
}

// Maker takes stills of the hub's live streams.
type Maker struct {
	cfg Config
}

// New returns a Maker.
func New(cfg Config) *Maker {
	if cfg.Wait == 0 {
		cfg.Wait = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Maker{cfg: cfg}
}

// Still decodes the newest keyframe of the grant's camera, asking for the
// stream if it is not running; the keyframe's origin is the grant's
// camera generation. Errors are *fault.Error values.
func (m *Maker) Still(ctx context.Context, g authz.Grant) ([]byte, error) {
	ref := g.Camera()
	m.cfg.Hub.Prime(g)
	deadline := time.After(m.cfg.Wait)
	for {
		if track, au, ok := m.cfg.Hub.Keyframe(g); ok && au.Origin == ref {
			dctx, cancel := context.WithTimeout(ctx, m.cfg.Wait)
			jpeg, err := JPEG(dctx, m.cfg.FFmpeg, track, au, m.cfg.Max)
			cancel()
			if err != nil {
				m.cfg.Logger.Warn("snapshot of a pulled camera failed", "camera", ref.Camera, "err", err)
				return nil, &fault.Error{Kind: fault.KindUnavailable, Code: "no_snapshot", Message: "the camera's picture could not be decoded"}
			}
			return jpeg, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline:
			return nil, &fault.Error{Kind: fault.KindUnavailable, Code: "camera_offline", Message: "the camera sent no picture in time; is it reachable?"}
		case <-time.After(100 * time.Millisecond):
		}
	}
}
