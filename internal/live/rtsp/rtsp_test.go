package rtsp

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/camvault/camvault/internal/live"
	"github.com/camvault/camvault/internal/media"
)

// unpack reads interleaved RTP packets from b.
func unpack(t testing.TB, b []byte, channel int) []*rtp.Packet {
	t.Helper()
	var out []*rtp.Packet
	br := bufio.NewReader(bytes.NewReader(b))
	for {
		var f base.InterleavedFrame
		if err := f.Unmarshal(br); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("interleaved frame: %v", err)
		}
		if f.Channel != channel {
			continue
		}
		var p rtp.Packet
		if err := p.Unmarshal(f.Payload); err != nil {
			t.Fatalf("rtp: %v", err)
		}
		out = append(out, &p)
	}
}

// packetized collects what packetize writes, checking each write fits a
// TLS record and ends on a packet boundary.
func packetized(t testing.TB, p *packetizer, au *media.AccessUnit, channel int) []byte {
	t.Helper()
	var out []byte
	err := p.packetize(au, channel, false, time.Now(), func(b []byte) error {
		if len(b) > chunk {
			t.Fatalf("a write of %d bytes", len(b))
		}
		unpack(t, b, channel) // whole frames only
		out = append(out, b...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func nalus(codec media.Codec, sizes ...int) [][]byte {
	var out [][]byte
	for i, n := range sizes {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(i*7 + j)
		}
		if codec == media.H265 {
			b[0], b[1] = 1<<1, 1 // TRAIL_R, layer 0, tid 1
		} else {
			b[0] = 0x41 // non-IDR slice, NRI 2
		}
		out = append(out, b)
	}
	return out
}

// TestPacketizeRoundTrip: what the packetizer writes, a standard RTP
// depacketizer reads back unchanged, with continuous sequence numbers,
// one timestamp per picture and the marker on its last packet only.
func TestPacketizeRoundTrip(t *testing.T) {
	for _, codec := range []media.Codec{media.H264, media.H265} {
		t.Run(string(codec), func(t *testing.T) {
			var decode func(*rtp.Packet) ([][]byte, error)
			if codec == media.H265 {
				d, err := (&format.H265{PayloadTyp: 96}).CreateDecoder()
				if err != nil {
					t.Fatal(err)
				}
				decode = d.Decode
			} else {
				d, err := (&format.H264{PayloadTyp: 96, PacketizationMode: 1}).CreateDecoder()
				if err != nil {
					t.Fatal(err)
				}
				decode = d.Decode
			}
			p := newPacketizer(codec)
			var lastSeq uint16
			first := true
			for i, sizes := range [][]int{{20, 8, 5000}, {1400}, {1401}, {3, 2800, 1399, 9000}, {40000, 30}} {
				au := &media.AccessUnit{PTS: time.Duration(i) * time.Second / 15, NALUs: nalus(codec, sizes...)}
				pkts := unpack(t, packetized(t, p, au, 2), 2)
				var got [][]byte
				for j, pkt := range pkts {
					if !first && pkt.SequenceNumber != lastSeq+1 {
						t.Fatalf("sequence jumps from %d to %d", lastSeq, pkt.SequenceNumber)
					}
					first, lastSeq = false, pkt.SequenceNumber
					if pkt.Marker != (j == len(pkts)-1) {
						t.Fatalf("marker on packet %d of %d", j, len(pkts))
					}
					if pkt.Timestamp != pkts[0].Timestamp || len(pkt.Payload) > maxPayload {
						t.Fatalf("packet %d: timestamp %d, payload %d", j, pkt.Timestamp, len(pkt.Payload))
					}
					if out, err := decode(pkt); err == nil {
						got = out
					}
				}
				if len(got) != len(au.NALUs) {
					t.Fatalf("picture %d: %d NAL units back, want %d", i, len(got), len(au.NALUs))
				}
				for j := range got {
					if !bytes.Equal(got[j], au.NALUs[j]) {
						t.Fatalf("picture %d NAL unit %d differs", i, j)
					}
				}
			}
		})
	}
}

// FuzzPacketize: any picture is packetized without panicking, into
// packets of bounded size.
func FuzzPacketize(f *testing.F) {
	f.Add([]byte{0x65, 1, 2, 3}, uint16(3000), true)
	f.Add([]byte{}, uint16(0), false)
	f.Fuzz(func(t *testing.T, head []byte, big uint16, h265 bool) {
		codec := media.H264
		if h265 {
			codec = media.H265
		}
		au := &media.AccessUnit{NALUs: [][]byte{head, make([]byte, big), head}}
		for _, pkt := range unpack(t, packetized(t, newPacketizer(codec), au, 0), 0) {
			if len(pkt.Payload) > maxPayload {
				t.Fatalf("payload of %d bytes", len(pkt.Payload))
			}
		}
	})
}

// startServer serves plain RTSP (no TLS) with a redeemer that knows no
// credential.
func startServer(t testing.TB) string {
	t.Helper()
	return startServerWith(t, denyAll(), media.New(media.Config{}))
}

// startServerWith serves plain RTSP (no TLS) for rd on hub.
func startServerWith(t testing.TB, rd live.Redeemer, hub *media.Hub) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	v := live.New(live.Config{Hub: hub})
	t.Cleanup(v.Close)
	s, err := Start(Config{Redeemer: rd, Live: v}, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return l.Addr().String()
}

// exchange sends raw bytes and returns everything the server answers
// until it closes the connection or goes quiet.
func exchange(t testing.TB, addr, in string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, in)
	c.(*net.TCPConn).CloseWrite()
	out, _ := io.ReadAll(c)
	return string(out)
}

// TestRequests: the server answers what a player needs and refuses the
// rest, without a credential getting anyone a stream.
func TestRequests(t *testing.T) {
	addr := startServer(t)
	url := "rtsp://" + addr + "/cameras/"
	for _, tc := range []struct{ name, in, want string }{
		{"options", "OPTIONS rtsp://" + addr + "/ RTSP/1.0\r\nCSeq: 1\r\n\r\n", "RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE"},
		{"no token", "DESCRIBE " + url + "abcdefghijklmnopqrstuvwxyz RTSP/1.0\r\nCSeq: 2\r\n\r\n", "RTSP/1.0 401"},
		{"bad token", "DESCRIBE " + url + "abcdefghijklmnopqrstuvwxyz?token=cvl_nope RTSP/1.0\r\nCSeq: 2\r\n\r\n", "RTSP/1.0 401"},
		{"not a camera path", "DESCRIBE rtsp://" + addr + "/../etc RTSP/1.0\r\nCSeq: 2\r\n\r\n", "RTSP/1.0 404"},
		{"setup first", "SETUP " + url + "x/trackID=0 RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n", "RTSP/1.0 401"},
		{"play first", "PLAY " + url + "x RTSP/1.0\r\nCSeq: 4\r\n\r\n", "RTSP/1.0 455"},
		{"publish", "ANNOUNCE " + url + "x RTSP/1.0\r\nCSeq: 5\r\n\r\n", "RTSP/1.0 403"},
		{"unknown", "PAUSE " + url + "x RTSP/1.0\r\nCSeq: 6\r\n\r\n", "RTSP/1.0 501"},
		{"keep-alive without session", "GET_PARAMETER " + url + "x RTSP/1.0\r\nCSeq: 7\r\n\r\n", "RTSP/1.0 454"},
		{"garbage", "\x00\x01 hello\r\n\r\n", "RTSP/1.0 400"},
		{"oversized URL", "DESCRIBE rtsp://" + addr + "/" + strings.Repeat("a", 5000) + " RTSP/1.0\r\n\r\n", "RTSP/1.0 400"},
		{"interleaved then options", "$\x01\x00\x02hiOPTIONS rtsp://" + addr + "/ RTSP/1.0\r\nCSeq: 9\r\n\r\n", "RTSP/1.0 200 OK\r\nCSeq: 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exchange(t, addr, tc.in); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("got %q, want it to start %q", got, tc.want)
			}
		})
	}
}

