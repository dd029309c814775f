package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/netguard"
)

// Pull feeds the hub from an IP camera the server pulls over RTSP itself,
// under origin, until ctx ends or current reports that origin is no longer
// the camera's; it reconnects with backoff. Such video is
// unsigned. The source URL carries the camera's credentials: it is never
// logged.
func Pull(ctx context.Context, hub *media.Hub, origin domain.CameraRef, source string, nets netguard.Policy, log *slog.Logger, current func() bool) {
	backoff := time.Second
	for ctx.Err() == nil {
		if !current() {
			return // the camera is gone or changed hands
		}
		began := time.Now()
		err := pullOnce(ctx, hub, origin, source, nets)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > time.Minute {
			backoff = time.Second
		}
		log.Warn("pulled camera unreachable; retrying", "camera", origin.Camera, "in", backoff.String(), "err", safeErr(err, source))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// safeErr describes err without the URL (and so the credentials) that
// client errors may quote: the innermost cause, with anything of the
// source's user information blanked, at most 120 bytes.
func safeErr(err error, source string) string {
	if err == nil {
		return "stream ended"
	}
	if errors.Is(err, netguard.ErrRefused) {
		return "address not in live.pull_networks"
	}
	var uerr interface{ Unwrap() error }
	for errors.As(err, &uerr) && uerr.Unwrap() != nil {
		err = uerr.Unwrap()
	}
	msg := err.Error()
	if u, perr := url.Parse(source); perr == nil && u.User != nil {
		secrets := []string{u.User.String(), u.User.Username()}
		if pw, ok := u.User.Password(); ok {
			secrets = append(secrets, pw, url.QueryEscape(pw))
		}
		for _, x := range secrets {
			if x != "" {
				msg = strings.ReplaceAll(msg, x, "xxxxx")
			}
		}
	}
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}

func pullOnce(ctx context.Context, hub *media.Hub, origin domain.CameraRef, source string, nets netguard.Policy) error {
	u, err := base.ParseURL(source)
	if err != nil {
		return errors.New("bad source URL")
	}
	tcp := gortsplib.ProtocolTCP
	// Every connection is checked against the allowed networks at the
	// address actually dialled.
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp, DialContext: nets.DialContext}
	if err := c.Start(); err != nil {
		return err
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		return fmt.Errorf("describe failed")
	}
	var h264 *format.H264
	var h265 *format.H265
	var forma format.Format
	var decode func(*rtp.Packet) ([][]byte, error)
	var track media.Track
	codec := bitstream.H264
	medi := desc.FindFormat(&h264)
	if medi != nil {
		dec, err := h264.CreateDecoder()
		if err != nil {
			return err
		}
		forma, decode, track = h264, dec.Decode, media.Track{Codec: codec, SPS: h264.SPS, PPS: h264.PPS}
	} else if medi = desc.FindFormat(&h265); medi != nil {
		dec, err := h265.CreateDecoder()
		if err != nil {
			return err
		}
		codec = bitstream.H265
		forma, decode, track = h265, dec.Decode, media.Track{Codec: codec, VPS: h265.VPS, SPS: h265.SPS, PPS: h265.PPS}
	} else {
		return errors.New("the camera offers neither H.264 nor H.265")
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return fmt.Errorf("setup failed")
	}
	p := hub.Publish(origin, track)
	defer p.Close()
	var first uint32
	started := false
	failed := make(chan error, 1)
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		nalus, err := decode(pkt)
		if err != nil || len(nalus) == 0 {
			return
		}
		if !started {
			first, started = pkt.Timestamp, true
		}
		au := &media.AccessUnit{Origin: origin, PTS: time.Duration(pkt.Timestamp-first) * time.Second / 90000, Capture: time.Now(), Key: bitstream.HasKey(codec, nalus), NALUs: nalus}
		if err := p.Write(au); err != nil {
			select {
			case failed <- err:
			default:
			}
		}
	})
	if _, err := c.Play(nil); err != nil {
		return fmt.Errorf("play failed")
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-ctx.Done():
		return nil
	case err := <-done:
		return err
	case err := <-failed:
		return err
	}
}
