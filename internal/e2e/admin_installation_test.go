package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camvault/camvault/internal/app"
)

// newInstallation makes dir a camvault installation, as the server's
// first start does: a server key and a migrated SQLite store.
func newInstallation(t *testing.T, dir string) {
	t.Helper()
	if _, err := app.ServerKey(dir); err != nil {
		t.Fatal(err)
	}
	st, err := app.OpenStore(context.Background(), "sqlite:"+filepath.Join(dir, "camvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}

// TestAdminNeedsInstallation: admin commands refuse a data dir that holds
// no installation — the default one in the working directory included —
// with an error naming the path and --data-dir, and create nothing; on an
// installation they say which store they use.
func TestAdminNeedsInstallation(t *testing.T) {
	bin := camvaultBinary(t)
	run := func(wd, stdin string, args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = wd
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	wd := t.TempDir()
	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		path string // what the error must name
		args []string
	}{
		{"user add without --data-dir", filepath.Join(wd, "camvault-data"), []string{"admin", "user", "add", "--email", "ana@example.org"}},
		{"user add, empty data dir", empty, []string{"admin", "user", "add", "--email", "ana@example.org", "--data-dir", empty}},
		{"integration list", empty, []string{"admin", "integration", "list", "--data-dir", empty}},
		{"recordings check", empty, []string{"admin", "recordings", "check", "--data-dir", empty}},
		{"rotate-key", empty, []string{"admin", "rotate-key", "--data-dir", empty}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(wd, "correct-horse-battery-staple-9\n", tc.args...)
			if err == nil || !strings.Contains(out, "no camvault installation at "+tc.path) || !strings.Contains(out, "--data-dir") {
				t.Fatalf("%v\n%s\nwant a refusal naming %s and --data-dir", err, out, tc.path)
			}
			if strings.Contains(out, "Password") {
				t.Errorf("asked for a password before refusing:\n%s", out)
			}
		})
	}
	for _, dir := range []string{wd, empty} {
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("a refused admin command left %d files in %s", len(ents), dir)
		}
	}

	// An installation: the command works and names the store it used.
	inst := t.TempDir()
	newInstallation(t, inst)
	out, err := run(wd, "correct-horse-battery-staple-9\n", "admin", "user", "add", "--email", "ana@example.org", "--data-dir", inst)
	if err != nil || !strings.Contains(out, "created account") || !strings.Contains(out, "using the store sqlite:"+filepath.Join(inst, "camvault.db")) {
		t.Fatalf("user add on an installation: %v\n%s", err, out)
	}
}
