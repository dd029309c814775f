package e2e

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/app"
	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/blob/s3"
	"github.com/camvault/camvault/internal/blob/s3/s3test"
	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/oauth"
	"github.com/camvault/camvault/internal/store/postgres/pgtest"
)

// clusterEnv is what the nodes of one test cluster share: a fresh
// PostgreSQL schema, a NATS subject, an S3 bucket and the secrets.
type clusterEnv struct {
	store, nats, subject string
	bucket               s3.Config
	secrets              string
}

// newClusterEnv skips t unless PostgreSQL, NATS and versitygw are there.
func newClusterEnv(t *testing.T) clusterEnv {
	t.Helper()
	natsURL := os.Getenv("CAMVAULT_TEST_NATS")
	if os.Getenv("CAMVAULT_TEST_POSTGRES") == "" || natsURL == "" {
		t.Skip("CAMVAULT_TEST_POSTGRES and CAMVAULT_TEST_NATS are not both set; skipping the cluster test")
	}
	storeURL := pgtest.SchemaURL(t)
	bucket := s3test.Start(t)
	if _, err := s3.Open(context.Background(), bucket); err != nil { // creates it
		t.Fatal(err)
	}
	secrets := filepath.Join(t.TempDir(), "secrets")
	if err := app.MakeClusterSecrets(secrets); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secrets, "s3-secret"), []byte(bucket.SecretKey), 0o600); err != nil {
		t.Fatal(err)
	}
	return clusterEnv{store: storeURL, nats: natsURL, subject: "camvault.test." + string(domain.NewID()), bucket: bucket, secrets: secrets}
}

// node is the configuration of one node of the cluster, under a node ID
// of its own (all run on this host, whose name is the default ID).
func (e clusterEnv) node(t *testing.T) config.Config {
	return testConfig(t, func(c *config.Config) {
		c.Store = e.store
		c.Bus = config.Bus{NATS: e.nats, Subject: e.subject}
		c.Blob.S3 = config.S3{Endpoint: e.bucket.Endpoint, Bucket: e.bucket.Bucket, Insecure: true,
			AccessKey: e.bucket.AccessKey, SecretKeyFile: filepath.Join(e.secrets, "s3-secret")}
		c.Cluster = config.Cluster{Enabled: true, NodeID: "node-" + strings.ToLower(string(domain.NewID())[:8]), ServerKeyFile: filepath.Join(e.secrets, "server.key"),
			OAuthKeyFile: filepath.Join(e.secrets, "oauth.key"), DeviceCADir: filepath.Join(e.secrets, "devices")}
	})
}

// pairWithCamera starts node A with cfgA and node B with env's
// configuration; the first owner signs up at A, and its camera's agent
// connects to A. It returns the agent's trust for RTSPS viewers too.
func pairWithCamera(t *testing.T, env clusterEnv, cfgA config.Config) (a, b *server, o owner, cam string, pool *x509.CertPool) {
	t.Helper()
	a = runServer(t, cfgA, &syncBuffer{})
	o = a.setup("ana@example.org", "Casa")
	b = runServer(t, env.node(t), &syncBuffer{})
	dir := t.TempDir()
	cam, _ = claimed(t, a, o, dir, "builtin:porch", "Porch")
	pool, _ = agentTrust(t, dir)
	return a, b, o, cam, pool
}

