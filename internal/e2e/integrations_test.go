package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/app"
	"github.com/camvault/camvault/internal/config"
	"github.com/camvault/camvault/internal/displaysim"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/integrations/smarthome"
	"github.com/camvault/camvault/internal/service"
)

const redirectURI = "https://display.example.com/oauth/callback"

// display registers an integration named name and returns a display client
// of it (not yet linked).
func display(t *testing.T, s *server, name string) *displaysim.Client {
	t.Helper()
	in, secret, err := s.parts.Service.RegisterIntegration(context.Background(), service.IntegrationSpec{Name: name, RedirectURIs: []string{redirectURI}})
	if err != nil {
		t.Fatal(err)
	}
	return &displaysim.Client{Server: s.url, ClientID: in.ClientID, Secret: secret, RedirectURI: redirectURI}
}

// another returns a second display of the same integration as d.
func another(d *displaysim.Client) *displaysim.Client {
	return &displaysim.Client{Server: d.Server, ClientID: d.ClientID, Secret: d.Secret, RedirectURI: d.RedirectURI}
}

// oauthCode asserts that err is an OAuth error with code.
func oauthCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var oe *displaysim.OAuthError
	if !errors.As(err, &oe) || oe.Code != code {
		t.Fatalf("%s: err = %v, want OAuth error %s", what, err, code)
	}
}

// status asserts that err is a fulfillment answer with status.
func status(t *testing.T, what string, err error, code int) {
	t.Helper()
	var se *displaysim.StatusError
	if !errors.As(err, &se) || se.Status != code {
		t.Fatalf("%s: err = %v, want HTTP %d", what, err, code)
	}
}

