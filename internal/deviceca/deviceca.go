// Package deviceca is camvault's certificate authority for devices. At
// claim time a device gets a short-lived client certificate naming its
// camera and the camera's generation; the device listener accepts only
// certificates from this CA, and only while the generation they name is
// the camera's current one. The CA also issues the device listener's own
// server certificate, so an agent that learned the CA at enrolment trusts
// nothing else.
//
// The CA's key lives in the data dir with mode 0600 and never leaves it.
package deviceca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

// File names in the CA's directory.
const (
	certFile = "device-ca.pem"
	keyFile  = "device-ca-key.pem"
)

// Lifetimes.
const (
	caLifetime = 20 * 365 * 24 * time.Hour
	// DeviceLifetime is how long a device certificate is valid; agents
	// renew when a third of it is left.
	DeviceLifetime = 30 * 24 * time.Hour
	serverLifetime = 365 * 24 * time.Hour
)

// Identity is what a device certificate asserts: the camera it acts for
// and the ownership generation it was issued in.
type Identity struct {
	Camera     domain.ID
	Generation int64
}

// URI returns the identity as the URI carried in the certificate's subject
// alternative names.
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: "urn", Opaque: "camvault:camera:" + string(id.Camera) + ":gen:" + strconv.FormatInt(id.Generation, 10)}
}

// ErrNoIdentity reports a certificate that names no camera identity.
var ErrNoIdentity = errors.New("deviceca: certificate carries no camera identity")

// IdentityOf reads the identity from a device certificate.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	var found []Identity
	for _, u := range cert.URIs {
		rest, ok := strings.CutPrefix(u.Opaque, "camvault:camera:")
		if u.Scheme != "urn" || !ok {
			continue
		}
		id, gen, ok := strings.Cut(rest, ":gen:")
		n, err := strconv.ParseInt(gen, 10, 64)
		if !ok || err != nil || n < 1 || !domain.ValidID(id) {
			return Identity{}, ErrNoIdentity
		}
		found = append(found, Identity{Camera: domain.ID(id), Generation: n})
	}
	if len(found) != 1 {
		return Identity{}, ErrNoIdentity
	}
	return found[0], nil
}

// CA is the device certificate authority.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
	pool    *x509.CertPool
}

// Open loads the CA kept in dir, creating it on first use.
func Open(dir string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("deviceca: %w", err)
	}
	certPath, keyPath := filepath.Join(dir, certFile), filepath.Join(dir, keyFile)
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, os.ErrNotExist) {
		if err := create(certPath, keyPath); err != nil {
			return nil, err
		}
		certPEM, err = os.ReadFile(certPath)
	}
	if err != nil {
		return nil, fmt.Errorf("deviceca: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("deviceca: %w", err)
	}
	return parse(certPEM, keyPEM)
}

// Load opens the CA in dir without creating one: a cluster's nodes share
// a CA made once (Create), and a node that finds none must not make its
// own.
func Load(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, certFile))
	if err != nil {
		return nil, fmt.Errorf("deviceca: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, fmt.Errorf("deviceca: %w", err)
	}
	return parse(certPEM, keyPEM)
}

func parse(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("deviceca: CA files are not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("deviceca: CA certificate: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("deviceca: CA key: %w", err)
	}
	key, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("deviceca: CA key cannot sign")
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{cert: cert, certPEM: pem.EncodeToMemory(cb), key: key, pool: pool}, nil
}

func create(certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "camvault device CA", Organization: []string{"camvault"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFile writes atomically with mode.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("deviceca: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// CertPEM returns the CA certificate, which agents pin.
func (ca *CA) CertPEM() []byte { return ca.certPEM }

// Pool returns a pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool { return ca.pool }

// IssueDevice issues a client certificate for the device key pub, naming
// id, valid from now for DeviceLifetime. It returns the certificate PEM.
func (ca *CA) IssueDevice(pub crypto.PublicKey, id Identity, now time.Time) ([]byte, time.Time, error) {
	notAfter := now.Add(DeviceLifetime)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: string(id.Camera), Organization: []string{"camvault device"}},
		URIs:         []*url.URL{id.URI()},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("deviceca: issue: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), notAfter, nil
}

// ServerCertificate issues a fresh server certificate for the device
// listener, for hosts (names or IP addresses).
func (ca *CA) ServerCertificate(hosts []string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "camvault device endpoint"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("deviceca: server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Verify checks that chain[0] is a currently valid device certificate of
// this CA and returns its identity. Whether the identity is still current
// is for the caller to check against the store.
func (ca *CA) Verify(cert *x509.Certificate, now time.Time) (Identity, error) {
	_, err := cert.Verify(x509.VerifyOptions{Roots: ca.pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return Identity{}, fmt.Errorf("deviceca: %w", err)
	}
	return IdentityOf(cert)
}
