package pki_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/pki"
)

var names = pki.Names{Cert: "ca.pem", Key: "ca-key.pem", CommonName: "test CA"}

// TestCA: a CA is made once and loaded after; its server certificates
// verify for their hosts; Load never makes one.
func TestCA(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.Load(dir, names); err == nil {
		t.Fatal("Load made a CA")
	}
	a, err := pki.Open(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pki.Open(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Cert().Equal(b.Cert()) {
		t.Fatal("a second Open made another CA")
	}
	if fi, err := os.Stat(filepath.Join(dir, names.Key)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	now := time.Now()
	cert, err := b.ServerCertificate("srv", []string{"localhost", "127.0.0.1"}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"localhost", "127.0.0.1"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: a.Pool(), CurrentTime: now}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: "example.org", Roots: a.Pool(), CurrentTime: now}); err == nil {
		t.Error("verifies for a host it does not name")
	}
}

// TestSEC1Key: a CA whose key was written as an SEC 1 EC key (as older
// releases wrote the TLS CA) still loads.
func TestSEC1Key(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.Open(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: pki.Serial(), IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, names.Cert), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, names.Key), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	again, err := pki.Load(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	if again.Cert().Equal(ca.Cert()) {
		t.Fatal("loaded the old CA")
	}
	if _, err := again.ServerCertificate("srv", []string{"localhost"}, time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestWriteFile: the file appears whole with its mode, and replaces the
// old one.
func TestWriteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	for _, data := range []string{"first", "second"} {
		if err := pki.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		fi, _ := os.Stat(p)
		if err != nil || string(b) != data || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%q %v %v", b, fi.Mode(), err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(p)); len(entries) != 1 {
		t.Fatalf("left %d files", len(entries))
	}
}

func TestWriteKeyPair(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.Open(filepath.Join(dir, "ca"), pki.Names{Cert: "ca.pem", Key: "ca-key.pem", CommonName: "test CA"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate("localhost", []string{"localhost", "127.0.0.1"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := pki.WriteKeyPair(certPath, keyPath, cert); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost"}); err != nil {
		t.Fatal(err)
	}
}

// TestLoadCertOnly: a CA loaded from its certificate alone, in a folder
// without the key, verifies what the CA issued and refuses to sign.
func TestLoadCertOnly(t *testing.T) {
	dir := t.TempDir()
	full, err := pki.Open(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, names.Key)); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.Load(dir, names); err == nil {
		t.Fatal("Load opened a CA without its key")
	}
	ca, err := pki.LoadCert(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	if ca.CanSign() || !full.CanSign() {
		t.Fatalf("CanSign: certificate only %v, with key %v", ca.CanSign(), full.CanSign())
	}
	now := time.Now()
	cert, err := full.ServerCertificate("srv", []string{"localhost"}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: ca.Pool(), CurrentTime: now}); err != nil {
		t.Fatalf("certificate-only CA does not verify its certificates: %v", err)
	}
	if _, err := ca.ServerCertificate("srv", []string{"localhost"}, time.Hour, now); !errors.Is(err, pki.ErrNoKey) {
		t.Fatalf("certificate-only CA signed: %v", err)
	}
}
