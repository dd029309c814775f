package bitstream

import (
	"bytes"
	"io"
)

// Reader turns an Annex-B byte stream that arrives bit by bit (an
// encoder's output) into access units, grouped exactly as SplitAnnexB and
// AccessUnits group the whole stream. An access unit is complete when the
// first NAL unit of the next one arrives, or at the end of the stream.
// Bytes before the first start code are skipped. A Reader is not safe for
// concurrent use.
type Reader struct {
	r   io.Reader
	max int // bytes per access unit, and per NAL unit in flight

	buf    []byte // unread bytes; after a start code once synced
	scan   int    // where in buf to look for the next start code
	synced bool   // a start code was seen
	eof    bool
	chunk  []byte

	g    grouper
	size int // bytes of the access unit being gathered
}

// NewReader reads codec's access units from r, refusing any above max
// bytes.
func NewReader(r io.Reader, codec Codec, max int) *Reader {
	return &Reader{r: r, max: max, chunk: make([]byte, 64<<10), g: grouper{codec: codec}}
}

// Next returns the next access unit. Its NAL units (without start codes)
// are never written again by the reader. The error is io.EOF at the end
// of the stream, ErrTooLarge for an access unit or NAL unit above the
// limit, or the underlying reader's error.
func (p *Reader) Next() ([][]byte, error) {
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
			return nil, ErrTooLarge
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

// add takes a NAL unit and returns the access unit it completes, if it
// starts a new one.
func (p *Reader) add(nal []byte) ([][]byte, error) {
	if !p.g.keeps(nal) {
		return nil, nil // a bare header at most: AccessUnits drops these too
	}
	size := p.size
	if p.g.splits(nal) {
		size = 0
	}
	if size+len(nal) > p.max {
		return nil, ErrTooLarge
	}
	done := p.g.add(nal)
	p.size = size + len(nal)
	return done, nil
}

// finish hands out what is left at the end of the stream.
func (p *Reader) finish() ([][]byte, error) {
	if p.synced && len(p.buf) > 0 {
		nal := p.buf[:len(p.buf):len(p.buf)]
		p.buf, p.scan, p.synced = nil, 0, false
		if au, err := p.add(nal); err != nil || au != nil {
			return au, err
		}
	}
	if au := p.g.flush(); au != nil {
		p.size = 0
		return au, nil
	}
	return nil, io.EOF
}
