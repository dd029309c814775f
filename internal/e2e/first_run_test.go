package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFirstRun: from an empty data dir the setup link is printed, works
// once and is refused the second time; nothing can log in before it; a
// restart with an account prints no link.
func TestFirstRun(t *testing.T) {
	dataDir := t.TempDir()
	s := startBinServer(t, dataDir)
	if s.setup == "" {
		t.Fatalf("no setup link printed; stderr:\n%s", s.stderr.String())
	}
	_, token, _ := strings.Cut(s.setup, "#")
	if len(token) < len("cvsetup_")+22 {
		t.Fatalf("setup token too short: %d chars", len(token))
	}
	if strings.Count(s.stderr.String(), token) != 1 {
		t.Fatalf("setup token printed more than once")
	}

	login := map[string]any{"email": "ana@example.org", "password": password}
	if code, _ := post(t, s.url+"/api/v1/login", login, ""); code != http.StatusUnauthorized {
		t.Fatalf("login before setup: %d, want 401", code)
	}
	setup := map[string]any{"setup_token": token, "email": "ana@example.org", "password": password, "home_name": "Ana's home"}
	if code, body := post(t, s.url+"/api/v1/setup", map[string]any{"setup_token": token + "x", "email": "x@example.org", "password": password, "home_name": "x"}, ""); code != http.StatusNotFound {
		t.Fatalf("setup with a wrong token: %d %v", code, body)
	}
	code, body := post(t, s.url+"/api/v1/setup", setup, "")
	if code != http.StatusCreated {
		t.Fatalf("setup: %d %v", code, body)
	}
	if home, _ := body["home"].(map[string]any); home["name"] != "Ana's home" {
		t.Fatalf("setup body: %v", body)
	}
	if code, _ := post(t, s.url+"/api/v1/setup", setup, ""); code != http.StatusNotFound {
		t.Fatalf("second setup: %d, want 404", code)
	}
	code, body = post(t, s.url+"/api/v1/login", login, "")
	if code != http.StatusOK || body["session_token"] == "" {
		t.Fatalf("login after setup: %d %v", code, body)
	}

	// Per-install secrets are private.
	for _, p := range []string{"secrets/server.key", "camvault.db"} {
		fi, err := os.Stat(filepath.Join(dataDir, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group/other access", p, fi.Mode().Perm())
		}
	}
	s.stop(t)

	// Restart: an account exists, so no setup link.
	s2 := startBinServer(t, dataDir)
	if s2.setup != "" || strings.Contains(s2.stderr.String(), "/setup#") {
		t.Fatalf("setup link printed although an account exists")
	}
	if code, _ := post(t, s2.url+"/api/v1/login", login, ""); code != http.StatusOK {
		t.Fatalf("login after restart: %d", code)
	}
}

// TestSetupLinkReplacedOnRestart: while no account exists, each start
// prints a new link and the old one stops working.
func TestSetupLinkReplacedOnRestart(t *testing.T) {
	dataDir := t.TempDir()
	s := startBinServer(t, dataDir)
	_, old, _ := strings.Cut(s.setup, "#")
	s.stop(t)
	s2 := startBinServer(t, dataDir)
	_, fresh, _ := strings.Cut(s2.setup, "#")
	if fresh == "" || fresh == old {
		t.Fatalf("no new setup link after restart")
	}
	setup := map[string]any{"setup_token": old, "email": "ana@example.org", "password": password, "home_name": "Home"}
	if code, _ := post(t, s2.url+"/api/v1/setup", setup, ""); code != http.StatusNotFound {
		t.Fatalf("old setup link still works: %d", code)
	}
	setup["setup_token"] = fresh
	if code, body := post(t, s2.url+"/api/v1/setup", setup, ""); code != http.StatusCreated {
		t.Fatalf("new setup link: %d %v", code, body)
	}
}

// TestRefusesPublicListenWithoutTLS and the self-signed path.
func TestServeTLSRules(t *testing.T) {
	out, err := exec.Command(camvaultBinary(t), "serve", "--data-dir", t.TempDir(), "--listen", "0.0.0.0:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--tls-self-signed") {
		t.Fatalf("public listen without TLS: err=%v out=%s", err, out)
	}
	out, err = exec.Command(camvaultBinary(t), "serve", "--print-config", "--store", "postgres://u:s3cretpw@db/x").CombinedOutput()
	if err != nil || strings.Contains(string(out), "s3cretpw") || !strings.Contains(string(out), `listen: "127.0.0.1:8080"`) {
		t.Fatalf("print-config: err=%v out=%s", err, out)
	}
	dataDir := t.TempDir()
	s := startBinServer(t, dataDir, "--tls-self-signed")
	if !strings.HasPrefix(s.url, "https://") || !strings.Contains(s.stderr.String(), "fingerprint") {
		t.Fatalf("self-signed: url %s stderr:\n%s", s.url, s.stderr.String())
	}
	if fi, err := os.Stat(filepath.Join(dataDir, "tls", "ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key: %v %v", fi, err)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"admin", "--help"}, {"agent", "--help"}, {"agent", "reset", "--help"}, {"verify", "--help"}, {"demo", "--help"}, {"sim", "--help"}, {"bench", "--help"}, {"version"}} {
		out, err := exec.Command(camvaultBinary(t), args...).CombinedOutput()
		if err != nil || len(out) < 10 {
			t.Errorf("%v: err=%v out=%s", args, err, out)
		}
	}
}
