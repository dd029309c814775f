package displaysim

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"

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

// Playback is a running LL-HLS player that checks every frame.
type Playback struct {
	client *gohlslib.Client

	mu       sync.Mutex // guards the fields below
	verifier *videosig.Verifier
	frames   int
	err      error
}

// PlayHLS plays an LL-HLS stream URL of device and checks every access
// unit against the device's signing key, camera ID and generation, as
// SYNC described it. The device must be signed (an agent camera).
func PlayHLS(streamURL string, device smarthome.Device) (*Playback, error) {
	key, err := base64.StdEncoding.DecodeString(device.Attributes.DeviceKey)
	if err != nil || len(key) == 0 {
		return nil, errors.New("the device has no signing key: it cannot be checked")
	}
	p := &Playback{}
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
			v, err := videosig.NewVerifier(codec, key, domain.ID(device.ID), device.Attributes.Generation)
			if err != nil {
				return err
			}
			p.mu.Lock()
			p.verifier = v
			p.mu.Unlock()
			c.OnDataH26x(tr, func(_, _ int64, au [][]byte) { p.push(au) })
		}
		return nil
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	p.client = c
	return p, nil
}

func (p *Playback) push(au [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frames++
	if p.err != nil {
		return
	}
	if _, err := p.verifier.Push(au); err != nil {
		p.err = fmt.Errorf("%w: %v", ErrForeignFrame, err)
	}
}

// Stats returns the frames received, the GOPs verified, and the first
// verification failure.
func (p *Playback) Stats() (frames, gops int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.verifier != nil {
		gops = p.verifier.Verified()
	}
	return p.frames, gops, p.err
}

// Wait blocks until the player stops (the server ended the stream, or
// Close), and returns why.
func (p *Playback) Wait(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- p.client.Wait2() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the player.
func (p *Playback) Close() { p.client.Close() }
