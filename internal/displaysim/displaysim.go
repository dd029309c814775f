// Package displaysim is a reference smart-display client: it behaves as a
// smart-home platform and its display would. It links an account through
// the OAuth 2.0 authorization-code flow with PKCE (signing in and
// consenting through the web forms, without a browser), calls SYNC and
// QUERY, asks for streams with EXECUTE, plays LL-HLS, fetches snapshots,
// refreshes its tokens, and checks that every received frame was signed
// by the camera it asked for. Tests use it, and `camvault display-sim`
// runs it by hand.
package displaysim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/integrations/smarthome"
)

// Client is one display's platform account at a camvault server.
type Client struct {
	// Server is the camvault base URL.
	Server string
	// ClientID, Secret and RedirectURI are the integration's registration.
	ClientID, Secret, RedirectURI string
	// HTTP is used for every request; nil means a default client.
	HTTP *http.Client

	mu      sync.Mutex // guards the tokens
	access  string
	refresh string
	expires time.Time
}

// Tokens are the client's current tokens.
type Tokens struct {
	Access, Refresh string
	Expires         time.Time
}

// Tokens returns the current tokens.
func (c *Client) Tokens() Tokens {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Tokens{c.access, c.refresh, c.expires}
}

// SetTokens replaces the current tokens (tests replay old ones).
func (c *Client) SetTokens(t Tokens) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.access, c.refresh, c.expires = t.Access, t.Refresh, t.Expires
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Consent says what to grant on the consent page: the home (by name; empty
// means the first) and the cameras (by name; empty means all of it), and
// the actions.
type Consent struct {
	Home    string
	Cameras []string
	Actions []string
}

// Authorization is the outcome of the front-channel half of linking.
type Authorization struct {
	Code, State, Verifier string
	// Redirect is where the server sent the browser.
	Redirect *url.URL
}

// PKCE returns a fresh code verifier and its S256 challenge.
func PKCE() (verifier, challenge string) {
	b := make([]byte, 32)
	rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// AuthorizeURL is the authorization request a platform sends the user to.
func (c *Client) AuthorizeURL(state, challenge string) string {
	q := url.Values{"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {c.RedirectURI},
		"scope": {"cameras"}, "state": {state}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	return c.Server + "/oauth2/authorize?" + q.Encode()
}

// Browser is a signed-in browser session at the server, without a browser.
type Browser struct {
	server   string
	hc       *http.Client
	password string // confirms consent, as a person types it again
}

// SignIn signs in through the sign-in form.
func SignIn(ctx context.Context, server, email, password string, base *http.Client) (*Browser, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if base != nil {
		hc.Transport = base.Transport
	}
	b := &Browser{server: server, hc: hc, password: password}
	resp, err := b.postForm(ctx, server+"/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("sign-in answered %d", resp.StatusCode)
	}
	return b, nil
}

func (b *Browser) postForm(ctx context.Context, u string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.hc.Do(req)
}

// Get fetches a page.
func (b *Browser) Get(ctx context.Context, u string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}

var (
	homeRE   = regexp.MustCompile(`<input type="radio" name="home" value="([^"]+)"[^>]*> ([^<]+)</label>`)
	cameraRE = regexp.MustCompile(`<input type="checkbox" name="camera" value="([^"]+)"> ([^<]+?) <span`)
)

// Consent opens an authorization URL in the browser, grants what consent
// says, and returns where the server redirected. A refusal before the
// consent page (a redirect with an error, or an error page) is returned
// as the redirect or as an error.
func (b *Browser) Consent(ctx context.Context, authorizeURL string, consent Consent) (*url.URL, error) {
	resp, page, err := b.Get(ctx, authorizeURL)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound {
		return resp.Location()
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &PageError{Status: resp.StatusCode}
	}
	u, _ := url.Parse(authorizeURL)
	form := u.Query()
	form.Set("decision", "allow")
	form.Set("password", b.password)
	if consent.Actions == nil {
		consent.Actions = []string{"live", "snapshot"}
	}
	form["action"] = consent.Actions
	// The page lists each home's radio button followed by its cameras.
	text := string(page)
	homes := homeRE.FindAllStringSubmatchIndex(text, -1)
	if len(homes) == 0 {
		return nil, errors.New("the consent page offers no home")
	}
	for i, h := range homes {
		name := strings.TrimSpace(text[h[4]:h[5]])
		if consent.Home != "" && name != consent.Home {
			continue
		}
		end := len(text)
		if i+1 < len(homes) {
			end = homes[i+1][0]
		}
		form.Set("home", text[h[2]:h[3]])
		for _, m := range cameraRE.FindAllStringSubmatch(text[h[1]:end], -1) {
			if len(consent.Cameras) == 0 || contains(consent.Cameras, strings.TrimSpace(m[2])) {
				form.Add("camera", m[1])
			}
		}
		break
	}
	if form.Get("home") == "" {
		return nil, fmt.Errorf("the consent page does not offer home %q", consent.Home)
	}
	return b.Decide(ctx, form)
}

// Decide posts a consent form as is and returns where the server
// redirected.
func (b *Browser) Decide(ctx context.Context, form url.Values) (*url.URL, error) {
	resp, err := b.postForm(ctx, b.server+"/oauth2/authorize", form)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		return nil, &PageError{Status: resp.StatusCode}
	}
	return resp.Location()
}

// PageError is a page the server answered instead of a redirect.
type PageError struct{ Status int }

func (e *PageError) Error() string {
	return fmt.Sprintf("the server answered a page (%d), not a redirect", e.Status)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Authorize runs the front channel: a fresh state and PKCE pair, the
// consent, and the check that the redirect carries the state and a code.
func (c *Client) Authorize(ctx context.Context, b *Browser, consent Consent) (Authorization, error) {
	verifier, challenge := PKCE()
	state := random()
	to, err := b.Consent(ctx, c.AuthorizeURL(state, challenge), consent)
	if err != nil {
		return Authorization{}, err
	}
	q := to.Query()
	// RFC 9207: the answer names the server that gave it, so that an
	// answer from another server (a mix-up) is not taken for this one's.
	if q.Get("iss") != c.Server {
		return Authorization{}, fmt.Errorf("the redirect names issuer %q, not %q", q.Get("iss"), c.Server)
	}
	if e := q.Get("error"); e != "" {
		return Authorization{Redirect: to}, &OAuthError{Code: e, Description: q.Get("error_description")}
	}
	if q.Get("state") != state {
		return Authorization{}, errors.New("the redirect does not carry our state")
	}
	if !strings.HasPrefix(to.String(), c.RedirectURI+"?") {
		return Authorization{}, fmt.Errorf("redirected to %s, not our redirect URI", to.Redacted())
	}
	return Authorization{Code: q.Get("code"), State: state, Verifier: verifier, Redirect: to}, nil
}

// OAuthError is an error answer of the authorization server.
type OAuthError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *OAuthError) Error() string {
	return fmt.Sprintf("oauth error %s (%d): %s", e.Code, e.Status, e.Description)
}

// Link signs in, consents and exchanges the code: the whole linking.
func (c *Client) Link(ctx context.Context, email, password string, consent Consent) error {
	b, err := SignIn(ctx, c.Server, email, password, c.HTTP)
	if err != nil {
		return err
	}
	a, err := c.Authorize(ctx, b, consent)
	if err != nil {
		return err
	}
	return c.Exchange(ctx, a.Code, a.Verifier, c.RedirectURI)
}

// Exchange trades a code for tokens.
func (c *Client) Exchange(ctx context.Context, code, verifier, redirectURI string) error {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	return c.token(ctx, form)
}

// Refresh rotates the tokens.
func (c *Client) Refresh(ctx context.Context) error {
	return c.RefreshWith(ctx, nil)
}

// RefreshWith rotates the tokens, sending extra parameters too (a scope,
// say; tests try to widen a grant this way).
func (c *Client) RefreshWith(ctx context.Context, extra url.Values) error {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.Tokens().Refresh}}
	for k, v := range extra {
		form[k] = v
	}
	return c.token(ctx, form)
}

