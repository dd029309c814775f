package domain

import "time"

// DataKey is a per-camera key that recordings and snapshots at rest are
// sealed with. The store keeps it only wrapped by the server key;
// destroying it (crypto-shredding) erases the wrapped material, after
// which nothing sealed with it can be read by anyone.
type DataKey struct {
	ID       ID
	CameraID ID
	// Wrapped is the key sealed with the server's key-encryption key;
	// empty once destroyed.
	Wrapped     []byte
	CreatedAt   time.Time
	DestroyedAt time.Time
}

// Destroyed reports whether the key was shredded.
func (k DataKey) Destroyed() bool { return !k.DestroyedAt.IsZero() }
