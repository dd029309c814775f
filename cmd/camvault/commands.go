package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/camvault/camvault/internal/app"
	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/service"
)

const usage = `camvault — smart security cameras that only their owners can see.

Usage:
  camvault <command> [flags]

Commands:
  demo      a server with simulated cameras in two homes, and a sign-in link
  serve     run the camera server (web UI and API)
  agent     run the camera-side agent (enrol, claim code, control channel); agent reset
  sim       run N simulated cameras against a server
  admin     instance administration on the data dir (user add)
  verify    check a signed capture or recording: who signed what, any tampering
  bench     measure live video fan-out on loopback and print JSON
  display-sim  act as a smart display: link an account (OAuth), SYNC, play and check streams
  version   print the version

Run "camvault <command> --help" for a command's flags.
`

// errUsage means the usage text was printed because of bad arguments.
var errUsage = errors.New("usage")

func run(args []string, stdin io.Reader, stdout, stderr io.Writer, env []string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stdout, stderr, env)
	case "admin":
		err = admin(args[1:], stdin, stdout, stderr, env)
	case "agent":
		err = agentCmd(args[1:], stdout, stderr)
	case "verify":
		err = verifyCmd(args[1:], stdout, stderr)
	case "demo":
		err = demoCmd(args[1:], stdout, stderr)
	case "sim":
		err = simCmd(args[1:], stdout, stderr)
	case "bench":
		err = benchCmd(args[1:], stdout, stderr)
	case "display-sim":
		err = displaySimCmd(args[1:], stdin, stdout, stderr, env)
	case "version", "--version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "camvault: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "camvault: %v\n", err)
	return 1
}

func versionString() string {
	v, goV := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		goV = bi.GoVersion
	}
	return "camvault " + v + " " + goV
}

