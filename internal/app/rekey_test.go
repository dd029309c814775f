package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/record/recordtest"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
)

// rotationNode is one node of a cluster under rotation.
type rotationNode struct {
	svc *service.Service
	ar  *record.Archive
	st  store.Store
}

// startRotationNode starts a node with the key file as it is now.
func startRotationNode(t *testing.T, cfg config.Config) (rotationNode, error) {
	t.Helper()
	ring, st, err := openData(context.Background(), cfg)
	if err != nil {
		return rotationNode{}, err
	}
	t.Cleanup(func() { st.Close() })
	svc, ar, err := newService(cfg, ring, st, nil, nil, service.DeviceConfig{}, nil, service.LiveConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rotationNode{svc: svc, ar: ar, st: st}, nil
}

func keyLine(id int, key []byte) string {
	return fmt.Sprintf("%d:%s\n", id, base64.StdEncoding.EncodeToString(key))
}

func newKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// TestRekeyOnline walks a cluster through an online rotation of its server
// key, with nodes of every step running side by side on one store: a value
// made under key 1 reads on a node whose current key is 2 and the other
// way round, Rekey moves everything to key 2, and then nodes without key 1
// read everything. Nodes whose keys are not the cluster's do not start.
func TestRekeyOnline(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Live.PullNetworks = "192.0.2.0/24"
	cfg.Cluster.Enabled = true
	cfg.Cluster.ServerKeyFile = filepath.Join(t.TempDir(), "server.key")
	setKeys := func(file string) {
		if err := os.WriteFile(cfg.Cluster.ServerKeyFile, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	one, two := newKey(), newKey()
	setKeys(string(one)) // the format clusters were set up with: key 1

	// Before: a node with key 1 alone makes a pulled camera and a
	// recording.
	a, err := startRotationNode(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := a.svc.CreateAccount(ctx, "ana@example.org", "tulip-Harbor-97-kettle", false)
	if err != nil {
		t.Fatal(err)
	}
	c := service.Caller{Account: owner}
	home, _ := a.svc.CreateHome(ctx, c, "Casa")
	type made struct {
		camera domain.Camera
		source string
		seg    domain.Segment
		data   []byte
	}
	var all []made
	add := func(n rotationNode, name string) {
		t.Helper()
		source := "rtsp://admin:s3cret-" + name + "@192.0.2.7/stream"
		view, err := n.svc.AddPulledCamera(ctx, c, home.ID, service.PulledCamera{Name: name, Source: source})
		if err != nil {
			t.Fatal(err)
		}
		camera, _ := n.st.Camera(ctx, view.ID)
		p := recordtest.Segments(time.Now(), 4*time.Second, record.DefaultSegment)[0]
		seg, err := n.ar.Write(ctx, camera.Ref(), home.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, made{camera, source, seg, p.Data})
	}
	readsAll := func(what string, n rotationNode) {
		t.Helper()
		for _, m := range all {
			if got, ok := n.svc.PullSource(ctx, m.camera.Ref()); !ok || got != m.source {
				t.Fatalf("%s: the source of %s does not read: %q", what, m.camera.Name, got)
			}
			if got, err := n.svc.SegmentData(ctx, c, m.camera.ID, m.seg.ID, service.SegmentWhole); err != nil || !bytes.Equal(got, m.data) {
				t.Fatalf("%s: the recording of %s does not read: %v", what, m.camera.Name, err)
			}
		}
	}
	add(a, "Gate")

	// Step a: key 2 is added, not current; the node reads and makes with 1.
	setKeys(keyLine(1, one) + keyLine(2, two) + "current:1\n")
	b, err := startRotationNode(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	readsAll("step a", b)
	add(b, "Porch")

	// Step b: key 2 is current at one node, not yet at another; each
	// reads what the other makes.
	setKeys(keyLine(1, one) + keyLine(2, two))
	n2, err := startRotationNode(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	add(n2, "Garden")
	readsAll("step b, key 1 current", b)
	readsAll("step b, key 2 current", n2)
	if cam, _ := n2.st.Camera(ctx, all[2].camera.ID); !strings.HasPrefix(cam.PullSource, "v2:2:") {
		t.Fatalf("a source sealed under key 2 does not say so: %.8q", cam.PullSource)
	}

	// Step c: rekey, while the nodes run.
	n, err := Rekey(ctx, cfg)
	if err != nil || n != 4 { // Gate's and Porch's data keys and sources
		t.Fatalf("rekey: %d %v", n, err)
	}
	if n, err := Rekey(ctx, cfg); err != nil || n != 0 {
		t.Fatalf("rekey again: %d %v", n, err)
	}
	for _, m := range all {
		cam, _ := n2.st.Camera(ctx, m.camera.ID)
		key, _ := n2.st.DataKey(ctx, m.seg.KeyID)
		if !strings.HasPrefix(cam.PullSource, "v2:2:") || !bytes.HasPrefix(key.Wrapped, []byte("v2:2:")) {
			t.Fatalf("%s is not under key 2 after rekey", m.camera.Name)
		}
	}

	// Step d: key 1 leaves the files; nodes read everything with 2 alone.
	setKeys(keyLine(2, two))
	d, err := startRotationNode(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	readsAll("step d", d)
	add(d, "Shed")
	readsAll("step d, still running with key 1 current", b)

	// Nodes whose ring shares no key with the cluster, or holds another
	// key under one of its IDs, do not start.
	for name, file := range map[string]string{
		"a disjoint ring":         keyLine(3, newKey()) + keyLine(4, newKey()),
		"a stranger's legacy key": string(newKey()),
		"another key under ID 2":  keyLine(1, one) + keyLine(2, newKey()),
		"another key under ID 1":  keyLine(1, newKey()) + keyLine(2, two),
	} {
		setKeys(file)
		if _, err := startRotationNode(t, cfg); err == nil || !strings.Contains(err.Error(), "not the installation's") {
			t.Errorf("%s: the node started (%v)", name, err)
		}
	}
}
