package agent

import (
	"bytes"
	"net"
	"testing"
)

// countingConn records each write.
type countingConn struct {
	net.Conn
	writes [][]byte
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), b...))
	return len(b), nil
}

func rtpFrame(channel byte, marker bool, payload int) []byte {
	b := []byte{'$', channel, 0, 0, 0x80, 96}
	if marker {
		b[5] |= 0x80
	}
	b = append(b, make([]byte, 10+payload)...)
	n := len(b) - 4
	b[2], b[3] = byte(n>>8), byte(n)
	return b
}

// TestCoalescer: a picture's packets leave in one write at its marker;
// RTSP requests and RTCP leave at once, after what was held back; the
// bytes are unchanged and in order.
func TestCoalescer(t *testing.T) {
	cc := &countingConn{}
	c := &coalescer{Conn: cc}
	var want []byte
	send := func(b []byte) {
		want = append(want, b...)
		if n, err := c.Write(b); n != len(b) || err != nil {
			t.Fatalf("write: %d, %v", n, err)
		}
	}
	send(rtpFrame(0, false, 1400))
	send(rtpFrame(0, false, 1400))
	if len(cc.writes) != 0 {
		t.Fatal("a picture's first packets were written before its end")
	}
	send(rtpFrame(0, true, 300))
	if len(cc.writes) != 1 {
		t.Fatalf("%d writes for one picture", len(cc.writes))
	}
	send(rtpFrame(0, false, 100))
	send([]byte("GET_PARAMETER rtsps://h/ RTSP/1.0\r\n\r\n"))
	send(rtpFrame(1, false, 40)) // RTCP on the odd channel
	if len(cc.writes) != 3 {
		t.Fatalf("%d writes, want 3", len(cc.writes))
	}
	if got := bytes.Join(cc.writes, nil); !bytes.Equal(got, want) {
		t.Fatal("bytes changed or reordered")
	}
	// A picture larger than the bound is written in parts, not held.
	cc.writes = nil
	for range maxCoalesce/1400 + 10 {
		send(rtpFrame(0, false, 1400))
	}
	if len(cc.writes) == 0 {
		t.Fatal("held back more than the bound")
	}
}
