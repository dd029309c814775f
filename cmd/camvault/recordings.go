package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/camvault/camvault/internal/app"
	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/record"
)

func adminRecordingsCheck(args []string, stdout, stderr io.Writer, env []string, usage func(io.Writer)) error {
	fs := flag.NewFlagSet("admin recordings check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr); fmt.Fprint(stderr, "\nFlags:\n"); fs.PrintDefaults() }
	repair := fs.Bool("repair", false, "remove orphan files, abandoned uploads, and index entries whose files are missing or damaged")
	cfg, _, err := loadConfig(fs, args, env)
	if err != nil {
		return err
	}
	if err := adminInstallation(cfg, stderr); err != nil {
		return err
	}
	ctx := context.Background()
	ar, st, err := app.OpenArchive(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer st.Close()
	mode := record.Check
	if *repair {
		mode = record.Repair
	}
	c, err := ar.Reconcile(ctx, mode)
	if err != nil {
		return err
	}
	out, _ := json.Marshal(map[string]any{"ok": c.OK(), "repaired": *repair && !c.OK(), "segments": c.Segments, "files": c.Blobs,
		"orphan_files": c.OrphanBlobs, "abandoned_uploads": c.AbandonedUploads, "missing_files": c.MissingBlobs, "damaged": c.Damaged})
	fmt.Fprintln(stdout, string(out))
	if !c.OK() && !*repair {
		return errors.New("the recordings index and the stored files disagree (run with --repair)")
	}
	return nil
}

func adminRotateKey(args []string, stdout, stderr io.Writer, env []string, usage func(io.Writer)) error {
	return adminRewrite("rotate-key", app.RotateServerKey, "server key rotated: %d wrapped keys and sealed secrets rewritten\n",
		args, stdout, stderr, env, usage)
}

func adminRekey(args []string, stdout, stderr io.Writer, env []string, usage func(io.Writer)) error {
	return adminRewrite("rekey", app.Rekey, "rekeyed: %d wrapped keys and sealed secrets rewritten under the current server key\n",
		args, stdout, stderr, env, usage)
}

// adminRewrite runs one of the commands that rewrite wrapped keys and
// sealed secrets on an installation, and says how many it rewrote.
func adminRewrite(name string, rewrite func(context.Context, config.Config) (int, error), done string,
	args []string, stdout, stderr io.Writer, env []string, usage func(io.Writer)) error {
	fs := flag.NewFlagSet("admin "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr); fmt.Fprint(stderr, "\nFlags:\n"); fs.PrintDefaults() }
	cfg, _, err := loadConfig(fs, args, env)
	if err != nil {
		return err
	}
	if err := adminInstallation(cfg, stderr); err != nil {
		return err
	}
	n, err := rewrite(context.Background(), cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, done, n)
	return nil
}
