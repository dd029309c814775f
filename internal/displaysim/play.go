package displaysim

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/integrations/smarthome"
	"github.com/camvault/camvault/internal/videosig"
)

// ErrForeignFrame is a frame whose signed origin is not the camera the
// display asked for, or that does not verify: the failure the whole
// product exists to prevent.
var ErrForeignFrame = errors.New("a frame not signed by the camera asked for")

// Playback is a running LL-HLS or WebRTC player that checks every frame.
type Playback struct {
	closeFn func()
	done    chan struct{} // closed when the stream ended
	endOnce sync.Once
	key     []byte
	camera  domain.ID
	gen     int64

	mu       sync.Mutex // guards the fields below
	codec    videosig.Codec
	verifier *videosig.Verifier
	frames   int
	gops     int // verified by earlier verifiers, before a gap
	claims   int // GOP signatures that named this camera and verified
	gaps     int
	err      error
}

// Key is a device's signing key as SYNC gives it (PKIX DER).
func Key(device smarthome.Device) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(device.Attributes.DeviceKey)
	if err != nil || len(key) == 0 {
		return nil, errors.New("the device has no signing key: it cannot be checked")
	}
	return key, nil
}

// PlayHLS plays an LL-HLS stream URL of device and checks every access
// unit against the device's signing key, camera ID and generation, as
// SYNC described it. The device must be signed (an agent camera).
func PlayHLS(streamURL string, device smarthome.Device) (*Playback, error) {
	key, err := Key(device)
	if err != nil {
		return nil, err
	}
	return PlayHLSKey(streamURL, domain.ID(device.ID), device.Attributes.Generation, key)
}

// PlayHLSKey is PlayHLS with the camera, generation and key given by the
// caller (who may know them without trusting the server).
func PlayHLSKey(streamURL string, camera domain.ID, generation int64, key []byte) (*Playback, error) {
	if _, err := videosig.NewVerifier(videosig.H264, key, camera, generation); err != nil {
		return nil, err
	}
	p := &Playback{key: key, camera: camera, gen: generation, done: make(chan struct{})}
	quiet := func(string) {}
	c := &gohlslib.Client{URI: streamURL, OnDownloadPrimaryPlaylist: quiet, OnDownloadStreamPlaylist: quiet,
		OnDownloadSegment: quiet, OnDownloadPart: quiet}
	c.OnTracks = func(tracks []*gohlslib.Track) error {
		for _, tr := range tracks {
			codec := videosig.H264
			switch tr.Codec.(type) {
			case *codecs.H264:
			case *codecs.H265:
				codec = videosig.H265
			default:
				continue
			}
			v, _ := videosig.NewVerifier(codec, p.key, p.camera, p.gen)
			p.mu.Lock()
			p.codec, p.verifier = codec, v
			p.mu.Unlock()
			c.OnDataH26x(tr, func(_, _ int64, au [][]byte) { p.push(au) })
		}
		return nil
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	p.closeFn = c.Close
	go func() { c.Wait2(); p.end() }()
	return p, nil
}

// end marks the stream ended.
func (p *Playback) end() { p.endOnce.Do(func() { close(p.done) }) }

// push checks one access unit. A frame signed by another camera or key
// is a violation, and final; a gap (a lost part, a GOP cut short by a
// dropped connection) only restarts the check at the next keyframe.
func (p *Playback) push(au [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frames++
	if p.err != nil {
		return
	}
	claim, err := p.verifier.Push(au)
	switch {
	case err == nil:
		if claim != nil {
			p.claims++
		}
	case errors.Is(err, videosig.ErrCamera), errors.Is(err, videosig.ErrSignature), errors.Is(err, videosig.ErrMalformed):
		p.err = fmt.Errorf("%w: %v", ErrForeignFrame, err)
	default:
		// The claim named this camera and its signature verified
		// (checked first); the GOP it covers arrived incomplete.
		if errors.Is(err, videosig.ErrHash) || errors.Is(err, videosig.ErrChain) {
			p.claims++
		}
		p.gaps++
		p.gops += p.verifier.Verified()
		p.verifier, _ = videosig.NewVerifier(p.codec, p.key, p.camera, p.gen)
	}
}

// Stats returns the frames received, the GOPs verified, and the first
// violation.
func (p *Playback) Stats() (frames, gops int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	gops = p.gops
	if p.verifier != nil {
		gops += p.verifier.Verified()
	}
	return p.frames, gops, p.err
}

// Claims returns how many GOP signatures named this camera and verified
// against its key, whether or not their GOP then arrived whole.
func (p *Playback) Claims() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.claims
}

// Gaps returns how often the check restarted after lost video.
func (p *Playback) Gaps() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gaps
}

// Wait blocks until the stream ends (the server ended it, or Close) or
// ctx does.
func (p *Playback) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Watch lets the player play until it has verified gops GOPs, the
// stream ends, a violation shows, or limit passes.
func (p *Playback) Watch(ctx context.Context, limit time.Duration, gops int) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			if _, n, err := p.Stats(); n >= gops || err != nil {
				return
			}
		}
	}
}

// Close stops the player.
func (p *Playback) Close() {
	p.closeFn()
	p.end()
}

// CheckSnapshot verifies that a snapshot was signed by device (its key,
// camera ID and generation as SYNC described it).
func CheckSnapshot(jpeg []byte, device smarthome.Device) error {
	key, err := Key(device)
	if err != nil {
		return err
	}
	return CheckSnapshotKey(jpeg, domain.ID(device.ID), device.Attributes.Generation, key)
}

// CheckSnapshotKey is CheckSnapshot with the camera, generation and key
// given by the caller.
func CheckSnapshotKey(jpeg []byte, camera domain.ID, generation int64, key []byte) error {
	if _, err := videosig.VerifySnapshot(jpeg, key, camera, generation); err != nil {
		return fmt.Errorf("%w: %v", ErrForeignFrame, err)
	}
	return nil
}
