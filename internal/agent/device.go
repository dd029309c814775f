package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/camvault/camvault/internal/bitstream"
)

// Capture devices are read through ffmpeg, which encodes them to H.264
// (Annex-B on its stdout) with a keyframe every deviceGOP; the agent
// splits that into access units as it comes and timestamps them with the
// wall clock. ffmpeg runs only while the server wants video: it stops
// with the push, and a push that failed starts it again after a backoff.

// Capture settings.
const (
	// deviceGOP is the keyframe interval of encoded capture.
	deviceGOP = 2 * time.Second
	// deviceStartTimeout bounds the wait for ffmpeg's first keyframe.
	deviceStartTimeout = 15 * time.Second
	// deviceQueue is how many access units wait for the push; when it
	// is behind, frames are dropped up to the next keyframe.
	deviceQueue = 8
	// maxDeviceSpec bounds a device source's text.
	maxDeviceSpec = 4096
	// maxAUBytes bounds one access unit read from ffmpeg; the server
	// refuses larger ones too.
	maxAUBytes = 2 << 20
)

// deviceFormat is an ffmpeg input format name.
var deviceFormat = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

// deviceInput reads a device source: "/dev/videoN" (any absolute path) is
// a V4L2 device; "FORMAT:INPUT" is any ffmpeg input, e.g.
// "lavfi:testsrc2=size=640x360:rate=15" or "avfoundation:0".
func deviceInput(spec string) (format, input string, err error) {
	if len(spec) > maxDeviceSpec {
		return "", "", errors.New("source: the device is too long")
	}
	if strings.HasPrefix(spec, "/") {
		return "v4l2", spec, nil
	}
	format, input, ok := strings.Cut(spec, ":")
	if !ok || !deviceFormat.MatchString(format) || input == "" {
		return "", "", fmt.Errorf("source: device %q: give device:/dev/videoN or device:FORMAT:INPUT (an ffmpeg input format and its input, e.g. device:lavfi:testsrc2)", redactURLs(spec))
	}
	return format, input, nil
}

// liveFormat reports an ffmpeg input format that delivers frames at its
// own pace (capture hardware, screens). Any other input — a generator
// like lavfi, a file — is read at real-time rate.
func liveFormat(format string) bool {
	switch format {
	case "v4l2", "video4linux2", "avfoundation", "dshow", "vfwcap", "x11grab", "gdigrab", "kmsgrab", "fbdev", "decklink", "android_camera":
		return true
	}
	return false
}

// deviceArgs is ffmpeg's command line: read the input, encode H.264
// main profile with a fixed GOP and no frame delay, write Annex-B to
// stdout as each frame is ready.
func deviceArgs(format, input string) []string {
	args := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"}
	if !liveFormat(format) {
		args = append(args, "-re")
	}
	return append(args, "-f", format, "-i", input,
		"-map", "0:v:0", "-an", "-sn", "-dn",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
		"-profile:v", "main", "-pix_fmt", "yuv420p", "-bf", "0",
		"-force_key_frames", fmt.Sprintf("expr:gte(t,n_forced*%g)", deviceGOP.Seconds()),
		"-g", "600", "-sc_threshold", "0",
		"-flush_packets", "1", "-f", "h264", "pipe:1")
}

// deviceFrames is a running ffmpeg capture.
type deviceFrames struct {
	log      *slog.Logger
	cancel   context.CancelFunc // stops ffmpeg
	closing  atomic.Bool        // close was called: ffmpeg's end is expected
	aus      chan deviceAU      // closed when the run ends, after err is set
	done     chan struct{}      // closed when ffmpeg was reaped
	err      error              // why the run ended; read after aus is closed
	first    *deviceAU          // the keyframe read while opening, not yet handed out
	sps, pps []byte
}

type deviceAU struct {
	nalus [][]byte
	pts   time.Duration
}

var _ frames = (*deviceFrames)(nil)

