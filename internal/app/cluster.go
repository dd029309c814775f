package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/deviceca"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/events/natsbus"
	"github.com/camvault/camvault/internal/pki"
	"github.com/camvault/camvault/internal/placement"
	"github.com/camvault/camvault/internal/placement/natsplacement"
	"github.com/camvault/camvault/internal/serverkey"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
)

// serverKey is the ring of keys that seal secrets and wrap recording
// keys: the data dir's own key on a single server (made on first start),
// the keys of the given file on a cluster node (never made).
func serverKey(cfg config.Config) (*serverkey.Ring, error) {
	if !cfg.ClusterMode() {
		key, err := ServerKey(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		return serverkey.Single(key)
	}
	ring, err := serverkey.Read(cfg.Cluster.ServerKeyFile)
	if err != nil {
		return nil, fmt.Errorf("cluster.server_key_file: %w (camvault admin cluster-secrets makes one)", err)
	}
	return ring, nil
}

// oauthKey is the key that signs integrations' grants.
func oauthKey(cfg config.Config) ([]byte, error) {
	if !cfg.ClusterMode() {
		return OAuthKey(cfg.DataDir)
	}
	return readKey("cluster.oauth_key_file", cfg.Cluster.OAuthKeyFile)
}

// deviceCA opens the device CA: the data dir's own (made on first start),
// or the cluster's given one. A cluster node serving the API signs device
// certificates at enrolment and needs the CA's key; a media node only
// verifies devices and loads the certificate alone.
func deviceCA(cfg config.Config) (*deviceca.CA, error) {
	if !cfg.ClusterMode() {
		return deviceca.Open(filepath.Join(cfg.DataDir, "devices"))
	}
	dir := cfg.Cluster.DeviceCADir
	if !cfg.ServesAPI() {
		ca, err := deviceca.LoadCertificate(dir)
		if err != nil {
			return nil, fmt.Errorf("cluster.device_ca_dir: %w", err)
		}
		return ca, nil
	}
	ca, err := deviceca.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("cluster.device_ca_dir: a node serving the API (cluster.role %s) signs device certificates and needs the device CA with its key (%s): %w",
			cfg.Cluster.Role, deviceca.KeyFile, err)
	}
	return ca, nil
}

// deviceServerCert is the certificate of the device listeners (and of
// the viewer RTSPS listener without web TLS): issued now for hosts by a
// CA holding its key, else the one made beforehand for the media nodes
// (camvault admin cluster-secrets), which names the hosts it was made for.
func deviceServerCert(cfg config.Config, ca *deviceca.CA, hosts []string) (tls.Certificate, error) {
	if ca.CanIssue() {
		return ca.ServerCertificate(hosts, time.Now())
	}
	cert, err := ca.LoadServerCertificate(cfg.Cluster.DeviceCADir, time.Now())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cluster.device_ca_dir: a media node presents the device server certificate made by camvault admin cluster-secrets: %w", err)
	}
	return cert, nil
}

// readKey reads a 32-byte key file.
func readKey(setting, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("%s: %s holds %d bytes, want a 32-byte key (camvault admin cluster-secrets makes one)", setting, path, len(b))
	}
	return b, nil
}

// identityLabel is what the cluster identity MACs.
const identityLabel = "camvault cluster identity v1"

// checkIdentity makes sure every node of an installation runs with the
// same server keys: the first records, for each key of its ring, a MAC
// of a fixed string under the key; a node refuses to start when none of
// its keys is one recorded, or one of its keys differs from the one
// recorded under its ID, instead of failing later on sealed secrets.
// Keys a node adds to the ring are recorded.
func checkIdentity(ctx context.Context, st store.Store, ring *serverkey.Ring) error {
	macs := map[int][]byte{}
	for _, id := range ring.IDs() {
		key, _ := ring.Key(id)
		m := hmac.New(sha256.New, key)
		m.Write([]byte(identityLabel))
		macs[id] = m.Sum(nil)
	}
	err := st.ClusterIdentity(ctx, macs, time.Now())
	if errors.Is(err, store.ErrConflict) {
		return errors.New("this node's server keys are not the installation's: " +
			"cluster.server_key_file must hold at least one key the cluster has, and no other key under one of its IDs " +
			"(a node with other keys would fail on every sealed secret)")
	}
	if err != nil {
		return fmt.Errorf("cluster identity: %w", err)
	}
	return nil
}

