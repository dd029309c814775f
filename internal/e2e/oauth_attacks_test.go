package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/camvault/camvault/internal/agent"
	"github.com/camvault/camvault/internal/displaysim"
	"github.com/camvault/camvault/internal/integrations/smarthome"
)

// TestOAuthAttacks: every attack on the authorization server is refused
// as RFC 6749, RFC 7636 and RFC 9700 say.
func TestOAuthAttacks(t *testing.T) {
	ctx := context.Background()
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	bo := s.signup("bo@example.org", "Bo's flat")
	camDir := t.TempDir()
	cam, stopCam := claimed(t, s, o, camDir, "builtin:porch", "Porch")
	boCam, _ := claimed(t, s, bo, t.TempDir(), "builtin:porch", "Bo's hall")
	d := display(t, s, "Kitchen display")
	browser, err := displaysim.SignIn(ctx, s.url, "ana@example.org", password, nil)
	if err != nil {
		t.Fatal(err)
	}
	verifier, challenge := displaysim.PKCE()
	authorize := func(edit func(q url.Values)) (*url.URL, error) {
		u, _ := url.Parse(d.AuthorizeURL("state-1234567890", challenge))
		q := u.Query()
		edit(q)
		u.RawQuery = q.Encode()
		return browser.Consent(ctx, u.String(), displaysim.Consent{})
	}
	noRedirect := func(t *testing.T, what string, edit func(q url.Values)) {
		t.Helper()
		to, err := authorize(edit)
		var pe *displaysim.PageError
		if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest {
			t.Fatalf("%s: redirected to %v (err %v), want an error page", what, to, err)
		}
	}
	refused := func(t *testing.T, what string, edit func(q url.Values), code string) {
		t.Helper()
		to, err := authorize(edit)
		if err != nil || to.Query().Get("error") != code || to.Query().Get("code") != "" || !strings.HasPrefix(to.String(), redirectURI+"?") ||
			to.Query().Get("iss") != s.url {
			t.Fatalf("%s: redirected to %v (err %v), want error %s at the redirect URI", what, to, err, code)
		}
	}

	t.Run("redirect URI", func(t *testing.T) {
		noRedirect(t, "wrong", func(q url.Values) { q.Set("redirect_uri", "https://evil.example.com/cb") })
		noRedirect(t, "prefix", func(q url.Values) { q.Set("redirect_uri", redirectURI+"/../../evil") })
		noRedirect(t, "extra query", func(q url.Values) { q.Set("redirect_uri", redirectURI+"?next=https://evil.example.com") })
		noRedirect(t, "extra", func(q url.Values) { q.Add("redirect_uri", "https://evil.example.com/cb") })
		noRedirect(t, "missing", func(q url.Values) { q.Del("redirect_uri") })
		noRedirect(t, "unknown client", func(q url.Values) { q.Set("client_id", "cvc_nobody") })
	})
	t.Run("state and PKCE at the authorization", func(t *testing.T) {
		refused(t, "no state", func(q url.Values) { q.Del("state") }, "invalid_request")
		refused(t, "no challenge", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request")
		refused(t, "plain", func(q url.Values) { q.Set("code_challenge_method", "plain"); q.Set("code_challenge", verifier) }, "invalid_request")
		refused(t, "implicit", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type")
		refused(t, "scope", func(q url.Values) { q.Set("scope", "cameras admin") }, "invalid_scope")
		refused(t, "repeated state", func(q url.Values) { q.Add("state", "another-state-xyz") }, "invalid_request")
	})
	t.Run("PKCE verifier", func(t *testing.T) {
		for _, tc := range []struct{ name, verifier string }{{"missing", ""}, {"wrong", strings.Repeat("x", 43)}} {
			a, err := d.Authorize(ctx, browser, displaysim.Consent{})
			if err != nil {
				t.Fatal(err)
			}
			c := another(d)
			oauthCode(t, tc.name+" verifier", c.Exchange(ctx, a.Code, tc.verifier, redirectURI), "invalid_grant")
			// The code was spent by the failed attempt? Either way the
			// right verifier now must not turn it into tokens twice.
			_ = c.Exchange(ctx, a.Code, a.Verifier, redirectURI)
		}
		a, err := d.Authorize(ctx, browser, displaysim.Consent{})
		if err != nil {
			t.Fatal(err)
		}
		oauthCode(t, "other redirect URI at the token endpoint", another(d).Exchange(ctx, a.Code, a.Verifier, "https://display.example.com/other"), "invalid_grant")
	})
	t.Run("code reuse revokes its tokens", func(t *testing.T) {
		a, err := d.Authorize(ctx, browser, displaysim.Consent{})
		if err != nil {
			t.Fatal(err)
		}
		first := another(d)
		if err := first.Exchange(ctx, a.Code, a.Verifier, redirectURI); err != nil {
			t.Fatal(err)
		}
		if _, err := first.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		thief := another(d)
		oauthCode(t, "code reuse", thief.Exchange(ctx, a.Code, a.Verifier, redirectURI), "invalid_grant")
		_, err = first.Sync(ctx)
		status(t, "access token issued from a reused code", err, 401)
		oauthCode(t, "refresh token issued from a reused code", first.Refresh(ctx), "invalid_grant")
	})
	t.Run("refresh token reuse revokes the family", func(t *testing.T) {
		c := another(d)
		if err := c.Link(ctx, "ana@example.org", password, displaysim.Consent{}); err != nil {
			t.Fatal(err)
		}
		old := c.Tokens()
		if err := c.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		fresh := c.Tokens()
		thief := another(d)
		thief.SetTokens(old)
		oauthCode(t, "refresh token reuse", thief.Refresh(ctx), "invalid_grant")
		_, err := c.Sync(ctx)
		status(t, "the family's new access token", err, 401)
		c.SetTokens(fresh)
		oauthCode(t, "the family's new refresh token", c.Refresh(ctx), "invalid_grant")
	})
	t.Run("scope escalation on refresh", func(t *testing.T) {
		c := another(d)
		if err := c.Link(ctx, "ana@example.org", password, displaysim.Consent{}); err != nil {
			t.Fatal(err)
		}
		oauthCode(t, "wider scope", c.RefreshWith(ctx, url.Values{"scope": {"cameras admin"}}), "invalid_scope")
	})
	t.Run("malformed fulfillment", func(t *testing.T) {
		c := another(d)
		if err := c.Link(ctx, "ana@example.org", password, displaysim.Consent{}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			token, body string
			want        int
		}{
			{c.Tokens().Access, `{"requestId":"r","inputs":[{"intent":"action.devices.SYNC"}],"admin":true}`, 400},
			{c.Tokens().Access, `{"requestId":"r","inputs":[`, 400},
			{c.Tokens().Access, strings.Repeat(" ", smarthome.MaxRequestBytes+10), 400},
			{"", `{"requestId":"r","inputs":[{"intent":"action.devices.SYNC"}]}`, 401},
			{c.Tokens().Refresh, `{"requestId":"r","inputs":[{"intent":"action.devices.SYNC"}]}`, 401},
			{"cvat_forged.token", `{"requestId":"r","inputs":[{"intent":"action.devices.SYNC"}]}`, 401},
		} {
			req, _ := http.NewRequest("POST", s.url+"/smarthome/fulfillment", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || strings.Contains(string(b), "sqlite") || strings.Contains(string(b), "panic") {
				t.Errorf("%.40q: %d %s, want %d", tc.body, resp.StatusCode, b, tc.want)
			}
		}
	})
	t.Run("home A's token on home B's camera", func(t *testing.T) {
		c := another(d)
		if err := c.Link(ctx, "ana@example.org", password, displaysim.Consent{}); err != nil {
			t.Fatal(err)
		}
		res, err := c.Stream(ctx, boCam, "hls")
		if err != nil || res.Status != "ERROR" || res.ErrorCode != "deviceNotFound" {
			t.Fatalf("stream of home B's camera: %+v %v", res, err)
		}
		q, err := c.Query(ctx, boCam)
		if err != nil || q.Devices[boCam].ErrorCode != "deviceNotFound" {
			t.Fatalf("QUERY of home B's camera: %+v %v", q, err)
		}
		_, err = c.Snapshot(ctx, boCam)
		status(t, "snapshot of home B's camera", err, 404)
		// Consenting to a camera of another home is refused too.
		form := url.Values{}
		u, _ := url.Parse(c.AuthorizeURL("state-abcdefghij", challenge))
		form = u.Query()
		form.Set("decision", "allow")
		form.Set("password", password)
		form.Set("home", o.home)
		form.Add("camera", boCam)
		form.Add("action", "live")
		_, err = browser.Decide(ctx, form)
		var pe *displaysim.PageError
		if !errors.As(err, &pe) || pe.Status != 404 {
			t.Fatalf("consent to another home's camera: %v", err)
		}
	})
	t.Run("consent needs the password", func(t *testing.T) {
		// A link outlives sessions and password changes: a stolen
		// session alone must not make one.
		u, _ := url.Parse(d.AuthorizeURL("state-abcdefghij", challenge))
		for _, pw := range []string{"", "not-the-password"} {
			form := u.Query()
			form.Set("decision", "allow")
			form.Set("password", pw)
			form.Set("home", o.home)
			form.Add("camera", cam)
			form.Add("action", "live")
			to, err := browser.Decide(ctx, form)
			var pe *displaysim.PageError
			if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest {
				t.Fatalf("consent with password %q: redirected to %v (%v), want the page again", pw, to, err)
			}
		}
	})
	t.Run("stream credential is single-use", func(t *testing.T) {
		c := another(d)
		if err := c.Link(ctx, "ana@example.org", password, displaysim.Consent{}); err != nil {
			t.Fatal(err)
		}
		res, err := c.Stream(ctx, cam, "webrtc")
		if err != nil || res.Status != "SUCCESS" {
			t.Fatalf("%+v %v", res, err)
		}
		if _, code := whepViewer(t, res.States.SignalingURL, func([][]byte) {}); code != http.StatusCreated {
			t.Fatalf("first use of the stream credential: %d", code)
		}
		if _, code := whepViewer(t, res.States.SignalingURL, func([][]byte) {}); code == http.StatusCreated {
			t.Fatal("the stream credential started a second stream")
		}
	})
	t.Run("linked account removed from the home", func(t *testing.T) {
		inv := s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/invites", map[string]any{"role": "member"}, 201)
		s.must("", "POST", "/api/v1/invites/"+inv["token"].(string)+"/accept", map[string]any{"email": "cy@example.org", "password": password}, 200)
		c := another(d)
		if err := c.Link(ctx, "cy@example.org", password, displaysim.Consent{}); err != nil {
			t.Fatal(err)
		}
		sync, err := c.Sync(ctx)
		if err != nil || len(sync.Devices) != 1 {
			t.Fatalf("member's display: %+v %v", sync, err)
		}
		members := s.must(o.token, "GET", "/api/v1/homes/"+o.home+"/members", nil, 200)
		var cy string
		for _, m := range members["members"].([]any) {
			if mm := m.(map[string]any); mm["email"] == "cy@example.org" {
				cy = mm["account_id"].(string)
			}
		}
		s.must(o.token, "DELETE", "/api/v1/homes/"+o.home+"/members/"+cy, nil, 204)
		_, err = c.Sync(ctx)
		status(t, "display of a removed member", err, 401)
		oauthCode(t, "refresh of a removed member's link", c.Refresh(ctx), "invalid_grant")
	})
	t.Run("camera reset and reclaimed after linking", func(t *testing.T) {
		c := another(d)
		if err := c.Link(ctx, "ana@example.org", password, displaysim.Consent{}); err != nil {
			t.Fatal(err)
		}
		sync, err := c.Sync(ctx)
		if err != nil || len(sync.Devices) != 1 || sync.Devices[0].ID != cam {
			t.Fatalf("before the reset: %+v %v", sync, err)
		}
		// Factory reset, and home B claims the device.
		stopCam()
		if told, err := agent.Reset(ctx, camDir, nil); err != nil || !told {
			t.Fatalf("reset: told=%v err=%v", told, err)
		}
		ag, _ := runAgentSource(t, s, camDir, "builtin:porch")
		reclaimed := s.must(bo.token, "POST", "/api/v1/homes/"+bo.home+"/cameras/claim", map[string]any{"claim_code": claimCode(t, ag), "name": "Porch, second hand"}, 201)["id"].(string)
		connected(t, ag)
		sync, err = c.Sync(ctx)
		if err != nil || len(sync.Devices) != 0 {
			t.Fatalf("SYNC after the camera was reset and reclaimed: %+v %v", sync, err)
		}
		for _, id := range []string{cam, reclaimed} {
			res, err := c.Stream(ctx, id, "hls")
			if err != nil || res.ErrorCode != "deviceNotFound" {
				t.Fatalf("stream of %s after the reset: %+v %v", id, res, err)
			}
			_, err = c.Snapshot(ctx, id)
			status(t, "snapshot after the reset", err, 404)
		}
	})
	// Last: the throttle then holds this address back.
	t.Run("client authentication", func(t *testing.T) {
		a := displaysim.Authorization{Code: "cvac_forged.code", Verifier: verifier}
		bad := another(d)
		bad.Secret = "cvcs_" + strings.Repeat("A", 43)
		oauthCode(t, "wrong secret", bad.Exchange(ctx, a.Code, a.Verifier, redirectURI), "invalid_client")
		throttled := false
		for range 40 {
			var oe *displaysim.OAuthError
			if err := bad.Exchange(ctx, a.Code, a.Verifier, redirectURI); errors.As(err, &oe) && oe.Status == http.StatusTooManyRequests {
				throttled = true
				break
			}
		}
		if !throttled {
			t.Fatal("repeated wrong client secrets were never throttled")
		}
	})
}
