// Package ffmpeg runs the ffmpeg program, when it is installed, for what
// camvault cannot do in Go: decoding a keyframe into a JPEG snapshot.
package ffmpeg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"
)

// ErrNotInstalled is returned when ffmpeg is not on the PATH.
var ErrNotInstalled = errors.New("ffmpeg is not installed")

// ErrTooLarge is returned for a picture larger than asked for.
var ErrTooLarge = errors.New("ffmpeg: picture too large")

// Path returns ffmpeg's path, or ErrNotInstalled.
func Path() (string, error) {
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		return "", ErrNotInstalled
	}
	return p, nil
}

// JPEG decodes the first picture of an Annex-B stream (format "h264" or
// "hevc") into a JPEG of at most max bytes. ffmpeg's diagnostics go to
// stderr (nil drops them); the caller bounds the time with ctx.
func JPEG(ctx context.Context, path, format string, annexB []byte, max int, stderr io.Writer) ([]byte, error) {
	if format != "h264" && format != "hevc" {
		return nil, fmt.Errorf("ffmpeg: unknown format %q", format)
	}
	cmd := exec.CommandContext(ctx, path, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
		"-f", format, "-i", "pipe:0", "-frames:v", "1", "-f", "image2", "-c:v", "mjpeg", "-q:v", "3", "pipe:1")
	cmd.Stdin = bytes.NewReader(annexB)
	out := &capped{max: max}
	cmd.Stdout, cmd.Stderr = out, stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ffmpeg failed: %w", err)
	}
	switch {
	case out.over:
		return nil, ErrTooLarge
	case !bytes.HasPrefix(out.b.Bytes(), []byte{0xff, 0xd8, 0xff}):
		return nil, errors.New("ffmpeg made no JPEG")
	}
	return out.b.Bytes(), nil
}

// capped keeps up to max bytes and notes whether more came; it accepts and
// drops the rest, so that the writer is never stalled.
type capped struct {
	b    bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.b.Len(); len(p) > room {
		c.over = true
		c.b.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.b.Write(p)
}

// AnnexB joins NAL units into an Annex-B stream.
func AnnexB(nalus ...[][]byte) []byte {
	var b bytes.Buffer
	for _, group := range nalus {
		for _, n := range group {
			if len(n) > 0 {
				b.Write([]byte{0, 0, 0, 1})
				b.Write(n)
			}
		}
	}
	return b.Bytes()
}