// TestClusterRevocation: two nodes share a store, a bus and a bucket. A
// member removed at node B stops watching the stream node A serves (the
// withdrawal crosses over NATS; without it the grant would run on for
// its whole life). Wrong passwords and wrong OAuth client secrets spread
// over the nodes are throttled as on one. A node given another server key
// refuses to start.
func TestClusterRevocation(t *testing.T) {
	env := newClusterEnv(t)
	a, b, o, cam, pool := pairWithCamera(t, env, env.node(t))

	// A session made at A is good at B, and one revoked at B is gone at A.
	tok := a.login("ana@example.org")
	b.must(tok, "GET", "/api/v1/me", nil, 200)
	_, sessions := b.call(tok, "GET", "/api/v1/me/sessions", nil)
	for _, x := range sessions["sessions"].([]any) {
		if m := x.(map[string]any); m["current"] == true {
			b.must(tok, "DELETE", "/api/v1/me/sessions/"+m["id"].(string), nil, 204)
		}
	}
	if code, _ := a.call(tok, "GET", "/api/v1/me", nil); code != 401 {
		t.Fatalf("a session revoked at B still works at A: %d", code)
	}

	for _, how := range []string{"member removed", "session revoked"} {
		email := strings.ReplaceAll(how, " ", "-") + "@example.org"
		inv := a.must(o.token, "POST", "/api/v1/homes/"+o.home+"/invites", map[string]any{"role": "member"}, 201)
		out := b.must("", "POST", "/api/v1/invites/"+inv["token"].(string)+"/accept", map[string]any{"email": email, "password": password}, 200)
		id := out["account"].(map[string]any)["id"].(string)
		viewer := a.login(email)
		done := watchRTSP(t, a, viewer, cam, pool)
		at := time.Now()
		switch how {
		case "member removed":
			b.must(o.token, "DELETE", "/api/v1/homes/"+o.home+"/members/"+id, nil, 204)
		case "session revoked":
			_, sessions := b.call(viewer, "GET", "/api/v1/me/sessions", nil)
			sid := sessions["sessions"].([]any)[0].(map[string]any)["id"].(string)
			b.must(viewer, "DELETE", "/api/v1/me/sessions/"+sid, nil, 204)
		}
		select {
		case <-done:
			t.Logf("%s at node B: the stream at node A ended after %v", how, time.Since(at).Round(time.Millisecond))
		case <-time.After(10 * time.Second):
			t.Fatalf("%s at node B: the stream at node A still runs 10 s later", how)
		}
	}

	// The camera removed at B: its stream at A ends.
	done := watchRTSP(t, a, o.token, cam, pool)
	at := time.Now()
	b.must(o.token, "DELETE", "/api/v1/cameras/"+cam, nil, 204)
	select {
	case <-done:
		t.Logf("camera removed at node B: the stream at node A ended after %v", time.Since(at).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("camera removed at node B: the stream at node A still runs 10 s later")
	}

	// Wrong passwords spread over the nodes count as on one node: two at
	// each, and the fifth attempt is throttled (the pair's fourth failure
	// blocks it; a minute's base wait keeps a slow machine from
	// outlasting the block).
	defer func(p authn.Policy) { authn.PairPolicy = p }(authn.PairPolicy)
	authn.PairPolicy.Base = time.Minute
	for i, n := range []*server{a, b, a, b} {
		if code, _ := n.call("", "POST", "/api/v1/login", map[string]any{"email": "ana@example.org", "password": "wrong-password-" + strings.Repeat("x", i+1)}); code != 401 {
			t.Fatalf("wrong password %d: %d", i+1, code)
		}
	}
	for _, n := range []*server{a, b} {
		if code, _ := n.call("", "POST", "/api/v1/login", map[string]any{"email": "ana@example.org", "password": "wrong-password-again"}); code != 429 {
			t.Fatalf("the fifth wrong password, spread over two nodes: %d, want 429", code)
		}
	}

	// So do wrong OAuth client secrets: three at each node, and the
	// seventh attempt is throttled (the pair's sixth failure blocks it).
	defer func(p authn.Policy) { oauth.PairPolicy = p }(oauth.PairPolicy)
	oauth.PairPolicy.Base = time.Minute
	d := display(t, a, "Kitchen display")
	clientAuth := func(n *server) int {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"cvrt_nothing"}}
		req, err := http.NewRequest("POST", n.url+"/oauth2/token", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(d.ClientID, "not-the-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, n := range []*server{a, b, a, b, a, b} {
		if code := clientAuth(n); code != 401 {
			t.Fatalf("wrong client secret %d: %d, want 401", i+1, code)
		}
	}
	for _, n := range []*server{a, b} {
		if code := clientAuth(n); code != 429 {
			t.Fatalf("the seventh wrong client secret, spread over two nodes: %d, want 429", code)
		}
	}

	// A node with another server key does not start.
	other := env.node(t)
	wrong := filepath.Join(t.TempDir(), "server.key")
	os.WriteFile(wrong, []byte(strings.Repeat("x", 32)), 0o600)
	other.Cluster.ServerKeyFile = wrong
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := app.Run(ctx, app.Options{Config: other})
	if err == nil || !strings.Contains(err.Error(), "server keys are not the installation's") {
		t.Fatalf("a node with another server key: %v", err)
	}
}