// Revoke revokes a token (RFC 7009).
func (c *Client) Revoke(ctx context.Context, token string) error {
	resp, err := c.clientPost(ctx, "/oauth2/revoke", url.Values{"token": {token}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return oauthError(resp)
	}
	return nil
}

func (c *Client) clientPost(ctx context.Context, path string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", c.Server+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.Secret))
	return c.http().Do(req)
}

func oauthError(resp *http.Response) error {
	e := &OAuthError{Status: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	json.Unmarshal(body, e)
	if e.Code == "" {
		e.Code = "http_" + fmt.Sprint(resp.StatusCode)
	}
	return e
}

func (c *Client) token(ctx context.Context, form url.Values) error {
	resp, err := c.clientPost(ctx, "/oauth2/token", form)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return oauthError(resp)
	}
	var tr struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
		TokenType    string `json:"token_type"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&tr); err != nil {
		return fmt.Errorf("token response: %w", err)
	}
	if tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, "bearer") {
		return errors.New("token response without a bearer access token")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.access, c.expires = tr.AccessToken, time.Now().Add(time.Duration(tr.ExpiresIn)*time.Second)
	if tr.RefreshToken != "" {
		c.refresh = tr.RefreshToken
	}
	return nil
}

// StatusError is a fulfillment call answered with an HTTP error.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("fulfillment answered %d: %s", e.Status, e.Body)
}

// Fulfill sends one fulfillment request and decodes its payload into out.
func (c *Client) Fulfill(ctx context.Context, input smarthome.Input, out any) error {
	body, _ := json.Marshal(smarthome.Request{RequestID: random(), Inputs: []smarthome.Input{input}})
	req, err := http.NewRequestWithContext(ctx, "POST", c.Server+"/smarthome/fulfillment", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Tokens().Access)
	resp, err := c.http().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return &StatusError{Status: resp.StatusCode, Body: string(b)}
	}
	var r struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Payload, out)
}

// Sync lists the linked cameras.
func (c *Client) Sync(ctx context.Context) (smarthome.SyncPayload, error) {
	var p smarthome.SyncPayload
	err := c.Fulfill(ctx, smarthome.Input{Intent: smarthome.IntentSync}, &p)
	return p, err
}

// Query asks whether cameras are online.
func (c *Client) Query(ctx context.Context, ids ...string) (smarthome.QueryPayload, error) {
	var devs []smarthome.DeviceRef
	for _, id := range ids {
		devs = append(devs, smarthome.DeviceRef{ID: id})
	}
	var p smarthome.QueryPayload
	err := c.Fulfill(ctx, smarthome.Input{Intent: smarthome.IntentQuery, Payload: &smarthome.InputPayload{Devices: devs}}, &p)
	return p, err
}

// Stream asks for a camera's stream over protocol.
func (c *Client) Stream(ctx context.Context, camera, protocol string) (smarthome.CommandResult, error) {
	var p smarthome.ExecutePayload
	err := c.Fulfill(ctx, smarthome.Input{Intent: smarthome.IntentExecute, Payload: &smarthome.InputPayload{Commands: []smarthome.Command{{
		Devices:   []smarthome.DeviceRef{{ID: camera}},
		Execution: []smarthome.Execution{{Command: smarthome.CommandGetCameraStream, Params: smarthome.Params{StreamToChromecast: true, SupportedStreamProtocols: []string{protocol}}}},
	}}}}, &p)
	if err != nil {
		return smarthome.CommandResult{}, err
	}
	if len(p.Commands) != 1 {
		return smarthome.CommandResult{}, errors.New("EXECUTE answered no result")
	}
	return p.Commands[0], nil
}

// Disconnect tells the server the user unlinked on the platform.
func (c *Client) Disconnect(ctx context.Context) error {
	return c.Fulfill(ctx, smarthome.Input{Intent: smarthome.IntentDisconnect}, nil)
}

// Snapshot fetches a linked camera's snapshot.
func (c *Client) Snapshot(ctx context.Context, camera string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.Server+"/smarthome/cameras/"+url.PathEscape(camera)+"/snapshot", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Tokens().Access)
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{Status: resp.StatusCode, Body: string(b)}
	}
	return b, nil
}