// TestSetupTimeout: a connection that does not get to PLAY is closed.
func TestSetupTimeout(t *testing.T) {
	saved := setupTimeout
	t.Cleanup(func() { setupTimeout = saved }) // after the server stops
	setupTimeout = 200 * time.Millisecond
	addr := startServer(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("the server did not close the idle connection: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

// FuzzRequests: no input crashes the server or stops it answering the
// next client.
func FuzzRequests(f *testing.F) {
	addr := startServer(f)
	f.Add("OPTIONS rtsp://h/ RTSP/1.0\r\nCSeq: 1\r\n\r\n")
	f.Add("DESCRIBE rtsp://h/cameras/abcdefghijklmnopqrstuvwxyz?token=cvl_x RTSP/1.0\r\nCSeq: 2\r\n\r\nSETUP rtsp://h/cameras/abcdefghijklmnopqrstuvwxyz/trackID=0 RTSP/1.0\r\nTransport: RTP/AVP/TCP;interleaved=0-1\r\n\r\n")
	f.Add("PLAY rtsp://h/ RTSP/1.0\r\nSession: 1234;timeout=60\r\nContent-Length: 4\r\n\r\nabcd")
	f.Add("$\x00\xff\xffshort")
	f.Fuzz(func(t *testing.T, in string) {
		exchange(t, addr, in)
		if got := exchange(t, addr, "OPTIONS rtsp://h/ RTSP/1.0\r\nCSeq: 1\r\n\r\n"); !strings.HasPrefix(got, "RTSP/1.0 200") {
			t.Fatalf("the server stopped answering: %q", got)
		}
	})
}
