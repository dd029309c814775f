package domain

import "time"

// DataKey is a per-camera key that recordings and snapshots at rest are
// sealed with. The store keeps it only wrapped by the server key;
// destroying it (crypto-shredding) erases the wrapped material, after
// which nothing sealed with it can be read by anyone.
type DataKey struct {
	ID         ID
	CameraID   ID
	Generation int64
	// Wrapped is the key sealed with the server's key-encryption key;
	// empty once destroyed.
	Wrapped     []byte
	CreatedAt   time.Time
	DestroyedAt time.Time
}

// Destroyed reports whether the key was shredded.
func (k DataKey) Destroyed() bool { return !k.DestroyedAt.IsZero() }

// RecordingMode says when a camera records.
type RecordingMode string

// Recording modes.
const (
	// RecordOff keeps nothing.
	RecordOff RecordingMode = "off"
	// RecordContinuous keeps everything.
	RecordContinuous RecordingMode = "continuous"
	// RecordEvents keeps what happens around events (motion reported by
	// the camera, or a trigger through the API), with pre- and post-roll.
	RecordEvents RecordingMode = "events"
)

// Valid reports whether m is a known mode.
func (m RecordingMode) Valid() bool {
	return m == RecordOff || m == RecordContinuous || m == RecordEvents
}

// Recording defaults and bounds.
const (
	DefaultPreRoll      = 5 * time.Second
	DefaultPostRoll     = 10 * time.Second
	MaxRoll             = 60 * time.Second
	DefaultExportWindow = 7 * 24 * time.Hour
	MaxExportWindow     = 90 * 24 * time.Hour
	MaxRetainDays       = 3650
)

// RecordingSettings are one camera's recording choices. Zero retention
// limits mean none beyond the home's and the server's.
type RecordingSettings struct {
	CameraID    ID
	Mode        RecordingMode
	PreRoll     time.Duration
	PostRoll    time.Duration
	RetainDays  int
	RetainBytes int64
	UpdatedAt   time.Time
}

// DefaultRecordingSettings are a camera's settings before its owners
// choose: nothing is recorded until they do.
func DefaultRecordingSettings(camera ID) RecordingSettings {
	return RecordingSettings{CameraID: camera, Mode: RecordOff, PreRoll: DefaultPreRoll, PostRoll: DefaultPostRoll}
}

// HomeRecording are a home's limits over all its cameras' recordings, and
// how long a camera's recordings stay exportable after it leaves.
type HomeRecording struct {
	HomeID       ID
	RetainDays   int
	RetainBytes  int64
	ExportWindow time.Duration
	UpdatedAt    time.Time
}

// DefaultHomeRecording are a home's settings before its owners choose.
func DefaultHomeRecording(home ID) HomeRecording {
	return HomeRecording{HomeID: home, ExportWindow: DefaultExportWindow}
}

// Segment is a few seconds of one camera generation's video, a
// fragmented MP4 sealed with one of its data keys and kept in blob
// storage under BlobKey.
type Segment struct {
	ID         ID
	Camera     CameraRef
	HomeID     ID
	Start, End time.Time
	// Size is the plaintext size; InitSize the length of the fMP4
	// initialization block that starts it.
	Size, InitSize int64
	KeyID          ID
	BlobKey        string
	CreatedAt      time.Time
	// UploadingBy names the node storing the segment's bytes while it
	// does; empty once they are stored. Only stored segments are played,
	// exported or counted.
	UploadingBy string
}

// Purge is a camera generation's recordings waiting to be shredded.
type Purge struct {
	Camera    CameraRef
	HomeID    ID
	DueAt     time.Time
	CreatedAt time.Time
}
