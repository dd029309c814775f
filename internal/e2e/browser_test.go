package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium from CAMVAULT_TEST_CHROMIUM, or skips.
func browser(t *testing.T) context.Context {
	t.Helper()
	return browserWithin(t, 90*time.Second)
}

// browserWithin is browser with a deadline of d for the whole test.
func browserWithin(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	path := os.Getenv("CAMVAULT_TEST_CHROMIUM")
	if path == "" {
		t.Skip("CAMVAULT_TEST_CHROMIUM not set (path to Debian's chromium); skipping the browser test")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(412, 915), // a phone
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, d)
	t.Cleanup(cancel3)
	return ctx
}

// TestBrowserSetupLoginHome drives the real binary in Chromium: the setup
// link creates the first account and home, a fresh sign-in works, and the
// home page lists the home.
func TestBrowserSetupLoginHome(t *testing.T) {
	ctx := browser(t)
	s := startBinServer(t, t.TempDir())
	if s.setup == "" {
		t.Fatal("no setup link")
	}
	const email = "ana@example.org"
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.setup),
		chromedp.WaitVisible(chromedp.CSS("#setup-submit")),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.SendKeys(chromedp.CSS("#home_name"), "Casa Ana"),
		chromedp.Click(chromedp.CSS("#setup-submit")),
		chromedp.WaitVisible(chromedp.CSS(".home-link")),
	)
	if err != nil {
		t.Fatalf("setup flow: %v\nserver stderr:\n%s", err, s.stderr.String())
	}
	homesText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(homesText, "Casa Ana") {
		t.Fatalf("homes page after setup does not list the home:\n%s", homesText)
	}
	// The setup link works once.
	err = chromedp.Do(ctx,
		chromedp.Navigate(s.setup),
		chromedp.WaitVisible(chromedp.CSS("main")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "set up already") {
		t.Fatalf("second visit of the setup link:\n%s", text)
	}

	// A fresh browser profile proves the login, not the leftover cookie.
	ctx2 := browser(t)
	err = chromedp.Do(ctx2,
		chromedp.Navigate(s.url+"/homes"),
		chromedp.WaitVisible(chromedp.CSS("#login-submit")),
	)
	if err != nil {
		t.Fatalf("login page: %v\nserver stderr:\n%s", err, s.stderr.String())
	}
	location, err := chromedp.Run(ctx2, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(location, "/login") {
		t.Errorf("anonymous /homes went to %s, want the sign-in page", location)
	}
	err = chromedp.Do(ctx2,
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS(".home-link")),
		chromedp.Click(chromedp.CSS(".home-link")),
		chromedp.WaitVisible(chromedp.CSS("main h1")),
	)
	if err != nil {
		t.Fatalf("login flow: %v\nserver stderr:\n%s", err, s.stderr.String())
	}
	homeText, err := chromedp.Run(ctx2, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(homeText, "Casa Ana") {
		t.Fatalf("home page does not show the home:\n%s", homeText)
	}
}

// TestBrowserPasskey registers a passkey with Chromium's virtual
// authenticator on the account page, signs out, and signs in again with
// the passkey alone.
func TestBrowserPasskey(t *testing.T) {
	ctx := browser(t)
	s := startBinServer(t, t.TempDir())
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.setup),
		chromedp.WaitVisible(chromedp.CSS("#setup-submit")),
		chromedp.SendKeys(chromedp.CSS("#email"), "pia@example.org"),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.SendKeys(chromedp.CSS("#home_name"), "Casa Pia"),
		chromedp.Click(chromedp.CSS("#setup-submit")),
		chromedp.WaitVisible(chromedp.CSS(".home-link")),
	)
	if err != nil {
		t.Fatalf("setup: %v\nserver stderr:\n%s", err, s.stderr.String())
	}
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("enable WebAuthn domain: %v", err)
	}
	_, err = chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
		Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
		IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		t.Fatalf("add virtual authenticator: %v", err)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/account"),
		chromedp.WaitVisible(chromedp.CSS("#passkey-add")),
		chromedp.SendKeys(chromedp.CSS("#passkey-name"), "Test key"),
		chromedp.SendKeys(chromedp.CSS("#passkey-password"), password),
		chromedp.Click(chromedp.CSS("#passkey-add")),
		chromedp.WaitVisible(chromedp.CSS(".passkey-item")),
	)
	if err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		t.Fatalf("add passkey: %v\npage:\n%s\nserver stderr:\n%s", err, status, s.stderr.String())
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("header form button")),
		chromedp.WaitVisible(chromedp.CSS("#passkey-login")),
		chromedp.Click(chromedp.CSS("#passkey-login")),
		chromedp.WaitVisible(chromedp.CSS(".home-link")),
	)
	if err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		t.Fatalf("passkey sign-in: %v\npage:\n%s\nserver stderr:\n%s", err, status, s.stderr.String())
	}
	text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if !strings.Contains(text, "Casa Pia") {
		t.Fatalf("after passkey sign-in:\n%s", text)
	}
}

