package videosig

import (
	"crypto"
	"time"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/domain"
)

// Signer adds signatures to one camera's stream.
type Signer struct {
	codec  Codec
	key    crypto.Signer
	camera domain.ID
	gen    int64

	seq   uint64
	prev  [32]byte // the chained hash of the last signed GOP
	cur   *gopHasher
	start time.Time
}

// NewSigner signs as camera at generation with the device key.
func NewSigner(codec Codec, key crypto.Signer, camera domain.ID, generation int64) *Signer {
	return &Signer{codec: codec, key: key, camera: camera, gen: generation}
}

// Sign takes one access unit (NAL units without start codes) taken at
// capture and returns the units to send: at the start of a GOP, with the
// SEI signing the previous GOP inserted before the first slice.
func (s *Signer) Sign(nalus [][]byte, capture time.Time) ([][]byte, error) {
	key := bitstream.HasKey(s.codec, nalus)
	out := nalus
	if key && s.cur != nil {
		c := Claim{Camera: s.camera, Generation: s.gen, Seq: s.seq, Capture: s.start,
			Frames: uint16(min(s.cur.frames, 65535)), Prev: s.prev, Hash: s.cur.chained(s.prev)}
		sig, err := sign(s.key, c.body())
		if err != nil {
			return nil, err
		}
		c.Signature = sig
		s.prev = c.Hash
		s.seq++
		out = insertBeforeVCL(s.codec, nalus, buildSEI(s.codec, c.payload()))
	}
	if key {
		s.cur = newGOPHasher()
		s.start = capture
	}
	if s.cur != nil {
		s.cur.add(stripOwn(s.codec, nalus))
	}
	return out, nil
}

// insertBeforeVCL puts sei before the first slice of the access unit.
func insertBeforeVCL(codec Codec, nalus [][]byte, sei []byte) [][]byte {
	out := make([][]byte, 0, len(nalus)+1)
	done := false
	for _, n := range nalus {
		if !done && bitstream.IsVCL(codec, n) {
			out = append(out, sei)
			done = true
		}
		out = append(out, n)
	}
	if !done {
		out = append(out, sei)
	}
	return out
}
