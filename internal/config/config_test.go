package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "camvault.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadOrder(t *testing.T) {
	file := writeFile(t, "data_dir: /from/file\nlisten: 127.0.0.1:9000\nauth:\n  session_idle: 2h\nlog:\n  level: debug\n")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fl := RegisterFlags(fs)
	if err := fs.Parse([]string{"--listen", "127.0.0.1:9100", "--tls-self-signed"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Sources{File: file, Env: []string{"CAMVAULT_DATA_DIR=/from/env", "PATH=/bin", "CAMVAULT_TEST_POSTGRES=x"}, Flags: fl})
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/from/env" || c.Listen != "127.0.0.1:9100" || !c.TLS.SelfSigned ||
		time.Duration(c.Auth.SessionIdle) != 2*time.Hour || c.Log.Level != "debug" || c.Log.Format != "text" {
		t.Fatalf("wrong merge: %+v", c)
	}
	if got := c.PublicURL(); got != "https://localhost:9100" {
		t.Fatalf("PublicURL = %q", got)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		src  func(t *testing.T) Sources
		want string
	}{
		{"unknown file key", func(t *testing.T) Sources { return Sources{File: writeFile(t, "listen: 127.0.0.1:1\nlistn: x\n")} }, "listn"},
		{"unknown nested key", func(t *testing.T) Sources { return Sources{File: writeFile(t, "tls:\n  certfile: x\n")} }, "certfile"},
		{"unknown env", func(t *testing.T) Sources { return Sources{Env: []string{"CAMVAULT_LISTN=x"}} }, "CAMVAULT_LISTN"},
		{"bad bool", func(t *testing.T) Sources { return Sources{Env: []string{"CAMVAULT_TLS_SELF_SIGNED=maybe"}} }, "tls.self_signed"},
		{"bad duration", func(t *testing.T) Sources { return Sources{Env: []string{"CAMVAULT_AUTH_SESSION_IDLE=soon"}} }, "auth.session_idle"},
		{"public without tls", func(t *testing.T) Sources { return Sources{Env: []string{"CAMVAULT_LISTEN=0.0.0.0:8080"}} }, "--tls-self-signed"},
		{"cert without key", func(t *testing.T) Sources { return Sources{Env: []string{"CAMVAULT_TLS_CERT=/x"}} }, "together"},
		{"bad store", func(t *testing.T) Sources { return Sources{Env: []string{"CAMVAULT_STORE=mysql://x"}} }, "store"},
		{"bad level", func(t *testing.T) Sources { return Sources{Env: []string{"CAMVAULT_LOG_LEVEL=loud"}} }, "log.level"},
		{"missing file", func(t *testing.T) Sources { return Sources{File: "/nonexistent/camvault.yaml"} }, "config file"},
		{"cluster without nats", func(t *testing.T) Sources {
			return Sources{Env: []string{"CAMVAULT_CLUSTER_ENABLED=true", "CAMVAULT_STORE=postgres://db/camvault"}}
		}, "bus.nats"},
		{"cluster on sqlite", func(t *testing.T) Sources { return Sources{Env: []string{"CAMVAULT_CLUSTER_ENABLED=true"}} }, "postgres"},
		{"cluster without secrets", func(t *testing.T) Sources {
			return Sources{File: writeFile(t, "store: postgres://db/camvault\nbus:\n  nats: nats://127.0.0.1:4222\nblob:\n  s3:\n    endpoint: s3.example.org:443\n    bucket: rec\n    access_key: k\n    secret_key_file: /s\n")}
		}, "never generated"},
		{"bad nats url", func(t *testing.T) Sources { return Sources{Env: []string{"CAMVAULT_BUS_NATS=http://x"}} }, "bus.nats"},
		{"s3 without endpoint", func(t *testing.T) Sources { return Sources{Env: []string{"CAMVAULT_BLOB_S3_BUCKET=rec"}} }, "blob.s3.endpoint"},
		{"s3 endpoint with scheme", func(t *testing.T) Sources {
			return Sources{File: writeFile(t, "blob:\n  s3:\n    endpoint: https://s3.example.org\n    bucket: rec\n")}
		}, "host:port"},
		{"s3 plain http off loopback", func(t *testing.T) Sources {
			return Sources{File: writeFile(t, "blob:\n  s3:\n    endpoint: s3.example.org:443\n    insecure: true\n    bucket: rec\n")}
		}, "loopback"},
		{"s3 without credentials", func(t *testing.T) Sources {
			return Sources{File: writeFile(t, "blob:\n  s3:\n    endpoint: s3.example.org:443\n    bucket: rec\n")}
		}, "secret_key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.src(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

func TestPublicWithTLS(t *testing.T) {
	if _, err := Load(Sources{Env: []string{"CAMVAULT_LISTEN=0.0.0.0:8443", "CAMVAULT_TLS_SELF_SIGNED=true"}}); err != nil {
		t.Fatal(err)
	}
}

func TestPrintRedacts(t *testing.T) {
	c := Default()
	c.Store = "postgres://camvault:hunter2secret@db/camvault"
	c.Bus.NATS = "nats://camvault:natssecret@nats:4222"
	var b bytes.Buffer
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "hunter2secret") || strings.Contains(b.String(), "natssecret") || !strings.Contains(b.String(), "REDACTED") {
		t.Fatalf("not redacted:\n%s", b.String())
	}
	if !strings.Contains(b.String(), `listen: "127.0.0.1:8080"`) || !strings.Contains(b.String(), "auth:\n  open_signup: false\n  session_idle: \"168h0m0s\"") {
		t.Fatalf("missing fields:\n%s", b.String())
	}
}

// TestPullingOffByDefault: the server pulls IP cameras from no network
// until the operator lists some; a listed network is kept as given.
func TestPullingOffByDefault(t *testing.T) {
	c, err := Load(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Live.PullNetworks != "" {
		t.Fatalf("default live.pull_networks = %q, want empty (pulling off)", c.Live.PullNetworks)
	}
	c, err = Load(Sources{File: writeFile(t, "live:\n  pull_networks: 192.168.1.0/24\n")})
	if err != nil || c.Live.PullNetworks != "192.168.1.0/24" {
		t.Fatalf("pull_networks from a file: %q, %v", c.Live.PullNetworks, err)
	}
}

// TestPrintRoundTrip: what Print writes, Load reads back as the same
// configuration, for defaults and for a setting of every kind changed.
func TestPrintRoundTrip(t *testing.T) {
	changed := Default()
	changed.DataDir = t.TempDir()
	changed.Store = "sqlite:" + filepath.Join(changed.DataDir, "x \"quoted\" #not a comment.db")
	changed.BaseURL = "https://cams.example.org"
	changed.TLS.SelfSigned = true
	changed.Listen = "0.0.0.0:8443"
	changed.Live.PullNetworks = "192.168.1.0/24, 10.0.0.0/8"
	changed.Devices.Rate = 2.5
	changed.Recordings.MaxDays = 30
	changed.Auth.SessionIdle = Duration(90 * time.Minute)
	changed.Log.Format = "json"
	for name, c := range map[string]Config{"defaults": Default(), "changed": changed} {
		t.Run(name, func(t *testing.T) {
			var first bytes.Buffer
			if err := c.Print(&first); err != nil {
				t.Fatal(err)
			}
			back, err := Load(Sources{File: writeFile(t, first.String())})
			if err != nil {
				t.Fatalf("Load of the printed configuration: %v\n%s", err, first.String())
			}
			want := c
			want.Store = c.StoreURL() // printed as the store it resolves to
			if !reflect.DeepEqual(back, want) {
				t.Fatalf("read back\n%+v\nwant\n%+v\nfrom\n%s", back, want, first.String())
			}
			var second bytes.Buffer
			if err := back.Print(&second); err != nil {
				t.Fatal(err)
			}
			if second.String() != first.String() {
				t.Fatalf("printed again differently:\n%s\nfirst:\n%s", second.String(), first.String())
			}
		})
	}
}

// TestClusterRole: a node's role is all by default, api or media only in
// cluster mode, and each role needs the settings it uses and no others.
func TestClusterRole(t *testing.T) {
	cluster := "store: postgres://db/camvault\nbus:\n  nats: nats://127.0.0.1:4222\nblob:\n  s3:\n    endpoint: s3.example.org:443\n    bucket: rec\n    access_key: k\n    secret_key_file: /s\n" +
		"cluster:\n  enabled: true\n  server_key_file: /c/server.key\n  device_ca_dir: /c/devices\n"
	c, err := Load(Sources{})
	if err != nil || c.Cluster.Role != RoleAll || !c.ServesAPI() || !c.ServesMedia() {
		t.Fatalf("default role %q (api %v, media %v), %v", c.Cluster.Role, c.ServesAPI(), c.ServesMedia(), err)
	}
	for _, tt := range []struct {
		name       string
		file       string
		env        []string
		want       string // part of the error; empty: loads
		api, media bool
	}{
		{"single server, all", "", []string{"CAMVAULT_CLUSTER_ROLE=all"}, "", true, true},
		{"single server, api", "", []string{"CAMVAULT_CLUSTER_ROLE=api"}, "cluster nodes only", false, false},
		{"single server, media", "", []string{"CAMVAULT_CLUSTER_ROLE=media"}, "cluster nodes only", false, false},
		{"unknown role", cluster, []string{"CAMVAULT_CLUSTER_ROLE=video"}, "not all, api or media", false, false},
		{"cluster, all", cluster, []string{"CAMVAULT_CLUSTER_OAUTH_KEY_FILE=/c/oauth.key"}, "", true, true},
		{"cluster, all without oauth key", cluster, nil, "oauth_key_file", false, false},
		{"api", cluster, []string{"CAMVAULT_CLUSTER_ROLE=api", "CAMVAULT_CLUSTER_OAUTH_KEY_FILE=/c/oauth.key", "CAMVAULT_DEVICES_URL=wss://devices.example.org"}, "", true, false},
		{"api without oauth key", cluster, []string{"CAMVAULT_CLUSTER_ROLE=api", "CAMVAULT_DEVICES_URL=wss://devices.example.org"}, "oauth_key_file", false, false},
		{"api without devices url", cluster, []string{"CAMVAULT_CLUSTER_ROLE=api", "CAMVAULT_CLUSTER_OAUTH_KEY_FILE=/c/oauth.key"}, "devices.url", false, false},
		{"api without devices", cluster, []string{"CAMVAULT_CLUSTER_ROLE=api", "CAMVAULT_CLUSTER_OAUTH_KEY_FILE=/c/oauth.key", "CAMVAULT_DEVICES_LISTEN="}, "", true, false},
		{"media without oauth key", cluster, []string{"CAMVAULT_CLUSTER_ROLE=media"}, "", false, true},
		{"media without devices", cluster, []string{"CAMVAULT_CLUSTER_ROLE=media", "CAMVAULT_DEVICES_LISTEN="}, "devices.listen", false, false},
		{"media without device CA", cluster, []string{"CAMVAULT_CLUSTER_ROLE=media", "CAMVAULT_CLUSTER_DEVICE_CA_DIR="}, "device_ca_dir", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := Sources{Env: tt.env}
			if tt.file != "" {
				src.File = writeFile(t, tt.file)
			}
			c, err := Load(src)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want mention of %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ServesAPI() != tt.api || c.ServesMedia() != tt.media {
				t.Fatalf("serves api %v, media %v; want %v, %v", c.ServesAPI(), c.ServesMedia(), tt.api, tt.media)
			}
		})
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fl := RegisterFlags(fs)
	if err := fs.Parse([]string{"--cluster-role", "media"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Sources{File: writeFile(t, cluster), Flags: fl}); err != nil {
		t.Fatalf("--cluster-role media: %v", err)
	}
}

// TestPlacementNaming: a node's own URL defaults to the public URL, and
// the placement directory's buckets follow bus.subject unless named.
func TestPlacementNaming(t *testing.T) {
	c := Default()
	c.BaseURL = "https://cams.example.org"
	c.Bus.Subject = "camvault.test.X1"
	if got := c.NodePublicURL(); got != "https://cams.example.org" {
		t.Errorf("NodePublicURL = %q", got)
	}
	if got := c.PlacementPrefix(); got != "camvault_test_X1" {
		t.Errorf("PlacementPrefix from the subject = %q", got)
	}
	c.Cluster.PublicURL, c.Cluster.PlacementPrefix = "https://node-1.cams.example.org/", "cams_a"
	if got := c.NodePublicURL(); got != "https://node-1.cams.example.org" {
		t.Errorf("NodePublicURL = %q", got)
	}
	if got := c.PlacementPrefix(); got != "cams_a" {
		t.Errorf("PlacementPrefix = %q", got)
	}
}
