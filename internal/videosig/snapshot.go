package videosig

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

// Snapshots are signed like video: the agent puts a JPEG comment segment
// (COM) right after the start-of-image marker, carrying camvault's UUID,
// the camera ID, generation and capture time, the SHA-256 of the picture
// without that segment, and a signature by the device key. Decoders skip
// comments, so the picture stays a plain JPEG.

// SnapshotClaim is what a snapshot's signature asserts.
type SnapshotClaim struct {
	Camera     domain.ID
	Generation int64
	Capture    time.Time
	Hash       [32]byte
	Signature  []byte
}

const snapshotVersion = 1

// Errors of snapshot verification.
var (
	ErrNotJPEG          = errors.New("videosig: not a JPEG")
	ErrUnsignedSnapshot = errors.New("videosig: the snapshot carries no camvault signature")
	ErrSnapshotMismatch = errors.New("videosig: the snapshot is not this camera's, or was altered")
)

func (c SnapshotClaim) body() []byte {
	b := make([]byte, 0, 16+1+26+8+8+32)
	b = append(b, UUID[:]...)
	b = append(b, snapshotVersion)
	id := make([]byte, 26)
	copy(id, c.Camera)
	b = append(b, id...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Generation))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Capture.UnixNano()))
	b = append(b, c.Hash[:]...)
	return b
}

// maxSignatureLen bounds a signature (ECDSA P-256 DER is at most 72
// bytes; Ed25519 64).
const maxSignatureLen = 128

// SignSnapshot returns jpeg with a signature segment for camera at
// generation, made at capture. An existing camvault segment is replaced.
func SignSnapshot(jpeg []byte, key crypto.Signer, camera domain.ID, generation int64, capture time.Time) ([]byte, error) {
	plain, _, err := splitSnapshot(jpeg)
	if err != nil && !errors.Is(err, ErrUnsignedSnapshot) {
		return nil, err
	}
	c := SnapshotClaim{Camera: camera, Generation: generation, Capture: capture, Hash: sha256.Sum256(plain)}
	sig, err := sign(key, c.body())
	if err != nil {
		return nil, err
	}
	payload := append(c.body(), byte(len(sig)))
	payload = append(payload, sig...)
	seg := []byte{0xff, 0xfe, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	out := make([]byte, 0, len(plain)+len(seg))
	out = append(out, plain[:2]...)
	out = append(out, seg...)
	return append(out, plain[2:]...), nil
}

// splitSnapshot returns the picture without camvault's segment, and the
// segment's payload (nil and ErrUnsignedSnapshot when there is none).
// Only the segment right after the start-of-image marker counts.
func splitSnapshot(jpeg []byte) (plain, payload []byte, err error) {
	if len(jpeg) < 4 || jpeg[0] != 0xff || jpeg[1] != 0xd8 {
		return nil, nil, ErrNotJPEG
	}
	if jpeg[2] != 0xff || jpeg[3] != 0xfe || len(jpeg) < 6 {
		return jpeg, nil, ErrUnsignedSnapshot
	}
	n := int(binary.BigEndian.Uint16(jpeg[4:6]))
	if n < 2 || 4+n > len(jpeg) {
		return nil, nil, ErrNotJPEG
	}
	payload = jpeg[6 : 4+n]
	if !bytes.HasPrefix(payload, UUID[:]) {
		return jpeg, nil, ErrUnsignedSnapshot
	}
	plain = make([]byte, 0, len(jpeg)-n-2)
	plain = append(plain, jpeg[:2]...)
	plain = append(plain, jpeg[4+n:]...)
	return plain, payload, nil
}

// ParseSnapshot reads a snapshot's claim without checking it.
func ParseSnapshot(jpeg []byte) (SnapshotClaim, []byte, error) {
	plain, p, err := splitSnapshot(jpeg)
	if err != nil {
		return SnapshotClaim{}, nil, err
	}
	const fixed = 16 + 1 + 26 + 8 + 8 + 32
	if len(p) < fixed+1 || p[16] != snapshotVersion {
		return SnapshotClaim{}, nil, ErrSnapshotMismatch
	}
	var c SnapshotClaim
	c.Camera = domain.ID(bytes.TrimRight(p[17:43], "\x00"))
	c.Generation = int64(binary.BigEndian.Uint64(p[43:51]))
	c.Capture = time.Unix(0, int64(binary.BigEndian.Uint64(p[51:59]))).UTC()
	copy(c.Hash[:], p[59:91])
	n := int(p[fixed])
	if n == 0 || n > maxSignatureLen || len(p) != fixed+1+n {
		return SnapshotClaim{}, nil, ErrSnapshotMismatch
	}
	c.Signature = p[fixed+1:]
	return c, plain, nil
}

// VerifySnapshot checks that jpeg was signed with the device key keyDER
// (PKIX DER) for camera at generation and not altered since.
func VerifySnapshot(jpeg, keyDER []byte, camera domain.ID, generation int64) (SnapshotClaim, error) {
	pub, err := x509.ParsePKIXPublicKey(keyDER)
	if err != nil {
		return SnapshotClaim{}, err
	}
	c, plain, err := ParseSnapshot(jpeg)
	if err != nil {
		return SnapshotClaim{}, err
	}
	if c.Camera != camera || c.Generation != generation || c.Hash != sha256.Sum256(plain) || !verify(pub, c.body(), c.Signature) {
		return c, ErrSnapshotMismatch
	}
	return c, nil
}
