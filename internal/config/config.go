// Package config is camvault's server configuration: one typed struct,
// filled in order from defaults, an optional YAML file, CAMVAULT_*
// environment variables and command-line flags, then validated section by
// section.
//
//	cfg, err := config.Load(config.Sources{File: path, Env: os.Environ(), Flags: fs})
//
// Unknown keys in the file and unknown CAMVAULT_* variables are errors that
// name the key. Print redacts secrets.
package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/netguard"
)

// Config is the server configuration.
type Config struct {
	// DataDir holds the SQLite database, per-install secrets, TLS material
	// and (later) recordings.
	DataDir string `yaml:"data_dir" help:"directory for the database, keys and recordings"`
	// Listen is the HTTP(S) listen address.
	Listen string `yaml:"listen" help:"listen address (host:port)"`
	// Store selects the metadata store: sqlite:PATH or postgres://...
	// Empty means sqlite in DataDir.
	Store string `yaml:"store" secret:"url" help:"metadata store: sqlite:PATH or postgres://URL (default: sqlite in the data dir)"`
	// BaseURL is the URL people reach the server at, used in setup and
	// invitation links. Empty means derived from Listen.
	BaseURL string `yaml:"base_url" help:"public URL for links (default: from the listen address)"`

	TLS     TLS     `yaml:"tls"`
	Auth    Auth    `yaml:"auth"`
	Devices Devices `yaml:"devices"`
	Live    Live    `yaml:"live"`
	OAuth   OAuth   `yaml:"oauth"`
	// Recordings configures what the server keeps of its cameras.
	Recordings Recordings `yaml:"recordings"`
	Log        Log        `yaml:"log"`
}

// Recordings configures recording storage and retention. What each
// camera records is its owners' choice (off until they choose).
type Recordings struct {
	Dir           string   `yaml:"dir" help:"directory for recordings, sealed at rest (default: recordings in the data dir)"`
	Segment       Duration `yaml:"segment" help:"target length of a recorded segment (cut at the next keyframe)"`
	MaxDays       int      `yaml:"max_days" help:"delete any recording older than this many days (0: only the cameras' and homes' limits)"`
	FreeFloorGB   float64  `yaml:"free_floor_gb" help:"delete the oldest recordings while less than this much disk space is free"`
	CleanInterval Duration `yaml:"clean_interval" help:"how often retention and due deletions run"`
}

// OAuth configures the authorization server for integrations.
type OAuth struct {
	AccessTokenTTL  Duration `yaml:"access_token_ttl" help:"lifetime of integrations' access tokens"`
	RefreshTokenTTL Duration `yaml:"refresh_token_ttl" help:"lifetime of integrations' refresh tokens (each use rotates them)"`
	NotifyInterval  Duration `yaml:"notify_interval" help:"how often linked platforms are told of their cameras' changes"`
}

// Live configures how viewers reach live video.
type Live struct {
	RTSPListen string `yaml:"rtsp_listen" help:"RTSPS address for viewers (VLC, Home Assistant, other NVRs); empty turns it off"`
	RTSPURL    string `yaml:"rtsp_url" help:"rtsps:// URL viewers use (default: the public host and the RTSPS port)"`
	// PullNetworks are the networks the server may connect to for IP
	// cameras it pulls itself. Empty, the default, turns pulling off:
	// the operator must list the cameras' networks first (netguard.LANNetworks
	// are the private ranges of a home LAN). Loopback and link-local
	// addresses need a listed network inside their range (127.0.0.0/8, say).
	PullNetworks string `yaml:"pull_networks" help:"comma-separated networks the server may pull IP cameras from, e.g. 192.168.1.0/24 (default empty: no pulling)"`
}

