// Package videosig signs and verifies camera video. The agent adds to the
// first access unit of every GOP an SEI message (user_data_unregistered,
// with camvault's UUID) that signs the previous GOP: camera ID,
// generation, sequence number, capture time, frame count, and a SHA-256
// over that GOP's NAL units chained to the GOP before it, signed with the
// device key. The server verifies every stream against the key the camera
// enrolled with and refuses one that fails; `camvault verify` checks a
// capture or recording the same way.
//
// Signing the previous GOP keeps live latency unchanged: nothing waits for
// a GOP to end. A verifier therefore confirms GOP n when GOP n+1 starts;
// the server cuts a stream the moment a check fails.
package videosig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/domain"
)

// UUID identifies camvault's SEI messages.
var UUID = [16]byte{0xc4, 0xa7, 0xf0, 0xd2, 0x5b, 0x1e, 0x4e, 0x8a, 0x9c, 0x3f, 0x6d, 0x2b, 0x8a, 0x1e, 0x7f, 0x40}

const version = 1

// Claim is what one SEI message asserts about the GOP before it.
type Claim struct {
	Camera     domain.ID
	Generation int64
	Seq        uint64
	Capture    time.Time // the signed GOP's first frame
	Frames     uint16
	Prev       [32]byte // chain: the hash of the GOP before the signed one
	Hash       [32]byte // the signed GOP's hash, chained to Prev
	Signature  []byte
}

// body is the signed part of the payload.
func (c Claim) body() []byte {
	b := make([]byte, 0, 16+1+26+8+8+8+2+64)
	b = append(b, UUID[:]...)
	b = append(b, version)
	id := make([]byte, 26)
	copy(id, c.Camera)
	b = append(b, id...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Generation))
	b = binary.BigEndian.AppendUint64(b, c.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Capture.UnixNano()))
	b = binary.BigEndian.AppendUint16(b, c.Frames)
	b = append(b, c.Prev[:]...)
	b = append(b, c.Hash[:]...)
	return b
}

func (c Claim) payload() []byte {
	b := c.body()
	b = append(b, byte(len(c.Signature)))
	return append(b, c.Signature...)
}

// Errors.
var (
	ErrMalformed  = errors.New("videosig: malformed signature message")
	ErrSignature  = errors.New("videosig: signature does not verify")
	ErrCamera     = errors.New("videosig: signed by another camera or generation")
	ErrHash       = errors.New("videosig: video does not match its signature (tampered or incomplete)")
	ErrChain      = errors.New("videosig: gap or reordering in the signed sequence")
	ErrUnsigned   = errors.New("videosig: a GOP arrived without a signature")
	ErrBadKeyType = errors.New("videosig: unsupported key")
)

const bodyLen = 16 + 1 + 26 + 8 + 8 + 8 + 2 + 32 + 32

// parseClaim reads a camvault SEI payload (starting with UUID).
func parseClaim(p []byte) (Claim, error) {
	var c Claim
	if len(p) < bodyLen+1 || !bytes.Equal(p[:16], UUID[:]) || p[16] != version {
		return c, ErrMalformed
	}
	id := bytes.TrimRight(p[17:43], "\x00")
	if !domain.ValidID(string(id)) {
		return c, ErrMalformed
	}
	c.Camera = domain.ID(id)
	o := 43
	c.Generation = int64(binary.BigEndian.Uint64(p[o:]))
	c.Seq = binary.BigEndian.Uint64(p[o+8:])
	c.Capture = time.Unix(0, int64(binary.BigEndian.Uint64(p[o+16:]))).UTC()
	c.Frames = binary.BigEndian.Uint16(p[o+24:])
	copy(c.Prev[:], p[o+26:o+58])
	copy(c.Hash[:], p[o+58:o+90])
	n := int(p[bodyLen])
	if len(p) != bodyLen+1+n || n == 0 {
		return c, ErrMalformed
	}
	c.Signature = p[bodyLen+1:]
	return c, nil
}

// FindClaim returns the camvault claim in an SEI NAL unit, if any.
func FindClaim(codec Codec, nalu []byte) (Claim, bool, error) {
	if !bitstream.IsSEI(codec, nalu) {
		return Claim{}, false, nil
	}
	msgs, err := parseSEI(codec, nalu)
	if err != nil {
		return Claim{}, false, err
	}
	for _, m := range msgs {
		if m.typ == 5 && len(m.payload) >= 16 && bytes.Equal(m.payload[:16], UUID[:]) {
			c, err := parseClaim(m.payload)
			return c, true, err
		}
	}
	return Claim{}, false, nil
}

// gopHasher hashes a GOP's NAL units. The GOP's chained hash is
// SHA-256("camvault gop v1" || prev || inner), where inner hashes the
// length-prefixed NAL units, so a verifier that joins mid-chain can still
// check a GOP once the claim names prev.
type gopHasher struct {
	h      hash.Hash
	frames int
}

func newGOPHasher() *gopHasher { return &gopHasher{h: sha256.New()} }

func (g *gopHasher) add(nalus [][]byte) {
	var l [4]byte
	for _, n := range nalus {
		binary.BigEndian.PutUint32(l[:], uint32(len(n)))
		g.h.Write(l[:])
		g.h.Write(n)
	}
	g.frames++
}

// chained returns the GOP's hash chained to prev.
func (g *gopHasher) chained(prev [32]byte) (out [32]byte) {
	h := sha256.New()
	h.Write([]byte("camvault gop v1\x00"))
	h.Write(prev[:])
	h.Write(g.h.Sum(nil))
	copy(out[:], h.Sum(nil))
	return out
}

// sign signs msg with key (ECDSA P-256 over SHA-256, or Ed25519).
func sign(key crypto.Signer, msg []byte) ([]byte, error) {
	if _, ok := key.(ed25519.PrivateKey); ok {
		return key.Sign(nil, msg, crypto.Hash(0))
	}
	sum := sha256.Sum256(msg)
	return key.Sign(nil, sum[:], crypto.SHA256)
}

func verify(pub crypto.PublicKey, msg, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		sum := sha256.Sum256(msg)
		return ecdsa.VerifyASN1(k, sum[:], sig)
	case ed25519.PublicKey:
		return ed25519.Verify(k, msg, sig)
	}
	return false
}

// ownSEI reports whether nalu is a camvault signature SEI (which GOP hashes
// leave out, since it is added after hashing).
func ownSEI(codec Codec, nalu []byte) bool {
	_, ok, _ := FindClaim(codec, nalu)
	return ok
}

// stripOwn returns nalus without camvault SEI units.
func stripOwn(codec Codec, nalus [][]byte) [][]byte {
	out := nalus[:0:0]
	for _, n := range nalus {
		if !ownSEI(codec, n) {
			out = append(out, n)
		}
	}
	return out
}

// String describes a claim for reports.
func (c Claim) String() string {
	return fmt.Sprintf("camera %s generation %d GOP %d (%d frames from %s)", c.Camera, c.Generation, c.Seq, c.Frames, c.Capture.Format(time.RFC3339Nano))
}
