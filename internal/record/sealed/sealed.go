// Package sealed encrypts recordings and snapshots at rest in chunks, so
// that playback can decrypt any byte range without the rest of the file.
//
// Format: a 76-byte header — magic "CVSEAL1\x00", the chunk size (uint32),
// the data key's ID (32 bytes, zero-padded) and a random 32-byte salt —
// then the chunks, each the AES-256-GCM sealing of up to chunk-size bytes
// plus its 16-byte tag. Each file gets its own key, HKDF-SHA256 of the
// data key over the salt, so nonces only need to be unique within a file:
// chunk i's nonce is i. The additional data of every chunk is the header,
// i, and whether it is the last chunk (the STREAM construction of Hoang,
// Reyhanitabar, Rogaway and Vizár), so chunks cannot be altered, moved,
// swapped between files, dropped from the end, or the file cut at a chunk
// boundary without the reader noticing.
package sealed

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Format constants.
const (
	HeaderSize       = 76
	DefaultChunkSize = 64 << 10
	MaxChunkSize     = 1 << 20
	KeyIDSize        = 32
	overhead         = 16 // the GCM tag
)

var magic = []byte("CVSEAL1\x00")

// Errors.
var (
	// ErrCorrupt means the file was altered, cut, or is not sealed with
	// this key: nothing of the affected range is returned.
	ErrCorrupt = errors.New("sealed: corrupt or not sealed with this key")
	ErrKeyID   = errors.New("sealed: a key ID is 1 to 32 bytes")
	ErrKeySize = errors.New("sealed: a data key is 32 bytes")
)

type header struct {
	raw       [HeaderSize]byte
	chunkSize int
	keyID     string
}

func newHeader(keyID string, chunkSize int) (header, error) {
	if keyID == "" || len(keyID) > KeyIDSize || bytes.IndexByte([]byte(keyID), 0) >= 0 {
		return header{}, ErrKeyID
	}
	if chunkSize <= 0 || chunkSize > MaxChunkSize {
		return header{}, fmt.Errorf("sealed: chunk size %d out of range", chunkSize)
	}
	h := header{chunkSize: chunkSize, keyID: keyID}
	copy(h.raw[:8], magic)
	binary.BigEndian.PutUint32(h.raw[8:12], uint32(chunkSize))
	copy(h.raw[12:12+KeyIDSize], keyID)
	if _, err := rand.Read(h.raw[44:76]); err != nil {
		return header{}, err
	}
	return h, nil
}

func parseHeader(b []byte) (header, error) {
	if len(b) < HeaderSize || !bytes.Equal(b[:8], magic) {
		return header{}, ErrCorrupt
	}
	var h header
	copy(h.raw[:], b)
	h.chunkSize = int(binary.BigEndian.Uint32(b[8:12]))
	id := bytes.TrimRight(b[12:12+KeyIDSize], "\x00")
	if h.chunkSize <= 0 || h.chunkSize > MaxChunkSize || len(id) == 0 || bytes.IndexByte(id, 0) >= 0 {
		return header{}, ErrCorrupt
	}
	h.keyID = string(id)
	return h, nil
}

// aead derives the file's key from the data key and the header's salt.
func (h *header) aead(dataKey []byte) (cipher.AEAD, error) {
	if len(dataKey) != 32 {
		return nil, ErrKeySize
	}
	key, err := hkdf.Key(sha256.New, dataKey, h.raw[44:76], "camvault sealed v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func nonce(i uint64) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n[4:], i)
	return n
}

func (h *header) ad(i uint64, last bool) []byte {
	ad := make([]byte, 0, HeaderSize+9)
	ad = append(ad, h.raw[:]...)
	ad = binary.BigEndian.AppendUint64(ad, i)
	if last {
		return append(ad, 1)
	}
	return append(ad, 0)
}

// Writer seals what is written to it. Close seals the last chunk; a file
// without it does not open.
type Writer struct {
	w    io.Writer
	h    header
	aead cipher.AEAD
	buf  []byte
	out  []byte
	i    uint64
	err  error
}

// NewWriter writes the header to w and returns a writer sealing with the
// data key named keyID, in chunks of chunkSize (0 means the default).
func NewWriter(w io.Writer, dataKey []byte, keyID string, chunkSize int) (*Writer, error) {
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	h, err := newHeader(keyID, chunkSize)
	if err != nil {
		return nil, err
	}
	a, err := h.aead(dataKey)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(h.raw[:]); err != nil {
		return nil, err
	}
	return &Writer{w: w, h: h, aead: a, buf: make([]byte, 0, chunkSize), out: make([]byte, 0, chunkSize+overhead)}, nil
}

// Write implements io.Writer. A full chunk is sealed only when more data
// follows it, since the last chunk is sealed differently.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == w.h.chunkSize {
			if err := w.seal(false); err != nil {
				return n, err
			}
		}
		k := copy(w.buf[len(w.buf):w.h.chunkSize], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

func (w *Writer) seal(last bool) error {
	w.out = w.aead.Seal(w.out[:0], nonce(w.i), w.buf, w.h.ad(w.i, last))
	if _, err := w.w.Write(w.out); err != nil {
		w.err = err
		return err
	}
	clear(w.buf)
	w.buf = w.buf[:0]
	w.i++
	return nil
}

// Close seals the last chunk (possibly empty). It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	err := w.seal(true)
	w.err = errors.New("sealed: writer closed")
	return err
}

