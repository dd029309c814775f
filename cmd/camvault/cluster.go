package main

import (
	"fmt"
	"io"

	"github.com/camvault/camvault/internal/app"
)

// adminClusterSecrets makes a new cluster's shared secrets in a folder.
func adminClusterSecrets(args []string, stdout, stderr io.Writer, usage func(io.Writer)) error {
	if len(args) != 1 {
		usage(stderr)
		return errUsage
	}
	dir := args[0]
	if err := app.MakeClusterSecrets(dir); err != nil {
		return fmt.Errorf("cluster-secrets: %w", err)
	}
	fmt.Fprintf(stdout, "made server.key, oauth.key and the device CA (devices/) in %s.\n"+
		"Copy the folder to every node (mode 0700) and give each node:\n"+
		"  --cluster-server-key-file %[1]s/server.key --cluster-oauth-key-file %[1]s/oauth.key --cluster-device-ca-dir %[1]s/devices\n", dir)
	return nil
}