// TestBrowserLiveVideo: a real agent streams the built-in clip; the owner
// opens the camera page in Chromium and the live <video> plays over WebRTC
// (its time advances and its frames are not blank).
func TestBrowserLiveVideo(t *testing.T) {
	ctx := browser(t)
	s := openCameraPage(t, ctx, "")
	played, spread := livePlays(t, ctx, s.stderr.String)
	t.Logf("live video played %.1f s in Chromium; luma spread %.0f", played, spread)
	if via, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#live-transport"))); via != "WebRTC" {
		t.Fatalf("played over %q, want WebRTC", via)
	}
}

// TestBrowserLiveHLS: the camera page falls back to LL-HLS (forced here
// with ?transport=hls) and the video plays through hls.js under the
// page's Content-Security-Policy.
func TestBrowserLiveHLS(t *testing.T) {
	ctx := browser(t)
	s := openCameraPage(t, ctx, "?transport=hls")
	played, spread := livePlays(t, ctx, s.stderr.String)
	via, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#live-transport")))
	if via != "LL-HLS" {
		t.Fatalf("played over %q, want LL-HLS", via)
	}
	t.Logf("LL-HLS video played %.1f s in Chromium; luma spread %.0f", played, spread)
}

// TestBrowserLiveAsksAgain: the camera's agent stops while the owner
// watches; the picture stops, the page asks again for the stream (and
// again while the camera is away) and, once the agent is back, plays
// without a reload.
func TestBrowserLiveAsksAgain(t *testing.T) {
	ctx := browser(t)
	stateDir := filepath.Join(t.TempDir(), "agent")
	s, ag := openCameraPageWith(t, ctx, "", stateDir)
	before, _ := livePlays(t, ctx, s.stderr.String)
	ag.stop()
	restarts := func() string {
		n, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("live").dataset.restarts || "0"`))
		return n
	}
	for deadline := time.Now().Add(30 * time.Second); restarts() == "0"; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#live-status")))
			t.Fatalf("the page did not ask again after the picture stopped (status %q)", status)
		}
	}
	runAgentBinary(t, s.url, stateDir, "builtin:porch")
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		played, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.getElementById("live").currentTime`))
		status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#live-status")))
		if err == nil && status == "Live" && played > 2 {
			t.Logf("played %.1f s, stopped with the agent, asked again %s times, and played again", before, restarts())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the live video did not play again (currentTime %v, status %q)\nserver:\n%s", played, status, s.stderr.String())
		}
	}
}

// openCameraPage starts a server and an agent streaming the built-in
// clip, claims it, signs in in Chromium and opens the camera page with
// query.
func openCameraPage(t *testing.T, ctx context.Context, query string) *binServer {
	t.Helper()
	s, _ := openCameraPageWith(t, ctx, query, filepath.Join(t.TempDir(), "agent"))
	return s
}

// openCameraPageWith is openCameraPage with the agent's state in
// stateDir; it returns the agent too.
func openCameraPageWith(t *testing.T, ctx context.Context, query, stateDir string) (*binServer, *agentBinary) {
	t.Helper()
	s := startBinServer(t, t.TempDir())
	_, camID, ag := ownerCameraAgent(t, s, "builtin:porch", "Porch", stateDir)
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-submit")),
		chromedp.SendKeys(chromedp.CSS("#email"), "ana@example.org"),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS(".home-link")),
		chromedp.Navigate(s.url+"/cameras/"+camID+query),
		chromedp.WaitVisible(chromedp.CSS("#live")),
	)
	if err != nil {
		t.Fatalf("camera page: %v\nserver:\n%s", err, s.stderr.String())
	}
	return s, ag
}