// playVerified asks the display's camera stream over LL-HLS and waits for
// gops verified GOPs of it.
func playVerified(t *testing.T, d *displaysim.Client, dev smarthome.Device, gops int) *displaysim.Playback {
	t.Helper()
	res, err := d.Stream(context.Background(), dev.ID, "hls")
	if err != nil || res.Status != "SUCCESS" {
		t.Fatalf("GetCameraStream: %+v %v", res, err)
	}
	p, err := displaysim.PlayHLS(res.States.AccessURL, dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	waitFor(t, "verified video on the display", func() bool {
		_, n, err := p.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return n >= gops
	})
	return p
}

// TestDisplayLinking: an account links a display to one camera of its
// home through OAuth with PKCE and consent; SYNC lists exactly that
// camera, QUERY says it is online, EXECUTE gives an LL-HLS stream whose
// every frame the display verifies against the camera's key; tokens
// refresh; the audit log names the integration and the account.
func TestDisplayLinking(t *testing.T) {
	ctx := context.Background()
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	front, _ := claimed(t, s, o, t.TempDir(), "builtin:porch", "Front door")
	back, _ := claimed(t, s, o, t.TempDir(), "builtin:porch", "Back door")
	d := display(t, s, "Kitchen display")

	if err := d.Link(ctx, "ana@example.org", password, displaysim.Consent{Cameras: []string{"Front door"}}); err != nil {
		t.Fatal(err)
	}
	tok := d.Tokens()
	if !strings.HasPrefix(tok.Access, "cvat_") || !strings.HasPrefix(tok.Refresh, "cvrt_") {
		t.Fatalf("tokens %q %q", tok.Access[:5], tok.Refresh[:5])
	}
	sync, err := d.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sync.Devices) != 1 || sync.Devices[0].ID != front {
		t.Fatalf("SYNC lists %+v, want only the front door", sync.Devices)
	}
	dev := sync.Devices[0]
	if dev.Type != smarthome.DeviceTypeCamera || dev.Traits[0] != smarthome.TraitCameraStream || !dev.Attributes.NeedAuthToken ||
		strings.Join(dev.Attributes.SupportedProtocols, ",") != "hls,webrtc" {
		t.Fatalf("SYNC device %+v", dev)
	}
	q, err := d.Query(ctx, front, back)
	if err != nil {
		t.Fatal(err)
	}
	if !q.Devices[front].Online || q.Devices[back].ErrorCode != "deviceNotFound" {
		t.Fatalf("QUERY %+v", q)
	}
	p := playVerified(t, d, dev, 2)
	frames, gops, _ := p.Stats()
	t.Logf("display: %d frames, %d GOPs verified over LL-HLS", frames, gops)
	jpeg, err := d.Snapshot(ctx, front)
	if err != nil {
		t.Fatal(err)
	}
	if err := displaysim.CheckSnapshot(jpeg, dev); err != nil {
		t.Fatalf("snapshot: %v", err)
	}

	// The other camera was not consented to.
	res, err := d.Stream(ctx, back, "hls")
	if err != nil || res.Status != "ERROR" || res.ErrorCode != "deviceNotFound" {
		t.Fatalf("stream of an unlinked camera: %+v %v", res, err)
	}
	if _, err := d.Snapshot(ctx, back); err == nil {
		t.Fatal("snapshot of an unlinked camera")
	}
	res, err = d.Stream(ctx, front, "webrtc")
	if err != nil || res.Status != "SUCCESS" || !strings.Contains(res.States.SignalingURL, "/whep/cameras/"+front) || res.States.AuthToken == "" {
		t.Fatalf("WebRTC stream: %+v %v", res, err)
	}
	key, _ := displaysim.Key(dev)
	wp, err := displaysim.PlayWebRTC(ctx, res.States.SignalingURL, domain.ID(front), dev.Attributes.Generation, key)
	if err != nil {
		t.Fatal(err)
	}
	defer wp.Close()
	waitFor(t, "verified video over WebRTC on the display", func() bool {
		_, n, err := wp.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return n >= 2
	})
	frames, gops, _ = wp.Stats()
	t.Logf("display: %d frames, %d GOPs verified over WebRTC", frames, gops)

	// Refresh rotates both tokens; the new ones work. Asking for another
	// camera on the way widens nothing: cameras live in the link.
	if err := d.RefreshWith(ctx, url.Values{"camera": {back}, "cameras": {back}}); err != nil {
		t.Fatal(err)
	}
	if n := d.Tokens(); n.Access == tok.Access || n.Refresh == tok.Refresh {
		t.Fatal("refresh did not rotate the tokens")
	}
	if again, err := d.Sync(ctx); err != nil || len(again.Devices) != 1 || again.Devices[0].ID != front {
		t.Fatalf("SYNC after a refresh asking for more: %+v %v", again, err)
	}
	if res, err := d.Stream(ctx, back, "hls"); err != nil || res.ErrorCode != "deviceNotFound" {
		t.Fatalf("the other camera after a refresh asking for it: %+v %v", res, err)
	}

	// The audit log says who watched through what.
	events := s.must(o.token, "GET", "/api/v1/homes/"+o.home+"/audit", nil, 200)
	if !strings.Contains(toJSON(events), "via Kitchen display (linked by ana@example.org)") {
		t.Fatalf("audit does not name the integration and the account: %s", toJSON(events))
	}

	// The platform unlinks: DISCONNECT revokes the link at once.
	if err := d.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = d.Sync(ctx)
	status(t, "SYNC after DISCONNECT", err, 401)
	oauthCode(t, "refresh after DISCONNECT", d.Refresh(ctx), "invalid_grant")
}

