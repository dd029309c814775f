// Package deviceca is camvault's certificate authority for devices. At
// claim time a device gets a short-lived client certificate naming its
// camera and the camera's generation; the device listener accepts only
// certificates from this CA, and only while the generation they name is
// the camera's current one. The CA also issues the device listener's own
// server certificate, so an agent that learned the CA at enrolment trusts
// nothing else.
//
// The CA's key lives in the data dir with mode 0600 and never leaves it.
// In a cluster only the nodes that enrol devices hold it; the nodes that
// serve devices load the certificate alone (LoadCertificate) to verify
// them, and present a server certificate the CA issued beforehand
// (WriteServerCertificate, LoadServerCertificate).
package deviceca

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/pki"
)

// File names in the CA's directory.
const (
	certFile = "device-ca.pem"
	keyFile  = "device-ca-key.pem"
	// The device endpoints' server certificate, for nodes without the
	// CA key.
	serverCertFile = "device-server.pem"
	serverKeyFile  = "device-server-key.pem"
)

// KeyFile is the name of the CA key's file in the CA's directory: the
// one file a node that only serves devices must not be given.
const KeyFile = keyFile

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
	ca *pki.CA
}

var names = pki.Names{Cert: certFile, Key: keyFile, CommonName: "camvault device CA", Organization: "camvault", Lifetime: caLifetime}

// Open loads the CA kept in dir, creating it on first use.
func Open(dir string) (*CA, error) {
	ca, err := pki.Open(dir, names)
	if err != nil {
		return nil, fmt.Errorf("deviceca: %w", err)
	}
	return &CA{ca: ca}, nil
}

// Load opens the CA in dir without creating one: a cluster's nodes share
// a CA made once, and a node that finds none must not make its own.
func Load(dir string) (*CA, error) {
	ca, err := pki.Load(dir, names)
	if err != nil {
		return nil, fmt.Errorf("deviceca: %w", err)
	}
	return &CA{ca: ca}, nil
}

// LoadCertificate opens the CA certificate in dir without its key: the CA
// verifies device certificates but issues none, and dir need not hold the
// key at all.
func LoadCertificate(dir string) (*CA, error) {
	ca, err := pki.LoadCert(dir, names)
	if err != nil {
		return nil, fmt.Errorf("deviceca: %w", err)
	}
	return &CA{ca: ca}, nil
}

// CanIssue reports whether the CA holds its key and so can issue
// certificates.
func (ca *CA) CanIssue() bool { return ca.ca.CanSign() }

// CertPEM returns the CA certificate, which agents pin.
func (ca *CA) CertPEM() []byte { return ca.ca.CertPEM() }

// Pool returns a pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool { return ca.ca.Pool() }

// IssueDevice issues a client certificate for the device key pub, naming
// id, valid from now for DeviceLifetime. It returns the certificate PEM.
func (ca *CA) IssueDevice(pub crypto.PublicKey, id Identity, now time.Time) ([]byte, time.Time, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: string(id.Camera), Organization: []string{"camvault device"}},
		URIs:        []*url.URL{id.URI()},
		NotBefore:   now.Add(-5 * time.Minute),
		NotAfter:    now.Add(DeviceLifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := ca.ca.Sign(tmpl, pub)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("deviceca: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), tmpl.NotAfter, nil
}

// ServerCertificate issues a fresh server certificate for the device
// listener, for hosts (names or IP addresses).
func (ca *CA) ServerCertificate(hosts []string, now time.Time) (tls.Certificate, error) {
	return ca.ca.ServerCertificate("camvault device endpoint", hosts, serverLifetime, now)
}

// WriteServerCertificate issues a server certificate for hosts and writes
// it and its key into dir, for device endpoints on nodes that hold no CA
// key. It replaces the ones there.
func (ca *CA) WriteServerCertificate(dir string, hosts []string, now time.Time) error {
	cert, err := ca.ServerCertificate(hosts, now)
	if err != nil {
		return err
	}
	return pki.WriteKeyPair(filepath.Join(dir, serverCertFile), filepath.Join(dir, serverKeyFile), cert)
}

// LoadServerCertificate reads the server certificate WriteServerCertificate
// wrote into dir and checks that this CA issued it for servers and that it
// is valid at now.
func (ca *CA) LoadServerCertificate(dir string, now time.Time) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, serverCertFile), filepath.Join(dir, serverKeyFile)
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("deviceca: server certificate: %w", err)
	}
	if cert.Leaf == nil { // left unparsed under GODEBUG=x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("deviceca: server certificate: %w", err)
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return tls.Certificate{}, fmt.Errorf("deviceca: server certificate %s: %w", certPath, err)
	}
	return cert, nil
}

// Verify checks that chain[0] is a currently valid device certificate of
// this CA and returns its identity. Whether the identity is still current
// is for the caller to check against the store.
func (ca *CA) Verify(cert *x509.Certificate, now time.Time) (Identity, error) {
	_, err := cert.Verify(x509.VerifyOptions{Roots: ca.ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return Identity{}, fmt.Errorf("deviceca: %w", err)
	}
	return IdentityOf(cert)
}
