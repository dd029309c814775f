package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/camvault/camvault/internal/pki"
)

// Files in the state dir. All are private to the agent (mode 0600, the
// dir 0700).
const (
	keyFile    = "device-key.pem"
	certFile   = "device-cert.pem"
	serverFile = "server.json"
)

// serverState is what the agent learned from the server.
type serverState struct {
	CAPEM      string `json:"ca"`
	DeviceURL  string `json:"device_url"`
	CameraID   string `json:"camera_id"`
	Generation int64  `json:"generation,omitempty"`
	Name       string `json:"name,omitempty"`
}

// loadOrCreateKey returns the device key, creating it on first start.
func loadOrCreateKey(dir string) (*ecdsa.PrivateKey, bool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("state dir: %w", err)
	}
	path := filepath.Join(dir, keyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, false, fmt.Errorf("%s is not PEM; run `camvault agent reset` to start over", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		key, ok := k.(*ecdsa.PrivateKey)
		if !ok || key.Curve != elliptic.P256() {
			return nil, false, fmt.Errorf("%s: not an ECDSA P-256 key", path)
		}
		return key, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, false, err
	}
	if err := writePrivate(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// replaceKey drops the certificate and server state, and replaces the
// device key with a new one.
func replaceKey(dir string) (*ecdsa.PrivateKey, error) {
	for _, f := range []string{certFile, serverFile, keyFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove %s: %w", f, err)
		}
	}
	key, _, err := loadOrCreateKey(dir)
	return key, err
}

// identity is a device key with its public half in PKIX DER, which the
// server knows the device by.
type identity struct {
	key *ecdsa.PrivateKey
	der []byte
}

func newIdentity(key *ecdsa.PrivateKey) *identity {
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey) // a P-256 key always marshals
	return &identity{key: key, der: der}
}

// writePrivate writes a file atomically with mode 0600.
func writePrivate(path string, data []byte) error { return pki.WriteFile(path, data, 0o600) }

func loadServer(dir string) (serverState, error) {
	var s serverState
	b, err := os.ReadFile(filepath.Join(dir, serverFile))
	if err != nil {
		return s, err
	}
	err = json.Unmarshal(b, &s)
	return s, err
}

func saveServer(dir string, s serverState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writePrivate(filepath.Join(dir, serverFile), b)
}

// deviceCert is the agent's client certificate with its key.
type deviceCert struct {
	tls  tls.Certificate
	leaf *x509.Certificate
	key  *ecdsa.PrivateKey // the key the certificate is for, which signs video
}

func (c *deviceCert) expiresSoon(now time.Time) bool {
	life := c.leaf.NotAfter.Sub(c.leaf.NotBefore)
	return c.leaf.NotAfter.Sub(now) < life/3
}

func parseCert(certPEM []byte, key *ecdsa.PrivateKey) (*deviceCert, error) {
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		return nil, errors.New("certificate is not PEM")
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("certificate is not for this device's key")
	}
	return &deviceCert{tls: tls.Certificate{Certificate: [][]byte{blk.Bytes}, PrivateKey: key, Leaf: leaf}, leaf: leaf, key: key}, nil
}

func loadCert(dir string, key *ecdsa.PrivateKey) (*deviceCert, error) {
	b, err := os.ReadFile(filepath.Join(dir, certFile))
	if err != nil {
		return nil, err
	}
	return parseCert(b, key)
}

func saveCert(dir string, certPEM []byte) error {
	return writePrivate(filepath.Join(dir, certFile), certPEM)
}

func dropCert(dir string) {
	os.Remove(filepath.Join(dir, certFile))
}
