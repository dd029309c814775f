package app

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/pki"
)

// selfSigned keeps a local CA in dir, made on first use, and issues the
// server a certificate from it for hosts at every start. It returns the
// TLS configuration and the CA's SHA-256 fingerprint, which people check
// once when their browser first meets the server.
func selfSigned(dir string, hosts []string, now time.Time) (*tls.Config, string, error) {
	ca, err := pki.Open(dir, pki.Names{Cert: "ca.pem", Key: "ca-key.pem", CommonName: "camvault local CA", Lifetime: 10 * 365 * 24 * time.Hour})
	if err != nil {
		return nil, "", fmt.Errorf("tls: %w", err)
	}
	pair, err := ca.ServerCertificate("camvault server", hosts, 397*24*time.Hour, now)
	if err != nil {
		return nil, "", fmt.Errorf("tls: %w", err)
	}
	sum := sha256.Sum256(ca.Cert().Raw)
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}, fingerprint(sum[:]), nil
}

func fingerprint(b []byte) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}
