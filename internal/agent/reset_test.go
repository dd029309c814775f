package agent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/camvault/camvault/internal/agent"
)

// TestResetWrongFolder: a reset of a folder that holds no agent state —
// missing, empty, or someone else's files — fails with ErrNoState and
// leaves the folder as it was.
func TestResetWrongFolder(t *testing.T) {
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("keep me"), 0o600)
	os.Mkdir(filepath.Join(other, "device-key.pem"), 0o700) // not the agent's file
	for name, dir := range map[string]string{
		"missing":        filepath.Join(t.TempDir(), "nope"),
		"empty":          t.TempDir(),
		"someone else's": other,
	} {
		t.Run(name, func(t *testing.T) {
			told, err := agent.Reset(context.Background(), dir, nil)
			if !errors.Is(err, agent.ErrNoState) || told {
				t.Fatalf("reset of %s: told=%v err=%v, want ErrNoState", dir, told, err)
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(other, "notes.txt")); err != nil || string(b) != "keep me" {
		t.Fatalf("the reset touched a stranger's file: %q %v", b, err)
	}

	// A folder with only part of the state is an agent's: it is wiped.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "server.json"), []byte(`{}`), 0o600)
	if _, err := agent.Reset(context.Background(), dir, nil); err != nil {
		t.Fatalf("reset of a partial state dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "server.json")); !os.IsNotExist(err) {
		t.Fatal("server.json survived the reset")
	}
}
