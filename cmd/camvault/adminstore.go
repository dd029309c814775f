package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/camvault/camvault/internal/config"
)

// adminInstallation checks that cfg names an installation that exists —
// the data dir's server key and, for SQLite, the database file — and says
// on stderr which store the command uses. Admin commands act on the
// server's installation; they never create one (say, in the working
// directory, for want of --data-dir).
func adminInstallation(cfg config.Config, stderr io.Writer) error {
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data dir %q: %w", cfg.DataDir, err)
	}
	hint := "pass --data-dir with the server's data dir (or --config with its configuration)"
	missing := func(what, path string) error {
		return fmt.Errorf("no camvault installation at %s: %s %s does not exist; %s", dataDir, what, path, hint)
	}
	if fi, err := os.Stat(dataDir); err != nil || !fi.IsDir() {
		return missing("the data dir", dataDir)
	}
	key := filepath.Join(dataDir, "secrets", "server.key")
	if cfg.ClusterMode() {
		key = cfg.Cluster.ServerKeyFile // given to every node, not in the data dir
	}
	if !exists(key) && !exists(key+".new") { // .new: a rotation cut short, which rotate-key finishes
		return missing("the server key", key)
	}
	storeURL := cfg.StoreURL()
	shown := storeURL
	if path, ok := strings.CutPrefix(storeURL, "sqlite:"); ok {
		abs, err := filepath.Abs(path)
		if err != nil {
			return fmt.Errorf("store %q: %w", path, err)
		}
		if fi, err := os.Stat(abs); err != nil || !fi.Mode().IsRegular() {
			return missing("the store", abs)
		}
		shown = "sqlite:" + abs
	} else if u, err := url.Parse(storeURL); err == nil {
		u.User = nil // never print credentials
		u.RawQuery = ""
		shown = u.String()
	} else {
		return errors.New("store: not a valid URL")
	}
	fmt.Fprintf(stderr, "using the store %s (data dir %s)\n", shown, dataDir)
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