// openBus opens the event bus: NATS when configured, else this process
// only. The returned close is never nil.
func openBus(cfg config.Config, log *slog.Logger) (events.Bus, func(), error) {
	if cfg.Bus.NATS == "" {
		return &events.Local{}, func() {}, nil
	}
	b, err := natsbus.Open(cfg.Bus.NATS, cfg.Bus.Subject, log.With("component", "bus"))
	if err != nil {
		return nil, nil, fmt.Errorf("bus.nats: %w", err)
	}
	return b, b.Close, nil
}

// MakeClusterSecrets writes a new cluster's shared secrets into dir:
// server.key and oauth.key (32 random bytes each) and the device CA in
// devices/, with a server certificate of the device CA for the media
// nodes' device and RTSPS listeners, naming localhost and mediaHosts
// (the names and addresses devices reach them at). It refuses to
// overwrite any of them. Every node gets server.key; api nodes oauth.key
// and devices/; media nodes devices/ without the CA key.
func MakeClusterSecrets(dir string, mediaHosts ...string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, name := range []string{"server.key", "oauth.key"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return fmt.Errorf("%s exists already: a cluster's secrets are made once", filepath.Join(dir, name))
		}
	}
	if _, err := deviceca.Load(filepath.Join(dir, "devices")); err == nil {
		return fmt.Errorf("%s holds a device CA already: a cluster's secrets are made once", filepath.Join(dir, "devices"))
	}
	for _, name := range []string{"server.key", "oauth.key"} {
		b := make([]byte, 32)
		rand.Read(b)
		if err := pki.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	if _, err := deviceca.Open(filepath.Join(dir, "devices")); err != nil {
		return err
	}
	return MakeMediaCertificate(filepath.Join(dir, "devices"), mediaHosts...)
}

// MakeMediaCertificate issues the media nodes' device server certificate
// anew from the device CA in caDir, for localhost and hosts, replacing
// the one there (to add a name, or before it expires after a year).
func MakeMediaCertificate(caDir string, hosts ...string) error {
	ca, err := deviceca.Load(caDir)
	if err != nil {
		return err
	}
	return ca.WriteServerCertificate(caDir, dedupe(append([]string{"localhost", "127.0.0.1", "::1"}, hosts...)), time.Now())
}

// readiness is one part /readyz asks.
type readiness struct {
	name  string
	check func(context.Context) error
}

// notReady names the parts that fail their check, each bounded to 2 s.
func notReady(ctx context.Context, checks []readiness) []string {
	failing := []string{}
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := c.check(cctx); err != nil {
			failing = append(failing, c.name)
		}
		cancel()
	}
	return failing
}

// nodeID names this node in metrics: cluster.node_id, else the host name;
// empty on a single server.
func nodeID(cfg config.Config) string {
	if !cfg.ClusterMode() {
		return ""
	}
	if cfg.Cluster.NodeID != "" {
		return cfg.Cluster.NodeID
	}
	h, _ := os.Hostname()
	return h
}

// busReady reports whether bus is connected, for buses that can say.
func busReady(bus events.Bus) error {
	if r, ok := bus.(interface{ Ready() error }); ok {
		return r.Ready()
	}
	return nil
}

