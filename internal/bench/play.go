package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/camvault/camvault/internal/displaysim"
)

// onAU hears each received access unit and when it arrived.
type onAU func(nalus [][]byte, at time.Time)

// play receives an RTSP(S) stream over TCP for d.
func play(ctx context.Context, url string, pool *x509.CertPool, d time.Duration, got onAU) error {
	u, err := base.ParseURL(url)
	if err != nil {
		return err
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: ptr(gortsplib.ProtocolTCP), TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	if err := c.Start(); err != nil {
		return err
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		return err
	}
	var h264 *format.H264
	var h265 *format.H265
	var decode func(*rtp.Packet) ([][]byte, error)
	medi := desc.FindFormat(&h264)
	var forma format.Format = h264
	if medi != nil {
		dec, _ := h264.CreateDecoder()
		decode = dec.Decode
	} else if medi = desc.FindFormat(&h265); medi != nil {
		dec, _ := h265.CreateDecoder()
		decode, forma = dec.Decode, h265
	} else {
		return errors.New("no H.264 or H.265 video")
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return err
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		if au, err := decode(pkt); err == nil {
			got(au, time.Now())
		}
	})
	if _, err := c.Play(nil); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	return nil
}

// playWHEP receives a WHEP stream with a pion client for d.
func playWHEP(ctx context.Context, url string, _ *x509.CertPool, d time.Duration, got onAU) error {
	pc, err := displaysim.DialWHEP(ctx, url, func(au [][]byte) { got(au, time.Now()) })
	if err != nil {
		return err
	}
	defer pc.Close()
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	return nil
}
