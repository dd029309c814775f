package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/displaysim"
	"github.com/camvault/camvault/internal/domain"
)

const displaySimUsage = `Usage: camvault display-sim --server URL --client-id ID --redirect-uri URI --email EMAIL [flags]

Behaves as a smart-display platform and its display would, against a
camvault server: links the account through OAuth 2.0 with PKCE (signing in
and consenting through the web forms, without a browser), calls SYNC and
QUERY, asks for each linked camera's stream with EXECUTE (LL-HLS, or
WebRTC with --protocol webrtc), plays it until --gops GOPs verified or
--play passed, checks that every frame and snapshot was signed by the camera
it asked for, refreshes its tokens, and prints a JSON report.

The client secret is read from CAMVAULT_CLIENT_SECRET and the account's
password from CAMVAULT_PASSWORD, or else both from standard input (secret,
then password, a line each): never from flags, which other users of the
machine can see.

Exit status: 0 when everything verified, 1 when something did not.

Flags:
`

// displayReport is what display-sim prints.
type displayReport struct {
	Linked  bool             `json:"linked"`
	Devices []displayChecked `json:"devices"`
	Refresh string           `json:"refresh"`
	OK      bool             `json:"ok"`
}

type displayChecked struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Online    bool   `json:"online"`
	Frames    int    `json:"frames"`
	GOPs      int    `json:"gops_verified"`
	Snapshot  string `json:"snapshot"`
	Stream    string `json:"stream"`
	Violation string `json:"violation,omitempty"`
}

func displaySimCmd(args []string, stdin io.Reader, stdout, stderr io.Writer, env []string) error {
	fs := flag.NewFlagSet("display-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, displaySimUsage); fs.PrintDefaults() }
	server := fs.String("server", "", "the camvault server's URL")
	clientID := fs.String("client-id", "", "the integration's client ID (camvault admin integration add prints it)")
	redirect := fs.String("redirect-uri", "", "one of the integration's registered redirect URIs")
	email := fs.String("email", "", "the account to link")
	home := fs.String("home", "", "the home to link (default: the first)")
	var cams stringList
	fs.Var(&cams, "camera", "a camera to consent to, by name (repeat; default: all of the home)")
	play := fs.Duration("play", 20*time.Second, "how long at most to play each camera")
	gopsWanted := fs.Int("gops", 3, "stop playing a camera once this many GOPs verified")
	protocol := fs.String("protocol", "hls", "hls (LL-HLS) or webrtc (WHEP)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *server == "" || *clientID == "" || *redirect == "" || *email == "" || fs.NArg() != 0 || (*protocol != "hls" && *protocol != "webrtc") {
		fs.Usage()
		return errUsage
	}
	secret, password := lookupEnv(env, "CAMVAULT_CLIENT_SECRET"), lookupEnv(env, "CAMVAULT_PASSWORD")
	if secret == "" || password == "" {
		in := bufio.NewReader(stdin)
		line := func() string { s, _ := in.ReadString('\n'); return strings.TrimRight(s, "\r\n") }
		if secret == "" {
			secret = line()
		}
		if password == "" {
			password = line()
		}
	}
	ctx := context.Background()
	d := &displaysim.Client{Server: strings.TrimRight(*server, "/"), ClientID: *clientID, Secret: secret, RedirectURI: *redirect}
	rep := displayReport{OK: true}
	if err := d.Link(ctx, *email, password, displaysim.Consent{Home: *home, Cameras: cams}); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	rep.Linked = true
	sync, err := d.Sync(ctx)
	if err != nil {
		return fmt.Errorf("SYNC: %w", err)
	}
	var ids []string
	for _, dev := range sync.Devices {
		ids = append(ids, dev.ID)
	}
	states, err := d.Query(ctx, ids...)
	if err != nil && len(ids) > 0 {
		return fmt.Errorf("QUERY: %w", err)
	}
	for _, dev := range sync.Devices {
		c := displayChecked{ID: dev.ID, Name: dev.Name.Name, Online: states.Devices[dev.ID].Online}
		if jpeg, err := d.Snapshot(ctx, dev.ID); err != nil {
			c.Snapshot = err.Error()
		} else if err := displaysim.CheckSnapshot(jpeg, dev); err != nil {
			c.Snapshot, c.Violation, rep.OK = "refused", err.Error(), false
		} else {
			c.Snapshot = "verified"
		}
		res, err := d.Stream(ctx, dev.ID, *protocol)
		switch {
		case err != nil:
			c.Stream = err.Error()
		case res.Status != "SUCCESS":
			c.Stream = res.ErrorCode
		default:
			var p *displaysim.Playback
			if *protocol == "hls" {
				p, err = displaysim.PlayHLS(res.States.AccessURL, dev)
			} else if key, kerr := displaysim.Key(dev); kerr != nil {
				err = kerr
			} else {
				p, err = displaysim.PlayWebRTC(ctx, res.States.SignalingURL, domain.ID(dev.ID), dev.Attributes.Generation, key)
			}
			if err != nil {
				c.Stream = err.Error()
				break
			}
			p.Watch(ctx, *play, *gopsWanted)
			p.Close()
			frames, gops, verr := p.Stats()
			c.Frames, c.GOPs, c.Stream = frames, gops, "played"
			if verr != nil {
				c.Violation, rep.OK = verr.Error(), false
			}
		}
		rep.Devices = append(rep.Devices, c)
	}
	rep.Refresh = "rotated"
	if err := d.Refresh(ctx); err != nil {
		rep.Refresh = err.Error()
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.Encode(rep)
	if !rep.OK {
		return errors.New("a frame or snapshot was not signed by the camera asked for")
	}
	return nil
}

func lookupEnv(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return os.Getenv(name)
}
