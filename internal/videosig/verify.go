package videosig

import (
	"crypto"
	"crypto/x509"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/domain"
)

// Verifier checks one stream against the key of the camera it claims to
// come from.
type Verifier struct {
	codec  Codec
	pub    crypto.PublicKey
	camera domain.ID
	gen    int64

	cur       *gopHasher // the GOP in progress, seen from its keyframe
	last      *Claim     // the last verified claim
	fromStart bool       // the first keyframe carried no claim: the stream's own start
	verified  int
}

// NewVerifier verifies a stream of camera at generation signed with the
// public key keyDER (PKIX DER).
func NewVerifier(codec Codec, keyDER []byte, camera domain.ID, generation int64) (*Verifier, error) {
	pub, err := x509.ParsePKIXPublicKey(keyDER)
	if err != nil {
		return nil, ErrBadKeyType
	}
	return &Verifier{codec: codec, pub: pub, camera: camera, gen: generation}, nil
}

// Verified returns how many GOPs verified so far.
func (v *Verifier) Verified() int { return v.verified }

// Push checks one access unit (NAL units without start codes). At the
// start of each GOP it verifies the GOP that just ended against the claim
// this unit carries, and returns that claim. A verifier that joined
// mid-GOP skips the partial GOP. Any error is final for the stream.
func (v *Verifier) Push(nalus [][]byte) (*Claim, error) {
	key := false
	var claim *Claim
	for _, n := range nalus {
		if bitstream.IsKey(v.codec, n) {
			key = true
		}
		c, ok, err := FindClaim(v.codec, n)
		if err != nil {
			return nil, err
		}
		if ok {
			if claim != nil {
				return nil, ErrMalformed
			}
			claim = &c
		}
	}
	if claim != nil && !key {
		return nil, ErrMalformed // signatures belong at GOP starts
	}
	var verified *Claim
	switch {
	case key && v.cur != nil && claim == nil:
		return nil, ErrUnsigned
	case key && v.cur != nil:
		if err := v.check(*claim); err != nil {
			return nil, err
		}
		verified = claim
	case claim != nil:
		// The first keyframe we see: its claim is about a GOP we did
		// not see whole, but its signature must still verify.
		if claim.Camera != v.camera || claim.Generation != v.gen {
			return nil, ErrCamera
		}
		if !verify(v.pub, claim.body(), claim.Signature) {
			return nil, ErrSignature
		}
		v.last = claim
	}
	if key {
		if v.cur == nil && claim == nil {
			v.fromStart = true
		}
		v.cur = newGOPHasher()
	}
	if v.cur != nil {
		v.cur.add(stripOwn(v.codec, nalus))
	}
	return verified, nil
}

// check verifies a claim about the GOP that just ended.
func (v *Verifier) check(c Claim) error {
	if c.Camera != v.camera || c.Generation != v.gen {
		return ErrCamera
	}
	if !verify(v.pub, c.body(), c.Signature) {
		return ErrSignature
	}
	switch {
	case v.last != nil && (c.Seq != v.last.Seq+1 || c.Prev != v.last.Hash):
		return ErrChain
	case v.last == nil && v.fromStart && (c.Seq != 0 || c.Prev != [32]byte{}):
		return ErrChain // the stream began here, so this must be its first GOP
	}
	if int(c.Frames) != v.cur.frames || v.cur.chained(c.Prev) != c.Hash {
		return ErrHash
	}
	v.last = &c
	v.verified++
	return nil
}