// Devices configures the device listener, where claimed cameras' agents
// connect with their client certificates. It always serves TLS.
type Devices struct {
	Listen       string `yaml:"listen" help:"device listener address (host:port, always mutual TLS); empty turns devices off"`
	URL          string `yaml:"url" help:"wss:// URL agents use to reach the device listener (default: the public host and the device port)"`
	IngestListen string `yaml:"ingest_listen" help:"RTSPS address where agents publish video (always mutual TLS); empty turns video ingest off"`
	IngestURL    string `yaml:"ingest_url" help:"rtsps:// URL agents publish to (default: the public host and the ingest port)"`
	// Rate and Burst bound enrolment and claim requests per address.
	Rate  float64 `yaml:"rate" help:"enrolment and claim requests per second allowed from one address"`
	Burst int     `yaml:"burst" help:"enrolment and claim requests allowed at once from one address"`
}

// TLS configures HTTPS.
type TLS struct {
	Cert       string `yaml:"cert" help:"TLS certificate file (PEM)"`
	Key        string `yaml:"key" help:"TLS private key file (PEM)"`
	SelfSigned bool   `yaml:"self_signed" help:"create and keep a local CA and server certificate in the data dir"`
}

// Enabled reports whether the server serves HTTPS.
func (t TLS) Enabled() bool { return t.SelfSigned || t.Cert != "" }

// Auth configures accounts and sessions.
type Auth struct {
	OpenSignup  bool     `yaml:"open_signup" help:"let anyone create an account"`
	SessionIdle Duration `yaml:"session_idle" help:"end a browser session after this long unused"`
	SessionMax  Duration `yaml:"session_max" help:"end a browser session this long after login"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level" help:"debug, info, warn or error"`
	Format string `yaml:"format" help:"text or json"`
}

// Duration is a time.Duration written as "90s", "12h" in files and flags.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Default returns the configuration used when nothing else is said.
func Default() Config {
	return Config{
		DataDir:    "./camvault-data",
		Listen:     "127.0.0.1:8080",
		Devices:    Devices{Listen: "127.0.0.1:8443", IngestListen: "127.0.0.1:8555", Rate: 5, Burst: 60},
		Live:       Live{RTSPListen: "127.0.0.1:8322"}, // no pull networks: pulling is off until the operator allows some
		OAuth:      OAuth{AccessTokenTTL: Duration(10 * time.Minute), RefreshTokenTTL: Duration(30 * 24 * time.Hour), NotifyInterval: Duration(5 * time.Second)},
		Recordings: Recordings{Segment: Duration(4 * time.Second), FreeFloorGB: 1, CleanInterval: Duration(time.Minute)},
		Auth: Auth{
			SessionIdle: Duration(7 * 24 * time.Hour),
			SessionMax:  Duration(30 * 24 * time.Hour),
		},
		Log: Log{Level: "info", Format: "text"},
	}
}

// StoreURL returns the store URL, defaulting to SQLite in the data dir.
func (c Config) StoreURL() string {
	if c.Store != "" {
		return c.Store
	}
	return "sqlite:" + filepath.Join(c.DataDir, "camvault.db")
}