// Reader decrypts byte ranges of a sealed file.
type Reader struct {
	r      io.ReaderAt
	h      header
	aead   cipher.AEAD
	chunks uint64 // including the last
	size   int64  // plaintext size
}

// KeyID returns the ID of the data key a sealed file names, so that the
// caller can find the key.
func KeyID(r io.ReaderAt) (string, error) {
	b := make([]byte, HeaderSize)
	if _, err := r.ReadAt(b, 0); err != nil {
		return "", ErrCorrupt
	}
	h, err := parseHeader(b)
	return h.keyID, err
}

// NewReader opens a sealed file of size bytes with its data key.
func NewReader(r io.ReaderAt, size int64, dataKey []byte) (*Reader, error) {
	b := make([]byte, HeaderSize)
	if size < HeaderSize+overhead {
		return nil, ErrCorrupt
	}
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, ErrCorrupt
	}
	h, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	a, err := h.aead(dataKey)
	if err != nil {
		return nil, err
	}
	body, stride := size-HeaderSize, int64(h.chunkSize+overhead)
	full, rem := body/stride, body%stride
	rd := &Reader{r: r, h: h, aead: a}
	switch {
	case rem == 0:
		rd.chunks, rd.size = uint64(full), full*int64(h.chunkSize)
	case rem < overhead:
		return nil, ErrCorrupt
	default:
		rd.chunks, rd.size = uint64(full)+1, full*int64(h.chunkSize)+rem-overhead
	}
	// The last chunk must say it is the last: a file cut at a chunk
	// boundary does not open.
	if _, err := rd.chunk(rd.chunks - 1); err != nil {
		return nil, err
	}
	return rd, nil
}

// Size returns the plaintext size.
func (r *Reader) Size() int64 { return r.size }

// chunk decrypts chunk i.
func (r *Reader) chunk(i uint64) ([]byte, error) {
	stride := int64(r.h.chunkSize + overhead)
	off := HeaderSize + int64(i)*stride
	n := stride
	last := i == r.chunks-1
	if last {
		n = HeaderSize + r.size + int64(r.chunks)*overhead - off
	}
	buf := make([]byte, n)
	if _, err := r.r.ReadAt(buf, off); err != nil && !(errors.Is(err, io.EOF) && last) {
		return nil, ErrCorrupt
	}
	p, err := r.aead.Open(buf[:0], nonce(i), buf, r.h.ad(i, last))
	if err != nil {
		return nil, ErrCorrupt
	}
	return p, nil
}

// ReadAt implements io.ReaderAt over the plaintext, decrypting only the
// chunks the range needs.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("sealed: negative offset")
	}
	n := 0
	cs := int64(r.h.chunkSize)
	for n < len(p) && off < r.size {
		i := uint64(off / cs)
		c, err := r.chunk(i)
		if err != nil {
			return n, err
		}
		k := copy(p[n:], c[off%cs:])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// SealedSize is the size of n plaintext bytes once sealed in chunks of
// chunkSize (0 means the default).
func SealedSize(n int64, chunkSize int) int64 {
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	chunks := (n + int64(chunkSize) - 1) / int64(chunkSize)
	if chunks == 0 {
		chunks = 1
	}
	return HeaderSize + n + chunks*overhead
}
