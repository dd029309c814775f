package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/camvault/camvault/internal/bitstream"
)

// rtspFrames reads a LAN IP camera over RTSP/RTSPS (credentials in the
// URL are used for the camera and never logged).
type rtspFrames struct {
	c             *gortsplib.Client
	cdc           bitstream.Codec
	vps, sps, pps []byte
	aus           chan rtspAU
	failed        chan error
}

type rtspAU struct {
	nalus [][]byte
	pts   time.Duration
}

func openRTSP(ctx context.Context, location string) (frames, error) {
	u, err := base.ParseURL(location)
	if err != nil {
		return nil, errors.New("source: not an RTSP URL")
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("source: describe: %s", redactSource(err.Error()))
	}
	f := &rtspFrames{c: c, aus: make(chan rtspAU, 64), failed: make(chan error, 1)}
	var h264 *format.H264
	var h265 *format.H265
	var decode func(*rtp.Packet) ([][]byte, error)
	medi := desc.FindFormat(&h264)
	var forma format.Format = h264
	if medi != nil {
		dec, err := h264.CreateDecoder()
		if err != nil {
			c.Close()
			return nil, err
		}
		f.cdc, f.sps, f.pps, decode = bitstream.H264, h264.SPS, h264.PPS, dec.Decode
	} else if medi = desc.FindFormat(&h265); medi != nil {
		dec, err := h265.CreateDecoder()
		if err != nil {
			c.Close()
			return nil, err
		}
		forma = h265
		f.cdc, f.vps, f.sps, f.pps, decode = bitstream.H265, h265.VPS, h265.SPS, h265.PPS, dec.Decode
	} else {
		c.Close()
		return nil, errors.New("source: the camera offers neither H.264 nor H.265")
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		c.Close()
		return nil, fmt.Errorf("source: setup: %w", err)
	}
	var first uint32
	started := false
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		nalus, err := decode(pkt)
		if err != nil || len(nalus) == 0 {
			return
		}
		// Time from the RTP clock (90 kHz for video), relative to the
		// first unit; wrap-around is handled by unsigned arithmetic.
		if !started {
			first, started = pkt.Timestamp, true
		}
		pts := time.Duration(pkt.Timestamp-first) * time.Second / 90000
		select {
		case f.aus <- rtspAU{nalus: nalus, pts: pts}:
		default: // the push is behind: drop rather than buffer without end
		}
	})
	if _, err := c.Play(nil); err != nil {
		c.Close()
		return nil, fmt.Errorf("source: play: %w", err)
	}
	go func() { f.failed <- c.Wait() }()
	return f, nil
}

func (f *rtspFrames) codec() bitstream.Codec         { return f.cdc }
func (f *rtspFrames) params() (vps, sps, pps []byte) { return f.vps, f.sps, f.pps }
func (f *rtspFrames) close()                         { f.c.Close() }

func (f *rtspFrames) next(ctx context.Context) ([][]byte, time.Duration, error) {
	select {
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	case err := <-f.failed:
		return nil, 0, fmt.Errorf("camera stream ended: %v", err)
	case au := <-f.aus:
		return au.nalus, au.pts, nil
	}
}