// PublicURL returns the base URL for links, without a trailing slash.
func (c Config) PublicURL() string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	scheme := "http"
	if c.TLS.Enabled() {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return scheme + "://" + c.Listen
	}
	// Loopback and wildcard listeners are reached as "localhost": a host
	// name, as passkeys require, that every browser treats as secure.
	if host == "" || host == "0.0.0.0" || host == "::" || isLoopback(host) {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Validate checks every section and returns the first problem found.
// DeviceURL is where agents reach the device listener, given the port it
// actually listens on.
func (c Config) DeviceURL(port string) string {
	if c.Devices.URL != "" {
		return strings.TrimRight(c.Devices.URL, "/")
	}
	host := "localhost"
	if u, err := url.Parse(c.PublicURL()); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return "wss://" + net.JoinHostPort(host, port)
}

// IngestURL is where agents publish video, given the port the ingest
// listener actually uses.
func (c Config) IngestURL(port string) string {
	if c.Devices.IngestURL != "" {
		return strings.TrimRight(c.Devices.IngestURL, "/")
	}
	host := "localhost"
	if u, err := url.Parse(c.PublicURL()); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return "rtsps://" + net.JoinHostPort(host, port)
}

// LiveRTSPURL is where viewers reach RTSPS, given the port in use.
func (c Config) LiveRTSPURL(port string) string {
	if c.Live.RTSPURL != "" {
		return strings.TrimRight(c.Live.RTSPURL, "/")
	}
	host := "localhost"
	if u, err := url.Parse(c.PublicURL()); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return "rtsps://" + net.JoinHostPort(host, port)
}

func (c Config) Validate() error {
	for _, check := range []func() error{c.validateServer, c.TLS.validate, c.Auth.validate, c.Devices.validate, c.Live.validate, c.Recordings.validate, c.Log.validate} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c Config) validateServer() error {
	if c.DataDir == "" {
		return fmt.Errorf("data_dir: must not be empty")
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil || port == "" {
		return fmt.Errorf("listen: %q is not host:port", c.Listen)
	}
	if !c.TLS.Enabled() && !isLoopback(host) {
		return fmt.Errorf("listen: %q is not a loopback address and TLS is off; "+
			"serving accounts and video in clear text over a network is refused. "+
			"Enable TLS with --tls-cert FILE --tls-key FILE, or --tls-self-signed "+
			"(creates a local CA in the data dir), or listen on 127.0.0.1", c.Listen)
	}
	if s := c.Store; s != "" && !strings.HasPrefix(s, "sqlite:") &&
		!strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		return fmt.Errorf("store: must start with sqlite: or postgres://")
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("base_url: %q is not an http(s) URL", c.BaseURL)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (d Devices) validate() error {
	if d.Listen == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(d.Listen); err != nil || port == "" {
		return fmt.Errorf("devices.listen: %q is not host:port", d.Listen)
	}
	if d.URL != "" {
		u, err := url.Parse(d.URL)
		if err != nil || u.Scheme != "wss" || u.Host == "" {
			return fmt.Errorf("devices.url: %q is not a wss:// URL", d.URL)
		}
	}
	if d.IngestListen != "" {
		if _, port, err := net.SplitHostPort(d.IngestListen); err != nil || port == "" {
			return fmt.Errorf("devices.ingest_listen: %q is not host:port", d.IngestListen)
		}
	}
	if d.IngestURL != "" {
		u, err := url.Parse(d.IngestURL)
		if err != nil || u.Scheme != "rtsps" || u.Host == "" {
			return fmt.Errorf("devices.ingest_url: %q is not an rtsps:// URL", d.IngestURL)
		}
	}
	return nil
}

func (l Live) validate() error {
	if _, err := netguard.Parse(l.PullNetworks); err != nil {
		return fmt.Errorf("live.pull_networks: %w", err)
	}
	return nil
}

func (r Recordings) validate() error {
	switch {
	case r.Segment < Duration(time.Second) || r.Segment > Duration(30*time.Second):
		return fmt.Errorf("recordings.segment: must be 1s to 30s")
	case r.MaxDays < 0:
		return fmt.Errorf("recordings.max_days: must not be negative")
	case r.FreeFloorGB < 0:
		return fmt.Errorf("recordings.free_floor_gb: must not be negative")
	case r.CleanInterval < Duration(time.Second):
		return fmt.Errorf("recordings.clean_interval: must be at least 1s")
	}
	return nil
}

// RecordingsDir is where recordings live.
func (c Config) RecordingsDir() string {
	if c.Recordings.Dir != "" {
		return c.Recordings.Dir
	}
	return filepath.Join(c.DataDir, "recordings")
}

func (t TLS) validate() error {
	if (t.Cert == "") != (t.Key == "") {
		return fmt.Errorf("tls: cert and key must be given together")
	}
	if t.SelfSigned && t.Cert != "" {
		return fmt.Errorf("tls: choose either self_signed or cert/key, not both")
	}
	return nil
}

func (a Auth) validate() error {
	if a.SessionIdle < Duration(time.Minute) {
		return fmt.Errorf("auth.session_idle: must be at least 1m")
	}
	if a.SessionMax < a.SessionIdle {
		return fmt.Errorf("auth.session_max: must be at least auth.session_idle")
	}
	return nil
}

func (l Log) validate() error {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not debug, info, warn or error", l.Level)
	}
	switch l.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format: %q is not text or json", l.Format)
	}
	return nil
}
