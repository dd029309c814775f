// Package media is the stream hub: one upstream per camera generation, fanned
// out to any number of viewers, with the provenance guard that keeps P1 and
// P5 true by construction.
//
// Streams are keyed by origin — (camera, generation). Every access unit
// carries the origin it was ingested under, from the publisher to the last
// hop. A reader exists only for an authz.Grant, which only the policy can
// mint; before handing any access unit to its viewer the reader checks the
// unit's origin against the grant. A mismatch drops the unit, closes the
// reader and raises an alarm — it means a bug somewhere upstream, and the
// frame never leaves.
//
// The hub keeps the current GOP so that a new viewer starts at once on a
// keyframe. Each reader has a bounded queue: a slow viewer loses frames
// (counted, and resumed at the next keyframe so the picture stays
// decodable) and never slows the camera or other viewers. Streams start on
// demand: the hub asks the camera to stream when its first reader arrives
// and to stop some seconds after the last leaves.
//
// Typical use by a viewer adapter:
//
//	r, err := hub.AddReader(grant) // grant from the service, for "live"
//	defer r.Close()
//	for {
//		au, err := r.Read(ctx)
//		if err != nil { return err }
//		write(au) // to RTSP, WebRTC, HLS…
//	}
package media

import (
	"errors"
	"time"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/domain"
)

// Codec is a video codec.
type Codec = bitstream.Codec

// Codecs.
const (
	H264 = bitstream.H264
	H265 = bitstream.H265
)

// Track describes a stream's video.
type Track struct {
	Codec Codec
	// Parameter sets, as NAL units without start codes.
	VPS, SPS, PPS []byte
}

// AccessUnit is one picture's NAL units with its origin and timing.
type AccessUnit struct {
	// Origin is the camera and generation the unit was ingested under.
	Origin domain.CameraRef
	// PTS is the presentation time relative to the stream's start.
	PTS time.Duration
	// Capture is the wall-clock time the camera took the picture, when
	// known.
	Capture time.Time
	// Key reports a random access point (IDR / IRAP).
	Key bool
	// NALUs without start codes. Readers must not modify them.
	NALUs [][]byte
}

// Size is the unit's payload size in bytes.
func (au *AccessUnit) Size() int {
	n := 0
	for _, b := range au.NALUs {
		n += len(b)
	}
	return n
}

// Errors.
var (
	// ErrClosed: the reader or publisher was closed.
	ErrClosed = errors.New("media: closed")
	// ErrRevoked: the reader's access was withdrawn (revocation,
	// generation change, expired grant).
	ErrRevoked = errors.New("media: access revoked")
	// ErrProvenance: a unit of another origin reached the reader; it was
	// dropped and the reader closed.
	ErrProvenance = errors.New("media: provenance violation")
	// ErrNoGrant: the grant does not allow live viewing.
	ErrNoGrant = errors.New("media: grant does not allow live viewing")
	// ErrStreamEnded: the publisher ended for good (camera left).
	ErrStreamEnded = errors.New("media: stream ended")
	// ErrMoved: another node of the cluster serves the camera's stream
	// now; the viewer asks again for a stream to be sent there.
	ErrMoved = errors.New("media: the stream moved to another node")
	// ErrBitrate: the publisher sent more than the hub's bitrate cap and
	// was closed.
	ErrBitrate = errors.New("media: publisher above the bitrate cap")
	// ErrExpired: a renewable reader's grant ran out. It delivers
	// nothing until Renew gives it a current grant; it keeps its place in
	// the stream meanwhile.
	ErrExpired = errors.New("media: grant expired; renew it")
)

// Alarm describes a provenance violation.
type Alarm struct {
	Principal domain.ID
	Grant     domain.CameraRef
	Got       domain.CameraRef
	Time      time.Time
}

// Observer hears what the hub does; the server wires it to metrics, logs
// and the audit log. Methods must not block.
type Observer interface {
	// Dropped counts units a slow reader lost.
	Dropped(camera domain.ID, n int)
	// Delivered counts units and bytes handed to readers.
	Delivered(units, bytes int)
	// Provenance reports a violation: the unit was dropped and the
	// reader closed.
	Provenance(a Alarm)
	// Overrate reports a publisher closed for sending above the bitrate
	// cap.
	Overrate(camera domain.ID)
}

// Demand starts and stops cameras' upstreams on demand.
type Demand interface {
	// Want asks the camera to stream (first reader arrived).
	Want(camera domain.CameraRef)
	// Release says nobody needs the stream any more (after the linger).
	Release(camera domain.CameraRef)
}

type nopObserver struct{}

func (nopObserver) Dropped(domain.ID, int) {}
func (nopObserver) Delivered(int, int)     {}
func (nopObserver) Provenance(Alarm)       {}
func (nopObserver) Overrate(domain.ID)     {}

type nopDemand struct{}

func (nopDemand) Want(domain.CameraRef)    {}
func (nopDemand) Release(domain.CameraRef) {}
