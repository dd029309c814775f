package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/blob/s3"
	"github.com/camvault/camvault/internal/blob/s3/s3test"
	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/deviceca"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store/postgres/pgtest"
)

// roleConfig is a valid cluster node configuration for role on a fresh
// PostgreSQL schema, the test NATS server and a new bucket, with the
// cluster's secrets in secrets (made by MakeClusterSecrets) and the
// device CA in caDir. It skips t without PostgreSQL, NATS or versitygw.
func roleConfig(t *testing.T, role, secrets, caDir string) config.Config {
	t.Helper()
	natsURL := os.Getenv("CAMVAULT_TEST_NATS")
	if os.Getenv("CAMVAULT_TEST_POSTGRES") == "" || natsURL == "" {
		t.Skip("CAMVAULT_TEST_POSTGRES and CAMVAULT_TEST_NATS are not both set; skipping the node role test")
	}
	storeURL := pgtest.SchemaURL(t)
	bucket := s3test.Start(t)
	if _, err := s3.Open(context.Background(), bucket); err != nil { // creates it
		t.Fatal(err)
	}
	s3secret := filepath.Join(t.TempDir(), "s3-secret")
	if err := os.WriteFile(s3secret, []byte(bucket.SecretKey), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Devices.Listen = "127.0.0.1:0"
	cfg.Devices.IngestListen = "127.0.0.1:0"
	cfg.Live.RTSPListen = "127.0.0.1:0"
	cfg.Store = storeURL
	cfg.Bus = config.Bus{NATS: natsURL, Subject: "camvault.test." + string(domain.NewID())}
	cfg.Blob.S3 = config.S3{Endpoint: bucket.Endpoint, Bucket: bucket.Bucket, Insecure: true, AccessKey: bucket.AccessKey, SecretKeyFile: s3secret}
	cfg.Cluster = config.Cluster{Enabled: true, Role: role, ServerKeyFile: filepath.Join(secrets, "server.key"), DeviceCADir: caDir}
	if role != config.RoleMedia {
		cfg.Cluster.OAuthKeyFile = filepath.Join(secrets, "oauth.key")
	}
	if role == config.RoleAPI {
		cfg.Devices.URL = "wss://devices.example.org"
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// clusterSecrets makes a cluster's secrets and returns their folder and a
// copy of its device CA folder without the CA key, as a media node gets.
func clusterSecrets(t *testing.T) (secrets, mediaCA string) {
	t.Helper()
	secrets = filepath.Join(t.TempDir(), "secrets")
	if err := MakeClusterSecrets(secrets); err != nil {
		t.Fatal(err)
	}
	mediaCA = filepath.Join(t.TempDir(), "devices")
	if err := os.Mkdir(mediaCA, 0o700); err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir(filepath.Join(secrets, "devices"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Name() == deviceca.KeyFile {
			continue
		}
		b, err := os.ReadFile(filepath.Join(secrets, "devices", f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mediaCA, f.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return secrets, mediaCA
}

// TestMediaNodeWithoutCAKey: a media node given the device CA without its
// key (and no OAuth key) starts, answers /readyz, serves no API, and
// presents the server certificate made with the cluster's secrets on its
// device listener.
func TestMediaNodeWithoutCAKey(t *testing.T) {
	secrets, mediaCA := clusterSecrets(t)
	cfg := roleConfig(t, config.RoleMedia, secrets, mediaCA)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	var stderr bytes.Buffer
	n, err := build(ctx, Options{Config: cfg, Stderr: &stderr, Ready: func(u string) { ready <- u }})
	if err != nil {
		cancel()
		t.Fatalf("media node without the CA key: %v", err)
	}
	defer n.close()
	done := make(chan error, 1)
	go func() { done <- n.serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/api/v1/me": 404, "/": 404, "/oauth2/authorize": 404} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s at the media node: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if strings.Contains(stderr.String(), "setup") {
		t.Errorf("the media node printed a setup link: %s", stderr.String())
	}
	if n.devL == nil || n.liveL == nil {
		t.Fatal("the media node opened no device or viewer RTSPS listener")
	}

	// The device listener presents the certificate made beforehand.
	ca, err := deviceca.LoadCertificate(mediaCA)
	if err != nil {
		t.Fatal(err)
	}
	made, err := ca.LoadServerCertificate(mediaCA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var got *x509.Certificate
	conn, err := tls.Dial("tcp", n.devL.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost",
		VerifyConnection: func(cs tls.ConnectionState) error { got = cs.PeerCertificates[0]; return nil }})
	if conn != nil {
		conn.Close()
	}
	if got == nil {
		t.Fatalf("no certificate from the device listener: %v", err)
	}
	if !got.Equal(made.Leaf) {
		t.Fatal("the device listener presents another certificate than the one made with the cluster's secrets")
	}
}

// TestAPINodeNeedsCAKey: a node serving the API signs device certificates
// at enrolment, so without the CA key it refuses to start, saying so; with
// it, it opens no device, ingest or viewer RTSPS listener.
func TestAPINodeNeedsCAKey(t *testing.T) {
	secrets, mediaCA := clusterSecrets(t)
	cfg := roleConfig(t, config.RoleAPI, secrets, mediaCA)
	_, err := build(context.Background(), Options{Config: cfg})
	if err == nil || !strings.Contains(err.Error(), deviceca.KeyFile) || !strings.Contains(err.Error(), "signs device certificates") {
		t.Fatalf("api node without the CA key: %v", err)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the error does not say the key is missing: %v", err)
	}

	cfg.Cluster.DeviceCADir = filepath.Join(secrets, "devices")
	n, err := build(context.Background(), Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	if n.devL != nil || n.liveL != nil || n.devSrv != nil || n.hls != nil {
		t.Fatal("the api node opened a media part")
	}
	if n.devices.CA == nil || !n.devices.CA.CanIssue() || n.devices.URL != "wss://devices.example.org" {
		t.Fatalf("the api node cannot enrol devices: CA %v, URL %q", n.devices.CA, n.devices.URL)
	}
}
