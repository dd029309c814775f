package deviceca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

func TestIssueAndVerify(t *testing.T) {
	dir := t.TempDir()
	ca, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode: %v %v", fi.Mode(), err)
	}
	again, err := Open(dir)
	if err != nil || string(again.CertPEM()) != string(ca.CertPEM()) {
		t.Fatalf("reopened CA differs: %v", err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	id := Identity{Camera: domain.NewID(), Generation: 3}
	now := time.Now()
	certPEM, notAfter, err := ca.IssueDevice(&key.PublicKey, id, now)
	if err != nil {
		t.Fatal(err)
	}
	if d := notAfter.Sub(now); d != DeviceLifetime {
		t.Fatalf("lifetime %v", d)
	}
	b, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ca.Verify(cert, now)
	if err != nil || got != id {
		t.Fatalf("Verify = %+v, %v; want %+v", got, err, id)
	}
	if _, err := ca.Verify(cert, notAfter.Add(time.Minute)); err == nil {
		t.Fatal("an expired certificate verified")
	}
	// Another CA's certificate does not verify.
	other, _ := Open(t.TempDir())
	otherPEM, _, _ := other.IssueDevice(&key.PublicKey, id, now)
	ob, _ := pem.Decode(otherPEM)
	oc, _ := x509.ParseCertificate(ob.Bytes)
	if _, err := ca.Verify(oc, now); err == nil {
		t.Fatal("another CA's certificate verified")
	}
	// The server certificate is not a client certificate.
	srv, err := ca.ServerCertificate([]string{"localhost", "127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := x509.ParseCertificate(srv.Certificate[0])
	if _, err := ca.Verify(sc, now); err == nil {
		t.Fatal("the server certificate verified as a device certificate")
	}
	if _, err := sc.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost"}); err != nil {
		t.Fatalf("server certificate: %v", err)
	}
}

func TestIdentityOf(t *testing.T) {
	id := Identity{Camera: domain.NewID(), Generation: 12}
	got, err := IdentityOf(&x509.Certificate{URIs: []*url.URL{id.URI()}})
	if err != nil || got != id {
		t.Fatalf("IdentityOf = %+v, %v; want %+v", got, err, id)
	}
	parse := func(s string) *url.URL { u, _ := url.Parse(s); return u }
	for name, uris := range map[string][]*url.URL{
		"none":         nil,
		"two":          {id.URI(), Identity{Camera: domain.NewID(), Generation: 1}.URI()},
		"bad id":       {parse("urn:camvault:camera:NOT-AN-ID:gen:1")},
		"zero gen":     {parse("urn:camvault:camera:" + string(id.Camera) + ":gen:0")},
		"negative gen": {parse("urn:camvault:camera:" + string(id.Camera) + ":gen:-4")},
		"garbage gen":  {parse("urn:camvault:camera:" + string(id.Camera) + ":gen:x")},
		"no gen":       {parse("urn:camvault:camera:" + string(id.Camera))},
	} {
		if _, err := IdentityOf(&x509.Certificate{URIs: uris}); err == nil {
			t.Errorf("%s: identity accepted", name)
		}
	}
}

// TestCertificateOnly: a node given the CA certificate without its key
// verifies device certificates, issues none, and presents the server
// certificate made beforehand by the CA; a server certificate of another
// CA is refused.
func TestCertificateOnly(t *testing.T) {
	dir := t.TempDir()
	full, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := full.WriteServerCertificate(dir, []string{"devices.example.org", "127.0.0.1"}, now); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, serverKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("server key mode: %v %v", fi, err)
	}
	if err := os.Remove(filepath.Join(dir, KeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Fatal("Load opened the CA without its key")
	}
	ca, err := LoadCertificate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ca.CanIssue() || !full.CanIssue() {
		t.Fatalf("CanIssue: certificate only %v, with key %v", ca.CanIssue(), full.CanIssue())
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	id := Identity{Camera: domain.NewID(), Generation: 1}
	certPEM, _, err := full.IssueDevice(&key.PublicKey, id, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(certPEM)
	cert, _ := x509.ParseCertificate(b.Bytes)
	if got, err := ca.Verify(cert, now); err != nil || got != id {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	if _, _, err := ca.IssueDevice(&key.PublicKey, id, now); err == nil {
		t.Fatal("a CA without its key issued a device certificate")
	}
	srv, err := ca.LoadServerCertificate(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "devices.example.org", CurrentTime: now}); err != nil {
		t.Fatalf("server certificate: %v", err)
	}
	if _, err := ca.LoadServerCertificate(dir, now.Add(2*serverLifetime)); err == nil {
		t.Fatal("an expired server certificate loaded")
	}
	other, _ := Open(t.TempDir())
	if _, err := other.LoadServerCertificate(dir, now); err == nil {
		t.Fatal("another CA accepted the server certificate")
	}
}