// livePlays waits until the page's #live video has played 2 s and checks
// that its frames are not blank.
func livePlays(t *testing.T, ctx context.Context, logs func() string) (float64, float64) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	var played float64
	var err error
	for {
		played, err = chromedp.Run(ctx, chromedp.Evaluate[float64](`document.getElementById("live").currentTime`))
		if err == nil && played > 2 {
			break
		}
		if time.Now().After(deadline) {
			status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#live-status")))
			t.Fatalf("the live video did not play (currentTime %v, status %q, err %v)\nserver:\n%s", played, status, err, logs())
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Not blank: the clip is a colourful test pattern.
	spread, err := lumaSpread(ctx, "live")
	if err != nil || spread < 50 {
		t.Fatalf("the video frames look blank: luma spread %v, err %v", spread, err)
	}
	return played, spread
}

// lumaSpread is the spread of brightness in the video element id's
// current frame: near zero for a blank picture.
func lumaSpread(ctx context.Context, id string) (float64, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[float64](`((id) => {
		const v = document.getElementById(id);
		const c = document.createElement("canvas");
		c.width = 64; c.height = 36;
		const g = c.getContext("2d");
		g.drawImage(v, 0, 0, 64, 36);
		const d = g.getImageData(0, 0, 64, 36).data;
		let min = 255, max = 0;
		for (let i = 0; i < d.length; i += 4) { const y = (d[i] + d[i+1] + d[i+2]) / 3; min = Math.min(min, y); max = Math.max(max, y); }
		return max - min;
	})(`+strconv.Quote(id)+`)`))
}

