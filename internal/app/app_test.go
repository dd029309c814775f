package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/config"
)

func TestRunServesOpsAndShutsDown(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Devices.Listen = "127.0.0.1:0"
	cfg.Devices.IngestListen = "127.0.0.1:0"
	cfg.Live.RTSPListen = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, Stderr: &stderr, Ready: func(u string) { ready <- u }})
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := get("/healthz"); resp.StatusCode != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get("/readyz"); resp.StatusCode != 200 {
		t.Fatalf("readyz: %d", resp.StatusCode)
	}
	resp, _ := get("/api/v1/me")
	if resp.StatusCode != 401 {
		t.Fatalf("anonymous /me: %d", resp.StatusCode)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("missing header %s", h)
		}
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("CSP: %s", resp.Header.Get("Content-Security-Policy"))
	}
	if resp, body := get("/metrics"); resp.StatusCode != 200 ||
		!strings.Contains(body, `camvault_http_requests_total{code="401",route="GET /api/v1/me"} 1`) ||
		!strings.Contains(body, "camvault_authz_denials_total") {
		t.Fatalf("metrics: %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(stderr.String(), "/setup#cvsetup_") {
		t.Fatalf("no setup link on stderr: %s", stderr.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no graceful shutdown")
	}
	fi, err := os.Stat(filepath.Join(cfg.DataDir, "secrets", "server.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("server key: %v %v", fi, err)
	}
}

func TestServerKeyStable(t *testing.T) {
	dir := t.TempDir()
	a, err := ServerKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ServerKey(dir)
	if err != nil || !bytes.Equal(a, b) || len(a) != 32 {
		t.Fatalf("key changed or wrong size: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets", "server.key"), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ServerKey(dir); err == nil {
		t.Fatal("corrupt key accepted")
	}
}