// TestKillSwitches: revoking one link, disconnecting a home, and disabling
// an integration each end the live streams started through them within a
// second and make their tokens fail at once; enabling the integration
// again revives nothing.
func TestKillSwitches(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, nil)
	s := runServer(t, cfg, &syncBuffer{})
	o := s.setup("ana@example.org", "Casa")
	claimed(t, s, o, t.TempDir(), "builtin:porch", "Porch")
	d := display(t, s, "Kitchen display")
	svc := s.parts.Service
	owner, err := svc.Authenticate(ctx, o.token, "127.0.0.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		kill func(c *displaysim.Client) error
	}{
		{"link revoked", func(c *displaysim.Client) error {
			links, err := svc.Links(ctx, owner)
			if err != nil {
				return err
			}
			return svc.RevokeLink(ctx, owner, links[0].ID)
		}},
		{"home disconnected", func(*displaysim.Client) error {
			_, err := svc.DisconnectHome(ctx, owner, domain.ID(o.home))
			return err
		}},
		{"integration disabled by the admin command (another process)", func(*displaysim.Client) error {
			admin, st, err := app.NewService(ctx, cfg, nil, nil, service.DeviceConfig{})
			if err != nil {
				return err
			}
			defer st.Close()
			_, err = admin.SetIntegrationEnabled(ctx, "Kitchen display", false)
			return err
		}},
		{"integration disabled in the admin UI", func(*displaysim.Client) error {
			_, err := svc.SetIntegrationEnabled(ctx, "Kitchen display", false)
			return err
		}},
	} {
		if _, err := svc.SetIntegrationEnabled(ctx, "Kitchen display", true); err != nil {
			t.Fatal(err)
		}
		c := another(d)
		if err := c.Link(ctx, "ana@example.org", password, displaysim.Consent{}); err != nil {
			t.Fatal(err)
		}
		sync, err := c.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p := playVerified(t, c, sync.Devices[0], 1)
		ended := make(chan time.Time, 1)
		go func() { p.Wait(context.Background()); ended <- time.Now() }()
		start := time.Now()
		if err := tc.kill(c); err != nil {
			t.Fatal(err)
		}
		_, err = c.Sync(ctx)
		tokenFail := time.Since(start)
		status(t, tc.name+": token use", err, 401)
		var streamEnd time.Duration
		select {
		case at := <-ended:
			streamEnd = at.Sub(start)
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the stream did not end", tc.name)
		}
		t.Logf("%s: token refused after %v, live stream ended after %v", tc.name, tokenFail.Round(time.Microsecond), streamEnd.Round(time.Millisecond))
	}
	// Enabling the integration again revives no old token.
	old := another(d)
	if _, err := svc.SetIntegrationEnabled(ctx, "Kitchen display", true); err != nil {
		t.Fatal(err)
	}
	if err := old.Link(ctx, "ana@example.org", password, displaysim.Consent{}); err != nil {
		t.Fatal(err)
	}
	tokens := old.Tokens()
	if _, err := svc.SetIntegrationEnabled(ctx, "Kitchen display", false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetIntegrationEnabled(ctx, "Kitchen display", true); err != nil {
		t.Fatal(err)
	}
	old.SetTokens(tokens)
	_, err = old.Sync(ctx)
	status(t, "an access token from before the disable", err, 401)
	oauthCode(t, "a refresh token from before the disable", old.Refresh(ctx), "invalid_grant")
}

// TestDisplayNotifications: a platform that takes change notifications
// (a local server standing in for it) hears when a linked camera goes
// offline and online (report state) and when it leaves the home (request
// sync).
func TestDisplayNotifications(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var got []string
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.Path+" "+string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer platform.Close()
	heard := func(what string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, g := range got {
				if strings.Contains(g, what) {
					return true
				}
			}
			return false
		}
	}
	s := startServer(t, func(c *config.Config) { c.OAuth.NotifyInterval = config.Duration(100 * time.Millisecond) })
	o := s.setup("ana@example.org", "Casa")
	dir := t.TempDir()
	cam, stop := claimed(t, s, o, dir, "builtin:porch", "Porch")
	in, secret, err := s.parts.Service.RegisterIntegration(ctx, service.IntegrationSpec{Name: "Kitchen display", RedirectURIs: []string{redirectURI}, NotifyURL: platform.URL + "/hooks"})
	if err != nil {
		t.Fatal(err)
	}
	d := &displaysim.Client{Server: s.url, ClientID: in.ClientID, Secret: secret, RedirectURI: redirectURI}
	if err := d.Link(ctx, "ana@example.org", password, displaysim.Consent{}); err != nil {
		t.Fatal(err)
	}
	devs, err := d.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	user := devs.AgentUserID
	time.Sleep(300 * time.Millisecond) // the reporter's baseline
	stop()
	waitFor(t, "report state: offline", heard(`/hooks/reportState {"requestId":`))
	waitFor(t, "report state names the camera offline", heard(`"agentUserId":"`+user+`","payload":{"devices":{"states":{"`+cam+`":{"online":false,"status":"SUCCESS"}}}}`))
	_, stop = runAgentSource(t, s, dir, "builtin:porch")
	waitFor(t, "report state: online", heard(`"`+cam+`":{"online":true`))
	s.must(o.token, "POST", "/api/v1/cameras/"+cam+"/transfer", nil, 204)
	waitFor(t, "request sync", heard(`/hooks/requestSync {"agentUserId":"`+user+`"}`))
	devs, err = d.Sync(ctx)
	if err != nil || len(devs.Devices) != 0 {
		t.Fatalf("SYNC after the request: %+v %v", devs, err)
	}
}
