package agent

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
)

// maxCoalesce bounds what a coalescing connection holds back.
const maxCoalesce = 256 << 10

// coalescer holds back the interleaved RTP packets of a picture and writes
// them with the picture's last packet (the one with the marker bit), so
// that a picture costs one TLS write — a few full records and system
// calls — instead of one per packet, on both ends. Anything else (RTSP
// requests, RTCP) is written at once, after what is held back.
type coalescer struct {
	net.Conn

	mu  sync.Mutex // guards buf and the writes
	buf []byte
}

func (c *coalescer) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if holdBack(b) && len(c.buf)+len(b) <= maxCoalesce {
		c.buf = append(c.buf, b...)
		return len(b), nil
	}
	if len(c.buf) == 0 {
		return c.Conn.Write(b)
	}
	c.buf = append(c.buf, b...)
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

// holdBack reports whether b is one interleaved RTP packet (an even
// channel) that does not end its picture.
func holdBack(b []byte) bool {
	const rtpStart = 4
	if len(b) < rtpStart+12 || b[0] != '$' || b[1]%2 != 0 {
		return false
	}
	if n := int(b[2])<<8 | int(b[3]); n != len(b)-rtpStart {
		return false
	}
	return b[rtpStart]>>6 == 2 && b[rtpStart+1]&0x80 == 0 // RTP version 2, no marker
}

// dialCoalescing returns a DialTLSContext for the push client: TLS with
// conf over TCP, coalescing pictures.
func dialCoalescing(conf *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := tls.Client(raw, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return &coalescer{Conn: tc}, nil
	}
}
