package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"runtime/debug"
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
	cfg, printCfg, err := loadConfig(fs, args, env)
	if err != nil {
		return err
	}
	if *printCfg {
		return cfg.Print(stdout)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return app.Run(ctx, app.Options{Config: cfg, Logger: newLogger(cfg, stderr), Stderr: stderr})
}

func admin(args []string, stdin io.Reader, stdout, stderr io.Writer, env []string) error {
	const adminUsage = `Usage: camvault admin user add --email EMAIL [--instance-admin] [config flags]

Instance administration, run on the server's machine against its data dir.

  user add   create an account. The password is read from standard input
             (one line), never from the command line. The account joins no
             home; invite it to one, or it creates its own.
`
	if len(args) < 2 || args[0] != "user" || args[1] != "add" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, adminUsage)
			return nil
		}
		fmt.Fprint(stderr, adminUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("admin user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the new account's email")
	instanceAdmin := fs.Bool("instance-admin", false, "make the account an instance administrator")
	fs.Usage = func() { fmt.Fprint(stderr, adminUsage+"\nFlags:\n"); fs.PrintDefaults() }
	cfg, _, err := loadConfig(fs, args[2:], env)
	if err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("--email is required")
	}
	fmt.Fprintln(stderr, "Password (one line on standard input):")
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	ctx := context.Background()
	svc, st, err := app.NewService(ctx, cfg, newLogger(cfg, stderr), nil, service.DeviceConfig{})
	if err != nil {
		return err
	}
	defer st.Close()
	a, err := svc.CreateAccount(ctx, *email, password, *instanceAdmin)
	if err != nil {
		var se *service.Error
		if errors.As(err, &se) && se.Kind != service.KindInternal {
			return errors.New(se.Message)
		}
		return err
	}
	fmt.Fprintf(stdout, "created account %s (%s)\n", a.ID, a.Email)
	return nil
}