// openDevice starts ffmpeg on the device and waits for its first
// keyframe, whose parameter sets describe the stream.
func openDevice(ctx context.Context, spec string, log *slog.Logger) (frames, error) {
	format, input, err := deviceInput(spec)
	if err != nil {
		return nil, err
	}
	ffmpeg, err := lookFFmpeg()
	if err != nil {
		return nil, fmt.Errorf("source: %w (needed for capture devices)", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(rctx, ffmpeg, deviceArgs(format, input)...)
	tail := &stderrTail{}
	cmd.Stderr = tail
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("source: ffmpeg: %w", err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("source: start ffmpeg: %w", err)
	}
	f := &deviceFrames{log: log, cancel: cancel, aus: make(chan deviceAU, deviceQueue), done: make(chan struct{})}
	go f.run(rctx, cmd, out, tail)

	t := time.NewTimer(deviceStartTimeout)
	defer t.Stop()
	select {
	case au, ok := <-f.aus:
		if !ok {
			<-f.done
			return nil, fmt.Errorf("source: %w", f.err)
		}
		f.first = &au
	case <-t.C:
		f.close()
		return nil, fmt.Errorf("source: ffmpeg: %w", errNoKeyframe)
	case <-ctx.Done():
		f.close()
		return nil, ctx.Err()
	}
	_, f.sps, f.pps = bitstream.ParamSets(bitstream.H264, f.first.nalus)
	if f.sps == nil || f.pps == nil {
		f.close()
		return nil, errors.New("source: ffmpeg's first keyframe carries no parameter sets")
	}
	return f, nil
}

// run reads ffmpeg's stdout until it ends, then reaps ffmpeg.
func (f *deviceFrames) run(ctx context.Context, cmd *exec.Cmd, out io.Reader, tail *stderrTail) {
	defer close(f.done)
	r := bitstream.NewReader(out, bitstream.H264, maxAUBytes)
	var start time.Time
	waitKey, dropped := true, 0
	var err error
read:
	for {
		var au [][]byte
		if au, err = r.Next(); err != nil {
			break
		}
		if waitKey && !bitstream.HasKey(bitstream.H264, au) {
			continue
		}
		waitKey = false
		now := time.Now()
		if start.IsZero() {
			start = now
		}
		select {
		case f.aus <- deviceAU{nalus: au, pts: now.Sub(start)}:
		case <-ctx.Done():
			break read
		default:
			// The push is behind: skip to the next keyframe rather
			// than hold frames without end.
			waitKey = true
			dropped++
		}
	}
	stopped := ctx.Err() != nil // closed, or the push ended: ffmpeg was told to stop
	if err != io.EOF {
		f.cancel() // ffmpeg may still run: stop it
	}
	werr := cmd.Wait()
	f.cancel()
	switch {
	case errors.Is(err, bitstream.ErrTooLarge):
		f.err = fmt.Errorf("ffmpeg: %w", err)
		f.log.Warn("ffmpeg sent an access unit above the limit; stopped it", "limit_bytes", maxAUBytes)
	case stopped || f.closing.Load():
		f.err = errors.New("source closed")
	case werr != nil:
		f.err = fmt.Errorf("ffmpeg failed (%v)%s", werr, lastWords(tail))
		f.log.Warn("ffmpeg failed", "err", werr, "stderr", tail.String(), "dropped_frames", dropped)
	default:
		f.err = errors.New("ffmpeg ended: the input has no more video")
		f.log.Warn("ffmpeg ended", "stderr", tail.String(), "dropped_frames", dropped)
	}
	close(f.aus)
}

func (f *deviceFrames) codec() bitstream.Codec         { return bitstream.H264 }
func (f *deviceFrames) params() (vps, sps, pps []byte) { return nil, f.sps, f.pps }

// close stops ffmpeg and waits until it is gone.
func (f *deviceFrames) close() {
	f.closing.Store(true)
	f.cancel()
	<-f.done
}

func (f *deviceFrames) next(ctx context.Context) ([][]byte, time.Duration, error) {
	if au := f.first; au != nil {
		f.first = nil
		return au.nalus, au.pts, nil
	}
	select {
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	case au, ok := <-f.aus:
		if !ok {
			return nil, 0, f.err
		}
		return au.nalus, au.pts, nil
	}
}