// loadConfig parses the common configuration flags of fs after args.
func loadConfig(fs *flag.FlagSet, args []string, env []string) (config.Config, *bool, error) {
	file := fs.String("config", "", "YAML configuration file")
	printCfg := fs.Bool("print-config", false, "print the effective configuration (secrets redacted) and exit")
	fl := config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return config.Config{}, nil, err
	}
	if fs.NArg() > 0 {
		return config.Config{}, nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.Load(config.Sources{File: *file, Env: env, Flags: fl})
	return cfg, printCfg, err
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(args []string, stdout, stderr io.Writer, env []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: camvault serve [flags]

Runs the camvault server: web UI at /, JSON API at /api/v1, /healthz,
/readyz and /metrics. Settings come from defaults, then --config FILE, then
CAMVAULT_* environment variables (CAMVAULT_LISTEN, CAMVAULT_TLS_CERT, ...),
then flags. With an empty store the server prints a one-time setup link.

Listening beyond loopback requires TLS: --tls-cert/--tls-key, or
--tls-self-signed to create a local CA in the data dir.

Flags:
`)
		fs.PrintDefaults()
	}
	cpuProfile := fs.String("cpu-profile", "", "write a CPU profile to `FILE` until the server stops (diagnostics)")
	memProfile := fs.String("mem-profile", "", "write a heap profile to `FILE` when the server is told to stop (diagnostics)")
	cfg, printCfg, err := loadConfig(fs, args, env)
	if err != nil {
		return err
	}
	if *printCfg {
		return cfg.Print(stdout)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *memProfile != "" {
		// The heap as the last collection before the stop signal saw it,
		// with every allocation made until then.
		written := make(chan struct{})
		go func() {
			defer close(written)
			<-ctx.Done()
			if f, err := os.Create(*memProfile); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
		defer func() { <-written }()
	}
	return app.Run(ctx, app.Options{Config: cfg, Logger: newLogger(cfg, stderr), Stderr: stderr})
}

func admin(args []string, stdin io.Reader, stdout, stderr io.Writer, env []string) error {
	const adminUsage = `Usage: camvault admin user add --email EMAIL [--instance-admin] [config flags]
       camvault admin integration add --name NAME --redirect-uri URI [--redirect-uri URI...] [--notify-url URL] [config flags]
       camvault admin integration disable|enable NAME [config flags]
       camvault admin integration list [config flags]
       camvault admin recordings check [--repair] [config flags]
       camvault admin rotate-key [config flags]
       camvault admin rekey [config flags]

Instance administration, run on the server's machine against its data dir
(--data-dir, or the configuration's). It must hold an installation (the
server's key and store): admin commands never create one. Each says which
store it used.

  user add             create an account. The password is read from standard
                       input (one line), never from the command line. The
                       account joins no home; invite it to one, or it creates
                       its own.
  integration add      register a smart-display or assistant platform as an
                       OAuth 2.0 client. Prints its client ID and its secret,
                       which is shown this once. Redirect URIs are matched
                       exactly and must be https (http only to localhost).
  integration disable  cut the integration off everywhere at once: every link
                       to it is revoked, its tokens stop working and its
                       streams end. Enabling it again revives no link.
  integration list     the registered integrations.
  recordings check     compare the recordings index with the stored files and
                       print what disagrees (JSON); exits non-zero if anything
                       does. --repair removes orphan files, abandoned uploads
                       and index entries whose file is missing or damaged (at
                       start the server removes only orphan files and its own
                       unfinished uploads).
  rotate-key           replace the server key (secrets/server.key): every data
                       key and every secret sealed with it is rewrapped under a
                       new key in one step. Run it with the server stopped.
  rekey                rewrite every data key and sealed secret that is not yet
                       under the current server key (of cluster.server_key_file
                       on a cluster) with it, a few at a time; safe while
                       nodes serve. Run it after making a new key current on
                       every node, before removing the old one.
  cluster-secrets [--media-hosts LIST] DIR
                       make a new cluster's shared secrets in DIR (server key,
                       OAuth key, device CA, and the media nodes' device server
                       certificate for LIST), once; nodes get copies.
  media-cert [--media-hosts LIST] DIR
                       issue the media nodes' device server certificate anew
                       from the device CA in DIR (the cluster's devices/).
`
	usage := func(w io.Writer) { fmt.Fprint(w, adminUsage) }
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		usage(stdout)
		return nil
	}
	if len(args) < 2 && (len(args) == 0 || args[0] != "rotate-key" && args[0] != "rekey") {
		usage(stderr)
		return errUsage
	}
	switch strings.Join(args[:min(2, len(args))], " ") {
	case "user add":
		return adminUserAdd(args[2:], stdin, stdout, stderr, env, usage)
	case "integration add", "integration disable", "integration enable", "integration list":
		return adminIntegration(args[1], args[2:], stdout, stderr, env, usage)
	case "recordings check":
		return adminRecordingsCheck(args[2:], stdout, stderr, env, usage)
	}
	if args[0] == "rotate-key" {
		return adminRotateKey(args[1:], stdout, stderr, env, usage)
	}
	if args[0] == "rekey" {
		return adminRekey(args[1:], stdout, stderr, env, usage)
	}
	if args[0] == "cluster-secrets" {
		return adminClusterSecrets(args[1:], stdout, stderr, usage)
	}
	if args[0] == "media-cert" {
		return adminMediaCert(args[1:], stdout, stderr, usage)
	}
	usage(stderr)
	return errUsage
}

// adminService opens the store and service of the configured data dir,
// which must hold an installation.
func adminService(ctx context.Context, cfg config.Config, stderr io.Writer) (*service.Service, func(), error) {
	if err := adminInstallation(cfg, stderr); err != nil {
		return nil, nil, err
	}
	svc, st, err := app.NewService(ctx, cfg, newLogger(cfg, stderr), nil, service.DeviceConfig{})
	if err != nil {
		return nil, nil, err
	}
	return svc, func() { st.Close() }, nil
}

// userMessage is what a command prints for a service error.
func userMessage(err error) error {
	var se *service.Error
	if errors.As(err, &se) && se.Kind != service.KindInternal {
		return errors.New(se.Message)
	}
	return err
}

func adminUserAdd(args []string, stdin io.Reader, stdout, stderr io.Writer, env []string, usage func(io.Writer)) error {
	fs := flag.NewFlagSet("admin user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the new account's email")
	instanceAdmin := fs.Bool("instance-admin", false, "make the account an instance administrator")
	fs.Usage = func() { usage(stderr); fmt.Fprint(stderr, "\nFlags:\n"); fs.PrintDefaults() }
	cfg, _, err := loadConfig(fs, args, env)
	if err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("--email is required")
	}
	ctx := context.Background()
	svc, done, err := adminService(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer done()
	fmt.Fprintln(stderr, "Password (one line on standard input):")
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	a, err := svc.CreateAccount(ctx, *email, password, *instanceAdmin)
	if err != nil {
		return userMessage(err)
	}
	fmt.Fprintf(stdout, "created account %s (%s)\n", a.ID, a.Email)
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func adminIntegration(verb string, args []string, stdout, stderr io.Writer, env []string, usage func(io.Writer)) error {
	fs := flag.NewFlagSet("admin integration "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr); fmt.Fprint(stderr, "\nFlags:\n"); fs.PrintDefaults() }
	name := fs.String("name", "", "the integration's name, shown to people on the consent page")
	var uris stringList
	fs.Var(&uris, "redirect-uri", "an exact redirect URI (repeat for several)")
	notify := fs.String("notify-url", "", "where the platform takes change notifications (request sync, report state); optional")
	// The integration's name may come first, as in "disable NAME".
	positional := ""
	if (verb == "disable" || verb == "enable") && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		positional, args = args[0], args[1:]
	}
	cfg, _, err := loadConfig(fs, args, env)
	if err != nil {
		return err
	}
	if *name == "" {
		*name = positional
	}
	if verb != "list" && *name == "" {
		return fmt.Errorf("the integration's name is required")
	}
	ctx := context.Background()
	svc, done, err := adminService(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer done()
	switch verb {
	case "add":
		in, secret, err := svc.RegisterIntegration(ctx, service.IntegrationSpec{Name: *name, RedirectURIs: uris, NotifyURL: *notify})
		if err != nil {
			return userMessage(err)
		}
		fmt.Fprintf(stdout, "registered integration %q\nclient_id:     %s\nclient_secret: %s\n(the secret is shown this once; keep it in the platform's settings)\n", in.Name, in.ClientID, secret)
	case "disable", "enable":
		n, err := svc.SetIntegrationEnabled(ctx, *name, verb == "enable")
		if err != nil {
			return userMessage(err)
		}
		fmt.Fprintf(stdout, "integration %q %sd; %d links revoked\n", *name, verb, n)
	case "list":
		all, err := svc.Integrations(ctx)
		if err != nil {
			return userMessage(err)
		}
		for _, in := range all {
			state := "enabled"
			if !in.Enabled {
				state = "disabled"
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", in.Name, in.ClientID, state, strings.Join(in.RedirectURIs, " "))
		}
	}
	return nil
}