// openPlacement opens the directory of which node holds which camera:
// over NATS on a cluster node, this process's own otherwise. The returned
// close is never nil.
func openPlacement(ctx context.Context, cfg config.Config, log *slog.Logger) (placement.Directory, func(), error) {
	if !cfg.ClusterMode() || cfg.Bus.NATS == "" {
		return placement.NewLocal(), func() {}, nil
	}
	d, err := natsplacement.Open(ctx, cfg.Bus.NATS, cfg.PlacementPrefix(), log.With("component", "placement"))
	if err != nil {
		return nil, nil, fmt.Errorf("placement: %w", err)
	}
	return d, func() { d.Close() }, nil
}

// placementNode is this node's name in the placement directory.
func placementNode(cfg config.Config) string {
	if id := nodeID(cfg); id != "" {
		return id
	}
	return "local"
}

// liveElsewhere says where viewers reach a camera held by another node:
// under that node's own public URL, as it reports it. A camera held here
// (held) is served here without asking the directory, which may not
// answer (NATS cut off).
func liveElsewhere(dir placement.Directory, self string, held func(domain.ID) bool) func(context.Context, domain.ID) (service.LiveConfig, bool) {
	return func(ctx context.Context, camera domain.ID) (service.LiveConfig, bool) {
		if held(camera) {
			return service.LiveConfig{}, false
		}
		c, ok, err := dir.Owner(ctx, camera)
		if err != nil || !ok || c.Node == self {
			return service.LiveConfig{}, false
		}
		nodes, err := dir.Nodes(ctx)
		if err != nil {
			return service.LiveConfig{}, false
		}
		for _, n := range nodes {
			if n.ID == c.Node && n.PublicURL != "" {
				return service.LiveConfig{RTSPURL: n.RTSPURL, WHEPURL: n.PublicURL + "/whep", HLSURL: n.PublicURL + "/hls"}, true
			}
		}
		return service.LiveConfig{}, false
	}
}

// recordsHere says whether this node's recorder records a camera: unless
// another node holds its device. Cameras no node holds (pulled ones, and
// devices offline) and a directory that does not answer leave it as on a
// single server: a doubled recording beats a lost one. A camera held
// here (held) is recorded here without asking the directory.
func recordsHere(dir placement.Directory, self string, held func(domain.ID) bool) func(domain.ID) bool {
	return func(camera domain.ID) bool {
		if held(camera) {
			return true
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, ok, err := dir.Owner(ctx, camera)
		return err != nil || !ok || c.Node == self
	}
}

// newInstance names this process in the placement directory, anew at
// each start.
func newInstance() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// checkNodeID refuses to start a node under an ID another running node
// reports under (placement.CheckID): both would claim cameras and
// answer commands under it.
func checkNodeID(ctx context.Context, cfg config.Config, dir placement.Directory, id, instance string) error {
	err := placement.CheckID(ctx, dir, id, instance)
	var inUse *placement.InUseError
	if errors.As(err, &inUse) {
		how := "--cluster-node-id"
		if cfg.Cluster.NodeID == "" {
			how += " (the default is the host name)"
		}
		return fmt.Errorf("cluster node ID %q is in use by another running node (last report %s ago); give each node its own %s", id, inUse.Last, how)
	}
	return err
}

// reportNode tells the directory about this node every
// placement.ReportEvery, until ctx ends. Before each report but the
// first it reads the one under its ID: when another process wrote it
// since, two nodes run under one ID, and it says so, each time.
func reportNode(ctx context.Context, dir placement.Directory, state func() placement.Node, instance string, log *slog.Logger) {
	t := time.NewTicker(placement.ReportEvery)
	defer t.Stop()
	reported := false
	for {
		n := state()
		if reported {
			if cur, ok, err := dir.Node(ctx, n.ID); err == nil && ok && cur.Instance != instance {
				log.Error("another running node reports under this node's ID: give each node its own --cluster-node-id; cameras and commands under this ID go to either node",
					"node", n.ID, "other_instance", cur.Instance, "instance", instance)
			}
		}
		err := dir.Report(ctx, n)
		if err != nil && ctx.Err() == nil {
			log.Warn("placement report", "err", err)
		}
		reported = reported || err == nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
