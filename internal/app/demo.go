package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/agent"
	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
)

// DemoOptions configure RunDemo.
type DemoOptions struct {
	Config config.Config
	Logger *slog.Logger
	// Out receives the sign-in link and what the demo made.
	Out io.Writer
	// Cameras is how many simulated cameras the first home gets; the
	// second home gets one.
	Cameras int
	// Ready, if set, is called with the sign-in link.
	Ready func(link string)
}

var demoNames = []string{"Porch", "Garden", "Hall", "Garage", "Drive", "Back door", "Shed", "Kitchen"}

// RunDemo runs a server on a fresh store with simulated cameras in two
// homes and prints a one-time sign-in link for the first home's owner. The
// accounts get long random passwords that nobody sees: the link is the
// only way in, and it works once.
func RunDemo(ctx context.Context, o DemoOptions) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Cameras <= 0 {
		o.Cameras = 2
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan string, 1)
	var parts Parts
	var mu sync.Mutex
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: o.Config, Logger: o.Logger, Stderr: io.Discard,
			Ready:   func(u string) { ready <- u },
			Started: func(p Parts) { mu.Lock(); parts = p; mu.Unlock() }})
	}()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		return err
	}
	mu.Lock()
	svc := parts.Service
	mu.Unlock()

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	homes := []struct {
		email, name string
		cameras     int
	}{{"owner@demo-home.camvault.invalid", "Demo home", o.Cameras}, {"owner@neighbours.camvault.invalid", "The neighbours", 1}}
	var first domain.Account
	for hi, h := range homes {
		pw := make([]byte, 24)
		rand.Read(pw)
		acct, err := svc.CreateAccount(ctx, h.email, base64.RawURLEncoding.EncodeToString(pw), false)
		if err != nil {
			return fmt.Errorf("demo account: %w", err)
		}
		c := service.Caller{Account: acct, Addr: "127.0.0.1"}
		home, err := svc.CreateHome(ctx, c, h.name)
		if err != nil {
			return fmt.Errorf("demo home: %w", err)
		}
		if hi == 0 {
			first = acct
		}
		for i := range h.cameras {
			name := demoNames[i%len(demoNames)]
			if hi == 1 {
				name = "Neighbours' porch"
			}
			a, err := agent.New(agent.Config{
				Server: url, StateDir: filepath.Join(o.Config.DataDir, "sim", fmt.Sprintf("home%d-cam%d", hi+1, i+1)),
				Source: agent.Source{Kind: "builtin", Location: "porch"}, Version: "demo",
				Logger: o.Logger.With("sim", name), ClaimPoll: 200 * time.Millisecond,
			})
			if err != nil {
				return err
			}
			wg.Go(func() { a.Run(ctx) })
			code, err := waitClaimCode(ctx, a)
			if err != nil {
				return err
			}
			cv, err := svc.ClaimCamera(ctx, c, home.ID, code, name)
			if err != nil {
				return fmt.Errorf("demo claim: %w", err)
			}
			if hi == 0 && i == 0 {
				// One camera records continuously, so that its page's
				// timeline fills while you look around.
				if _, err := svc.SetCameraRecording(ctx, c, cv.ID, service.RecordingSettingsView{Mode: domain.RecordContinuous,
					PreRollSecs: domain.DefaultPreRoll.Seconds(), PostRollSecs: domain.DefaultPostRoll.Seconds(), RetainDays: 1}); err != nil {
					return fmt.Errorf("demo recording: %w", err)
				}
			}
		}
	}
	link, err := svc.CreateLoginLink(ctx, first.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "\ncamvault demo is running: two homes with simulated cameras (data in %s).\n"+
		"Open this one-time link within an hour to sign in as the owner of %q:\n\n    %s\n\n"+
		"Its first camera records continuously: open it to play back from its timeline.\n"+
		"The other home's camera is there too — and invisible to you. Stop with Ctrl-C.\n\n",
		o.Config.DataDir, homes[0].name, link)
	if o.Ready != nil {
		o.Ready(link)
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		cancel()
		err := <-done
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		return err
	}
}

func waitClaimCode(ctx context.Context, a *agent.Agent) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st := a.Status(); st.ClaimCode != "" {
			return st.ClaimCode, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("simulated camera did not enrol: %s", a.Status().LastError)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
