package agent

import (
	"bytes"
	"io"

	"github.com/camvault/camvault/internal/videosig"
)

// maxAUBytes bounds one access unit read from a live Annex-B stream; the
// server refuses larger ones too.
const maxAUBytes = 2 << 20

// annexBReader turns an Annex-B byte stream that arrives bit by bit (an
// encoder's stdout) into access units. It groups NAL units exactly as
// videosig.AccessUnits does with a whole stream; an access unit is
// complete when the first unit of the next one arrives, or at the end of
// the stream. Bytes before the first start code are skipped.
type annexBReader struct {
	r     io.Reader
	codec videosig.Codec
	max   int // bytes per access unit, and per NAL unit in flight

	buf    []byte // unread bytes; after a start code once synced
	scan   int    // where in buf to look for the next start code
	synced bool   // a start code was seen
	eof    bool
	chunk  []byte

	cur    [][]byte // the access unit being gathered
	size   int      // its bytes
	hasVCL bool     // it holds a slice
	rep    []byte   // a unit of cur that stands for it (its first slice, else its last unit)
}

func newAnnexBReader(r io.Reader, codec videosig.Codec, max int) *annexBReader {
	return &annexBReader{r: r, codec: codec, max: max, chunk: make([]byte, 64<<10)}
}

// next returns the next access unit. Its NAL units (without start codes)
// are never written again by the reader. The error is io.EOF at the end
// of the stream, errAccessUnitTooLarge for an access unit or NAL unit
// above the limit, or the underlying reader's error.
func (p *annexBReader) next() ([][]byte, error) {
	for {
		if i := bytes.Index(p.buf[p.scan:], []byte{0, 0, 1}); i >= 0 {
			at := p.scan + i
			var au [][]byte
			if p.synced {
				// Trailing zeros belong to a four-byte start code.
				nal := bytes.TrimRight(p.buf[:at], "\x00")
				var err error
				if au, err = p.add(nal[:len(nal):len(nal)]); err != nil {
					return nil, err
				}
			}
			p.buf, p.scan, p.synced = p.buf[at+3:], 0, true
			if au != nil {
				return au, nil
			}
			continue
		}
		if p.eof {
			return p.finish()
		}
		// Keep two bytes: they may begin a start code.
		p.scan = max(0, len(p.buf)-2)
		if !p.synced {
			p.buf = p.buf[p.scan:]
			p.scan = 0
		} else if len(p.buf) > p.max+2 {
			return nil, errAccessUnitTooLarge
		}
		n, err := p.r.Read(p.chunk)
		p.buf = append(p.buf, p.chunk[:n]...)
		switch {
		case err == io.EOF:
			p.eof = true
		case err != nil:
			return nil, err
		}
	}
}

// add appends a NAL unit and returns the access unit it completes, if it
// starts a new one.
func (p *annexBReader) add(nal []byte) ([][]byte, error) {
	if len(nal) < p.minNAL() {
		return nil, nil // a bare header at most: videosig skips these too
	}
	var done [][]byte
	if len(p.cur) > 0 && p.starts(nal) {
		done = p.cur
		p.cur, p.size, p.hasVCL, p.rep = nil, 0, false, nil
	}
	if p.size+len(nal) > p.max {
		return nil, errAccessUnitTooLarge
	}
	p.cur = append(p.cur, nal)
	p.size += len(nal)
	if !p.hasVCL {
		p.rep = nal
		p.hasVCL = videosig.IsVCL(p.codec, nal)
	}
	return done, nil
}

// minNAL is the shortest NAL unit kept: a header and one byte.
func (p *annexBReader) minNAL() int {
	if p.codec == videosig.H265 {
		return 3
	}
	return 2
}

// starts reports whether nal begins a new access unit after cur. It asks
// videosig.AccessUnits about the pair (a unit standing for cur, nal), so
// that a stream read piece by piece is grouped exactly like a whole one.
func (p *annexBReader) starts(nal []byte) bool {
	return len(videosig.AccessUnits(p.codec, [][]byte{p.rep, nal})) == 2
}

// finish hands out what is left at the end of the stream.
func (p *annexBReader) finish() ([][]byte, error) {
	if p.synced && len(p.buf) > 0 {
		nal := p.buf[:len(p.buf):len(p.buf)]
		p.buf, p.scan, p.synced = nil, 0, false
		if au, err := p.add(nal); err != nil || au != nil {
			return au, err
		}
	}
	if len(p.cur) > 0 {
		au := p.cur
		p.cur, p.size, p.hasVCL, p.rep = nil, 0, false, nil
		return au, nil
	}
	return nil, io.EOF
}
