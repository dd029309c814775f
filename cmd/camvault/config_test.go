package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrintConfigRoundTrip: `camvault serve --print-config` prints a file
// that `--config` accepts, and that reads back as the same configuration.
func TestPrintConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	printed := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(append([]string{"serve", "--print-config"}, args...), strings.NewReader(""), &out, &errOut, nil); code != 0 {
			t.Fatalf("serve --print-config %v: exit %d\n%s", args, code, errOut.String())
		}
		return out.String()
	}
	first := printed("--data-dir", dir, "--live-pull-networks", "192.168.1.0/24", "--tls-self-signed",
		"--recordings-max-days", "7", "--devices-rate", "2.5", "--auth-session-idle", "90m")
	file := filepath.Join(dir, "camvault.yaml")
	if err := os.WriteFile(file, []byte(first), 0o600); err != nil {
		t.Fatal(err)
	}
	if second := printed("--config", file); second != first {
		t.Fatalf("--config of the printed configuration reads back differently:\n%s\nprinted first:\n%s", second, first)
	}
}
