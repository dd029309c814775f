package agent

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Reset is a factory reset: it tells the server (when it can reach it with
// the device's certificate) so that the camera leaves its home and the old
// certificate dies at once, then wipes the key and all state. The next
// start enrols afresh with a new key, as a new camera. It reports whether
// the server was told.
func Reset(ctx context.Context, stateDir string, log *slog.Logger) (told bool, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if stateDir == "" {
		return false, errors.New("agent: --state-dir is required")
	}
	if !holdsState(stateDir) {
		return false, fmt.Errorf("agent: %s holds no agent state (no %s, %s or %s); check --state-dir: %w",
			stateDir, keyFile, certFile, serverFile, ErrNoState)
	}
	key, _, err := loadExistingKey(stateDir)
	if err == nil {
		if cert, err := loadCert(stateDir, key); err == nil {
			a := &Agent{cfg: Config{StateDir: stateDir}, log: log}
			if err := a.tellReset(ctx, cert); err != nil {
				log.Warn("could not tell the server about the reset; the camera's home must remove it", "err", err)
			} else {
				told = true
				log.Info("the server took note of the reset: the camera left its home")
			}
		}
	}
	for _, f := range []string{certFile, serverFile, keyFile} {
		if err := os.Remove(filepath.Join(stateDir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return told, fmt.Errorf("agent: wipe %s: %w", f, err)
		}
	}
	log.Info("device key and state wiped", "state_dir", stateDir)
	return told, nil
}

// ErrNoState: a folder holds none of the agent's files, so it is not (or
// no longer) an agent's state dir.
var ErrNoState = errors.New("no agent state")

// holdsState reports whether dir holds any of the agent's files.
func holdsState(dir string) bool {
	for _, f := range []string{keyFile, certFile, serverFile} {
		if fi, err := os.Lstat(filepath.Join(dir, f)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// loadExistingKey loads the key without creating one.
func loadExistingKey(dir string) (*ecdsa.PrivateKey, bool, error) {
	if _, err := os.Stat(filepath.Join(dir, keyFile)); err != nil {
		return nil, false, err
	}
	return loadOrCreateKey(dir)
}

func (a *Agent) tellReset(ctx context.Context, cert *deviceCert) error {
	conf, deviceURL, err := a.tlsConfig(cert)
	if err != nil {
		return err
	}
	u := "https://" + strings.TrimPrefix(deviceURL, "wss://") + "/device/v1/reset"
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: conf}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, "POST", u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("server answered %s", resp.Status)
	}
	return nil
}
