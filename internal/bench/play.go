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
	v, err := watch(url, pool, got)
	if err != nil {
		return err
	}
	defer v.close()
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	return nil
}

// viewer is an RTSP(S) session that runs until the server ends it or
// close is called.
type viewer struct {
	c     *gortsplib.Client
	ended chan struct{} // closed when the session ends
	at    time.Time     // when it ended; read once ended is closed
}

// watch starts receiving an RTSP(S) stream over TCP and returns once it
// plays.
func watch(url string, pool *x509.CertPool, got onAU) (*viewer, error) {
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, err
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: ptr(gortsplib.ProtocolTCP), TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	if err := c.Start(); err != nil {
		return nil, err
	}
	fail := func(err error) (*viewer, error) {
		c.Close()
		return nil, err
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		return fail(err)
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
		return fail(errors.New("no H.264 or H.265 video"))
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return fail(err)
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		if au, err := decode(pkt); err == nil {
			got(au, time.Now())
		}
	})
	if _, err := c.Play(nil); err != nil {
		return fail(err)
	}
	v := &viewer{c: c, ended: make(chan struct{})}
	go func() {
		c.Wait()
		v.at = time.Now()
		close(v.ended)
	}()
	return v, nil
}

// close ends the session and waits for it to end.
func (v *viewer) close() {
	v.c.Close()
	<-v.ended
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
