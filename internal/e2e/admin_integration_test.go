package e2e

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestAdminIntegration registers, lists, disables and re-enables an
// integration through the real binary; bad redirect URIs and unknown
// names are clear errors; the secret is printed once and never listed.
func TestAdminIntegration(t *testing.T) {
	dir := t.TempDir()
	newInstallation(t, dir)
	run := func(args ...string) (string, error) {
		out, err := exec.Command(camvaultBinary(t), append(args, "--data-dir", dir)...).CombinedOutput()
		return string(out), err
	}
	out, err := run("admin", "integration", "add", "--name", "Kitchen display", "--redirect-uri", "https://display.example.com/cb")
	if err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	secret := regexp.MustCompile(`cvcs_[A-Za-z0-9_-]{43}`).FindString(out)
	if secret == "" || !strings.Contains(out, "client_id:     cvc_") {
		t.Fatalf("add printed:\n%s", out)
	}
	for _, bad := range [][]string{
		{"--name", "Evil", "--redirect-uri", "http://evil.example.com/cb"},
		{"--name", "Star", "--redirect-uri", "https://*.example.com/cb"},
		{"--name", "Frag", "--redirect-uri", "https://a.example.com/cb#x"},
		{"--name", "None"},
		{"--name", "Kitchen display", "--redirect-uri", "https://other.example.com/cb"},
	} {
		if out, err := run(append([]string{"admin", "integration", "add"}, bad...)...); err == nil {
			t.Errorf("add %v succeeded:\n%s", bad, out)
		}
	}
	out, err = run("admin", "integration", "list")
	if err != nil || !strings.Contains(out, "Kitchen display") || !strings.Contains(out, "enabled") || strings.Contains(out, secret) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := run("admin", "integration", "disable", "Kitchen display"); err != nil || !strings.Contains(out, "disabled") {
		t.Fatalf("disable: %v\n%s", err, out)
	}
	if out, _ := run("admin", "integration", "list"); !strings.Contains(out, "disabled") {
		t.Fatalf("list after disable:\n%s", out)
	}
	if out, err := run("admin", "integration", "enable", "Kitchen display"); err != nil || !strings.Contains(out, "enabled") {
		t.Fatalf("enable: %v\n%s", err, out)
	}
	if out, err := run("admin", "integration", "disable", "Nobody"); err == nil || !strings.Contains(out, "no integration named Nobody") {
		t.Fatalf("disable unknown: %v\n%s", err, out)
	}
}
