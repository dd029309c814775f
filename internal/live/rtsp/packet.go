package rtsp

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/rtcp"

	"github.com/camvault/camvault/internal/media"
)

const (
	// payloadType is the RTP payload type of the video.
	payloadType = 96
	// maxPayload bounds an RTP payload so packets fit common MTUs even
	// when a client relays them over UDP.
	maxPayload = 1400
	// rtpHeader is the RTP header's size.
	rtpHeader = 12
	// chunk is how much is written at once: one full TLS record. A
	// picture goes out in as many writes as it needs records anyway, so
	// larger buffers would only cost memory.
	chunk = 16 << 10
)

// buffers are the write buffers, shared by all viewers: only viewers
// writing at the moment hold one.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, chunk+maxPayload+64); return &b }}

// packetizer turns access units into interleaved RTP packets (RFC 2326
// §10.12) of one viewer: H.264 per RFC 6184 (single NAL unit packets and
// FU-A), H.265 per RFC 7798 (single NAL unit packets and FU). It keeps
// the viewer's sequence number, SSRC and time base.
type packetizer struct {
	codec   media.Codec
	ssrc    uint32
	seq     uint16
	base    uint32 // RTP time of PTS 0
	ts      uint32 // RTP time of the last picture
	packets uint32
	octets  uint32

	// While packetizing: the buffer, where it goes when full, and the
	// first error writing it.
	buf   []byte
	write func([]byte) error
	err   error
}

func newPacketizer(codec media.Codec) *packetizer {
	return &packetizer{codec: codec, seq: uint16(rand.Uint32()), base: rand.Uint32(), ssrc: rand.Uint32()}
}

// packetize writes au as interleaved RTP packets on channel, in chunks of
// about one TLS record, with an RTCP sender report on channel+1 after it
// when sr is set. The last packet of the picture carries the marker bit.
func (p *packetizer) packetize(au *media.AccessUnit, channel int, sr bool, now time.Time, write func([]byte) error) error {
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	p.buf, p.write, p.err = (*bp)[:0], write, nil
	defer func() { *bp, p.buf, p.write = p.buf[:0], nil, nil }()
	p.ts = p.base + uint32(au.PTS*90000/time.Second)
	last := len(au.NALUs) - 1
	for last >= 0 && len(au.NALUs[last]) == 0 {
		last--
	}
	for i, nalu := range au.NALUs {
		if len(nalu) == 0 || i > last {
			continue
		}
		end := i == last
		if len(nalu) <= maxPayload {
			p.packet(channel, end, nil, nalu)
		} else {
			p.fragment(channel, end, nalu)
		}
	}
	if sr {
		p.senderReport(channel+1, now)
	}
	p.flush()
	return p.err
}

// flush writes what the buffer holds.
func (p *packetizer) flush() {
	if len(p.buf) > 0 && p.err == nil {
		p.err = p.write(p.buf)
	}
	p.buf = p.buf[:0]
}

// fragment splits one NAL unit into fragmentation units.
func (p *packetizer) fragment(channel int, end bool, nalu []byte) {
	var hdr [3]byte
	var hlen int
	var body []byte
	if p.codec == media.H265 {
		if len(nalu) < 3 {
			return
		}
		// PayloadHdr with type 49, then the FU header with the NAL type.
		hdr[0] = nalu[0]&0x81 | 49<<1
		hdr[1] = nalu[1]
		hdr[2] = (nalu[0] >> 1) & 0x3f
		hlen, body = 3, nalu[2:]
	} else {
		// FU indicator (NRI of the unit, type 28), then the FU header.
		hdr[0] = nalu[0]&0xe0 | 28
		hdr[1] = nalu[0] & 0x1f
		hlen, body = 2, nalu[1:]
	}
	fu := hlen - 1 // index of the FU header, where S and E go
	typ := hdr[fu]
	room := maxPayload - hlen
	for start := true; len(body) > 0; start = false {
		n := min(room, len(body))
		hdr[fu] = typ
		if start {
			hdr[fu] |= 0x80
		}
		if n == len(body) {
			hdr[fu] |= 0x40
		}
		p.packet(channel, end && n == len(body), hdr[:hlen], body[:n])
		body = body[n:]
	}
}

// packet appends one interleaved RTP packet whose payload is head+body,
// writing the buffer first when the packet would overflow the chunk.
func (p *packetizer) packet(channel int, marker bool, head, body []byte) {
	n := rtpHeader + len(head) + len(body)
	if len(p.buf)+4+n > chunk {
		p.flush()
	}
	m := byte(payloadType)
	if marker {
		m |= 0x80
	}
	b := append(p.buf, '$', byte(channel), byte(n>>8), byte(n), 0x80, m)
	b = binary.BigEndian.AppendUint16(b, p.seq)
	b = binary.BigEndian.AppendUint32(b, p.ts)
	b = binary.BigEndian.AppendUint32(b, p.ssrc)
	b = append(b, head...)
	p.buf = append(b, body...)
	p.seq++
	p.packets++
	p.octets += uint32(len(head) + len(body))
}

// senderReport appends an RTCP sender report on channel, tying the last
// picture's RTP time to the wall clock.
func (p *packetizer) senderReport(channel int, now time.Time) {
	sr := rtcp.SenderReport{SSRC: p.ssrc, NTPTime: ntp(now), RTPTime: p.ts, PacketCount: p.packets, OctetCount: p.octets}
	raw, err := sr.Marshal()
	if err != nil {
		return
	}
	p.buf = append(p.buf, '$', byte(channel), byte(len(raw)>>8), byte(len(raw)))
	p.buf = append(p.buf, raw...)
}

// ntp is t as a 64-bit NTP timestamp.
func ntp(t time.Time) uint64 {
	const epoch = 2208988800 // seconds from 1900 to 1970
	s := uint64(t.Unix()) + epoch
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return s<<32 | frac
}
