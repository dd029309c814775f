// Package pki holds camvault's certificate authorities and private files:
// a CA kept as a certificate and a key, PEM files in a folder (made on
// first use with Open, or only loaded with Load; LoadCert reads the
// certificate alone, for a CA that only verifies), the server certificates
// it issues, and the atomic, private file writes every secret goes
// through. The device CA (package deviceca) and the self-signed TLS CA of
// `serve --tls-self-signed` are both built on it.
//
//	ca, err := pki.Open(dir, pki.Names{Cert: "ca.pem", Key: "ca-key.pem", CommonName: "camvault local CA"})
//	cert, err := ca.ServerCertificate("camvault server", []string{"localhost"}, 397*24*time.Hour, time.Now())
package pki

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
	"os"
	"path/filepath"
	"time"
)

// Names are a CA's file names in its folder and the name it is made with.
type Names struct {
	Cert, Key    string // file names, e.g. "ca.pem" and "ca-key.pem"
	CommonName   string
	Organization string
	// Lifetime of a new CA; 0 means 20 years.
	Lifetime time.Duration
}

// CA is a certificate authority.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer // nil: the CA verifies but cannot sign
	pool    *x509.CertPool
}

// ErrNoKey reports a signature asked of a CA loaded without its key.
var ErrNoKey = errors.New("pki: this CA holds no key: it verifies certificates, it cannot issue them")

// Open loads the CA kept in dir, making it on first use.
func Open(dir string, n Names) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, n.Cert)); errors.Is(err, os.ErrNotExist) {
		if err := create(dir, n, time.Now()); err != nil {
			return nil, err
		}
	}
	return Load(dir, n)
}

// Load opens the CA in dir without making one.
func Load(dir string, n Names) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, n.Cert))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, n.Key))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return Parse(certPEM, keyPEM)
}

// LoadCert opens the CA certificate in dir alone, without reading or
// needing the key: a CA that verifies certificates and issues none.
func LoadCert(dir string, n Names) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, n.Cert))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return ParseCert(certPEM)
}

// Parse reads a CA from its certificate and key (PKCS #8 or SEC 1 EC).
func Parse(certPEM, keyPEM []byte) (*CA, error) {
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, errors.New("pki: CA key file is not PEM")
	}
	ca, err := ParseCert(certPEM)
	if err != nil {
		return nil, err
	}
	if ca.key, err = ParsePrivateKey(kb.Bytes); err != nil {
		return nil, fmt.Errorf("pki: CA key: %w", err)
	}
	return ca, nil
}

// ParseCert reads a CA from its certificate alone; it cannot sign.
func ParseCert(certPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil {
		return nil, errors.New("pki: CA certificate file is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{cert: cert, certPEM: pem.EncodeToMemory(cb), pool: pool}, nil
}

// ParsePrivateKey reads a DER private key, PKCS #8 or SEC 1 EC.
func ParsePrivateKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, errors.New("pki: key cannot sign")
		}
		return s, nil
	}
	return x509.ParseECPrivateKey(der)
}

func create(dir string, n Names, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	life := n.Lifetime
	if life == 0 {
		life = 20 * 365 * 24 * time.Hour
	}
	subject := pkix.Name{CommonName: n.CommonName}
	if n.Organization != "" {
		subject.Organization = []string{n.Organization}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          Serial(),
		Subject:               subject,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(life),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("pki: create CA: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := WriteFile(filepath.Join(dir, n.Key), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return WriteFile(filepath.Join(dir, n.Cert), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// Cert returns the CA certificate.
func (ca *CA) Cert() *x509.Certificate { return ca.cert }

// CertPEM returns the CA certificate as PEM.
func (ca *CA) CertPEM() []byte { return ca.certPEM }

// Pool returns a pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool { return ca.pool }

// CanSign reports whether the CA holds its key.
func (ca *CA) CanSign() bool { return ca.key != nil }

// Sign issues tmpl for pub, its serial number set here and its end cut at
// the CA's own. It returns the certificate's DER.
func (ca *CA) Sign(tmpl *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	if ca.key == nil {
		return nil, ErrNoKey
	}
	tmpl.SerialNumber = Serial()
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: issue %s: %w", tmpl.Subject.CommonName, err)
	}
	return der, nil
}

// ServerCertificate issues a server certificate named name for hosts
// (names or IP addresses), valid for lifetime from now, with a fresh key.
func (ca *CA) ServerCertificate(name string, hosts []string, lifetime time.Duration, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(lifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := ca.Sign(tmpl, &key.PublicKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// Serial returns a random 127-bit certificate serial number.
func Serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// WriteFile writes data to path with mode perm atomically: a temporary
// file in the same folder, synced, then renamed into place. A crash
// leaves the old file or the new one.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteKeyPair writes c's certificate chain and private key as PEM files
// (the key in PKCS #8, mode 0600), atomically each, for servers that read
// their certificate from files.
func WriteKeyPair(certPath, keyPath string, c tls.Certificate) error {
	kder, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return fmt.Errorf("pki: key pair: %w", err)
	}
	if err := WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	var chain []byte
	for _, der := range c.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return WriteFile(certPath, chain, 0o644)
}
