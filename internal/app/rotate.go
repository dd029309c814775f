package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/pki"
	"github.com/camvault/camvault/internal/record/keys"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
)

func secretPath(dataDir, name string) string { return filepath.Join(dataDir, "secrets", name) }

// OAuthKey is the key the authorization server signs its tokens' HMACs
// with: the install's first server key, kept as oauth.key once the
// server key was rotated, so that rotation does not log every linked
// display out.
func OAuthKey(dataDir string) ([]byte, error) {
	b, err := os.ReadFile(secretPath(dataDir, "oauth.key"))
	if err == nil && len(b) == 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return ServerKey(dataDir)
}

// RotateServerKey replaces the server key: in one store transaction every
// live data key is rewrapped and every sealed secret resealed under a
// fresh key, which then replaces secrets/server.key. It returns how many
// values it rewrote. Run it with the server stopped. A rotation cut short
// after the transaction leaves secrets/server.key.new; running it again
// finishes it.
func RotateServerKey(ctx context.Context, cfg config.Config) (int, error) {
	if cfg.ClusterMode() {
		return 0, errors.New("rotate-key rotates a single server's own key; a cluster's server keys are rotated online: " +
			"add a key to every node's cluster.server_key_file, make it current, then run camvault admin rekey (see the README)")
	}
	if err := finishRotation(ctx, cfg); err != nil {
		return 0, err
	}
	oldKey, err := ServerKey(cfg.DataDir)
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(secretPath(cfg.DataDir, "oauth.key")); errors.Is(err, os.ErrNotExist) {
		if err := pki.WriteFile(secretPath(cfg.DataDir, "oauth.key"), oldKey, 0o600); err != nil {
			return 0, err
		}
	}
	newKey := make([]byte, 32)
	rand.Read(newKey)
	pending := secretPath(cfg.DataDir, "server.key.new")
	if err := pki.WriteFile(pending, newKey, 0o600); err != nil {
		return 0, err
	}
	st, err := OpenStore(ctx, cfg.StoreURL())
	if err != nil {
		os.Remove(pending)
		return 0, err
	}
	defer st.Close()
	rewrap, err := keys.Rewrapper(oldKey, newKey)
	if err != nil {
		return 0, err
	}
	reseal, err := service.Resealer(oldKey, newKey)
	if err != nil {
		return 0, err
	}
	n, err := st.Rekey(ctx, store.Rekeying{DataKey: rewrap, Sealed: reseal})
	if err != nil {
		os.Remove(pending)
		return 0, fmt.Errorf("rotation failed, nothing changed: %w", err)
	}
	return n, os.Rename(pending, secretPath(cfg.DataDir, "server.key"))
}

// finishRotation completes a rotation cut short: if the store already
// uses the pending key, it becomes the server key; otherwise the pending
// key is dropped.
func finishRotation(ctx context.Context, cfg config.Config) error {
	pending := secretPath(cfg.DataDir, "server.key.new")
	newKey, err := os.ReadFile(pending)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	st, err := OpenStore(ctx, cfg.StoreURL())
	if err != nil {
		return err
	}
	defer st.Close()
	oldKey, err := os.ReadFile(secretPath(cfg.DataDir, "server.key"))
	if err != nil {
		return err
	}
	if ok, err := keys.Unwraps(ctx, st, oldKey); err != nil || ok {
		os.Remove(pending)
		return err
	}
	if ok, err := keys.Unwraps(ctx, st, newKey); err != nil || !ok {
		return fmt.Errorf("neither %s nor the pending key opens the stored data keys", secretPath(cfg.DataDir, "server.key"))
	}
	return os.Rename(pending, secretPath(cfg.DataDir, "server.key"))
}

// rekeyBatch is how many values Rekey rewrites per transaction.
const rekeyBatch = 100

// Rekey rewrites every live data key and every sealed secret that is not
// yet under the current server key of cfg's ring, in transactions of a
// few values each, and returns how many it rewrote. It is safe to run
// while nodes serve: a value written meanwhile is left as it is (it is
// under the writer's current key). Run it once every node makes new
// values with the current key; afterwards the other keys can leave the
// ring.
func Rekey(ctx context.Context, cfg config.Config) (int, error) {
	ring, st, err := openData(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	rewrap, err := keys.RewrapToCurrent(ring)
	if err != nil {
		return 0, err
	}
	reseal, err := service.ResealToCurrent(ring)
	if err != nil {
		return 0, err
	}
	n, err := st.Rekey(ctx, store.Rekeying{DataKey: rewrap, Sealed: reseal, Batch: rekeyBatch})
	if err != nil {
		return n, fmt.Errorf("rekey stopped after %d values (run it again to go on): %w", n, err)
	}
	return n, nil
}