// TestBrowserDemo is the newcomer's path: `camvault demo` prints a
// sign-in link; Chromium follows it, sees its own home (not the
// neighbours'), opens a camera and watches it live.
func TestBrowserDemo(t *testing.T) {
	ctx := browser(t)
	cmd := exec.Command(camvaultBinary(t), "demo", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	out, logs := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	linkRE := regexp.MustCompile(`(http://\S+/login/link#cvlogin_\S+)`)
	start := time.Now()
	var link string
	for link == "" {
		if time.Since(start) > 60*time.Second {
			t.Fatalf("no sign-in link\nstdout:\n%s\nstderr:\n%s", out.String(), logs.String())
		}
		if m := linkRE.FindStringSubmatch(out.String()); m != nil {
			link = m[1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	var homes string
	err := chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(".home-link")),
	)
	if err == nil {
		homes, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	}
	if err != nil {
		t.Fatalf("sign-in link: %v\n%s", err, logs.String())
	}
	if !strings.Contains(homes, "Demo home") || strings.Contains(homes, "neighbours") {
		t.Fatalf("homes page: %s", homes)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(".home-link")),
		chromedp.WaitVisible(chromedp.CSS(".grid-live")),
	)
	if err != nil {
		t.Fatal(err)
	}
	// The home's live grid: every tile plays.
	for deadline := time.Now().Add(40 * time.Second); ; {
		playing, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(() => {
			const vs = [...document.querySelectorAll("video.grid-live")];
			return vs.length >= 2 && vs.every(v => v.currentTime > 1) ? vs.length : 0;
		})()`))
		if err == nil && playing >= 2 {
			t.Logf("live grid: %v tiles playing", playing)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the live grid did not play: %v\n%s", err, logs.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(".camera-link")),
		chromedp.WaitVisible(chromedp.CSS("#live")),
	)
	if err != nil {
		t.Fatal(err)
	}
	played, spread := livePlays(t, ctx, logs.String)
	t.Logf("newcomer path: link to live video in %v (played %.1f s, luma spread %.0f)", time.Since(start).Round(time.Second), played, spread)
	// The link worked once.
	ctx2 := browser(t)
	err = chromedp.Do(ctx2, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	if text, _ := chromedp.Run(ctx2, chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "not valid") {
		t.Fatalf("second use of the link: %s", text)
	}
}

// TestBrowserConsent links an integration in Chromium: the platform's
// authorization request shows the consent page, the owner ticks the
// camera and allows, and the browser lands on the platform's redirect URI
// with a code and the state — which the page's Content-Security-Policy
// (form-action, applied to the redirect after the form) must allow.
func TestBrowserConsent(t *testing.T) {
	ctx := browser(t)
	s := openCameraPage(t, ctx, "")
	landed := make(chan string, 1)
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case landed <- r.URL.RawQuery:
		default:
		}
		w.Write([]byte("<!doctype html><title>linked</title><p id=done>linked</p>"))
	}))
	defer platform.Close()
	redirect := platform.URL + "/cb"
	clientID, _ := addIntegration(t, s, redirect)
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {"cameras"},
		"state": {"state-0123456789"}, "code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/oauth2/authorize?"+q.Encode()),
		chromedp.WaitVisible(chromedp.CSS("#consent")),
		chromedp.Click(chromedp.CSS(`input[name="camera"]`)),
		chromedp.SendKeys(chromedp.CSS(`#consent-password`), password),
		chromedp.Click(chromedp.CSS(`button[value="allow"]`)),
		chromedp.WaitVisible(chromedp.CSS("#done")),
	)
	if err != nil {
		t.Fatalf("consent flow: %v\nserver:\n%s", err, s.stderr.String())
	}
	got, _ := url.ParseQuery(<-landed)
	if !strings.HasPrefix(got.Get("code"), "cvac_") || got.Get("state") != "state-0123456789" {
		t.Fatalf("the platform got %v", got)
	}
}

// TestBrowserRecordings: the owner turns continuous recording on with
// the camera page's form; the page's timeline then shows what was
// recorded, a click plays it from that instant through hls.js (not blank
// frames), and the export button makes an MP4 the page links to.
func TestBrowserRecordings(t *testing.T) {
	ctx := browserWithin(t, 4*time.Minute)
	s := openCameraPage(t, ctx, "")
	err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#rec-mode"), "continuous"),
		chromedp.Submit(chromedp.CSS("#rec-mode")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	if err != nil {
		t.Fatalf("recording settings form: %v", err)
	}
	time.Sleep(10 * time.Second)
	err = chromedp.Do(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#timeline .span")),
	)
	if err != nil {
		summary, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#rec-summary")))
		t.Fatalf("no span on the timeline (%q): %v\nserver:\n%s", summary, err, s.stderr.String())
	}
	// Click the timeline a little before the recording began (a pixel of
	// the day's bar is minutes long): playback starts at the recording.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const bar = document.getElementById("timeline");
		const r = bar.getBoundingClientRect();
		const d = new Date(); d.setHours(0, 0, 0, 0);
		const x = r.left + Math.max(0, Date.now() - 240000 - d.getTime()) / 86400000 * r.width;
		bar.dispatchEvent(new MouseEvent("click", {clientX: x, bubbles: true}));
		return true;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	var played float64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		played, err = chromedp.Run(ctx, chromedp.Evaluate[float64](`document.getElementById("playback").currentTime`))
		if err == nil && played > 1 {
			break
		}
		if time.Now().After(deadline) {
			status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#playback-status")))
			t.Fatalf("playback did not start (currentTime %v, status %q)\nserver:\n%s", played, status, s.stderr.String())
		}
	}
	spread, _ := lumaSpread(ctx, "playback")
	if spread < 50 {
		t.Fatalf("the recording plays blank frames: luma spread %v", spread)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const b = document.getElementById("export-button"); b.click(); return !b.disabled; })()`)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
			const l = document.getElementById("export-link"), p = document.getElementById("export-progress");
			return (l.hidden ? "" : "done ") + p.value + " " + document.getElementById("playback-status").textContent;
		})()`))
		if err == nil && strings.HasPrefix(state, "done ") {
			break
		}
		if err != nil || strings.Contains(state, "Export failed") || time.Now().After(deadline) {
			t.Fatalf("export: %q %v\nserver:\n%s", state, err, s.stderr.String())
		}
	}
	size, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`fetch(document.getElementById("export-link").href).then(r => r.ok ? r.arrayBuffer() : new ArrayBuffer(0)).then(b => b.byteLength)`,
		chromedp.EvalAwaitPromise))
	if err != nil || size < 100_000 {
		t.Fatalf("the exported MP4 is %v bytes (%v)", size, err)
	}
	t.Logf("played a recording %.1f s in Chromium (luma spread %.0f); exported %.0f bytes", played, spread, size)
}
