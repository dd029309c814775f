package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/camvault/camvault/internal/app"
)

// adminClusterSecrets makes a new cluster's shared secrets in a folder.
func adminClusterSecrets(args []string, stdout, stderr io.Writer, usage func(io.Writer)) error {
	dir, hosts, err := mediaHostsArgs("admin cluster-secrets", args, stderr, usage)
	if err != nil {
		return err
	}
	if err := app.MakeClusterSecrets(dir, hosts...); err != nil {
		return fmt.Errorf("cluster-secrets: %w", err)
	}
	fmt.Fprintf(stdout, "made server.key, oauth.key and the device CA (devices/) in %s.\n"+
		"Give every node server.key, api and all nodes oauth.key and devices/, media nodes devices/ without device-ca-key.pem.\n"+
		"  --cluster-server-key-file %[1]s/server.key --cluster-oauth-key-file %[1]s/oauth.key --cluster-device-ca-dir %[1]s/devices\n", dir)
	return nil
}

// adminMediaCert makes the media nodes' device server certificate anew.
func adminMediaCert(args []string, stdout, stderr io.Writer, usage func(io.Writer)) error {
	dir, hosts, err := mediaHostsArgs("admin media-cert", args, stderr, usage)
	if err != nil {
		return err
	}
	if err := app.MakeMediaCertificate(dir, hosts...); err != nil {
		return fmt.Errorf("media-cert: %w", err)
	}
	fmt.Fprintf(stdout, "made a new device server certificate in %s; copy device-server.pem and device-server-key.pem to the media nodes.\n", dir)
	return nil
}

// mediaHostsArgs reads [--media-hosts LIST] DIR.
func mediaHostsArgs(name string, args []string, stderr io.Writer, usage func(io.Writer)) (string, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr); fmt.Fprint(stderr, "\nFlags:\n"); fs.PrintDefaults() }
	list := fs.String("media-hosts", "", "comma-separated names and addresses devices and viewers reach the media nodes at (localhost is always included)")
	if err := fs.Parse(args); err != nil {
		return "", nil, errUsage
	}
	if fs.NArg() != 1 {
		usage(stderr)
		return "", nil, errUsage
	}
	var hosts []string
	for h := range strings.SplitSeq(*list, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	return fs.Arg(0), hosts, nil
}
