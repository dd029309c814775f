package oauth

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

const (
	testClient   = "cvc_display"
	testRedirect = "https://display.example.com/cb"
)

func lookup(id string) ([]string, bool) {
	return []string{testRedirect}, id == testClient
}

func goodForm() url.Values {
	return url.Values{"client_id": {testClient}, "redirect_uri": {testRedirect}, "response_type": {"code"}, "scope": {"cameras"},
		"state": {"s-1234567890"}, "code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}
}

// TestParseAuthorize: the checks camvault adds before fosite.
func TestParseAuthorize(t *testing.T) {
	if _, err := parseAuthorize(goodForm(), lookup); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		edit func(url.Values)
		want string // "" means errBadClient
	}{
		"unknown client":         {func(f url.Values) { f.Set("client_id", "cvc_other") }, ""},
		"no redirect":            {func(f url.Values) { f.Del("redirect_uri") }, ""},
		"other redirect":         {func(f url.Values) { f.Set("redirect_uri", testRedirect+"/x") }, ""},
		"two redirects":          {func(f url.Values) { f.Add("redirect_uri", testRedirect) }, ""},
		"two clients":            {func(f url.Values) { f.Add("client_id", testClient) }, ""},
		"huge value":             {func(f url.Values) { f.Set("nonce", strings.Repeat("n", 5000)) }, ""},
		"token flow":             {func(f url.Values) { f.Set("response_type", "token") }, "unsupported_response_type"},
		"fragment response mode": {func(f url.Values) { f.Set("response_mode", "fragment") }, "invalid_request"},
		"no state":               {func(f url.Values) { f.Del("state") }, "invalid_request"},
		"two states":             {func(f url.Values) { f.Add("state", "x") }, "invalid_request"},
		"no challenge":           {func(f url.Values) { f.Del("code_challenge") }, "invalid_request"},
		"plain":                  {func(f url.Values) { f.Set("code_challenge_method", "plain") }, "invalid_request"},
		"short challenge":        {func(f url.Values) { f.Set("code_challenge", "abc") }, "invalid_request"},
		"bad characters":         {func(f url.Values) { f.Set("code_challenge", strings.Repeat("+", 43)) }, "invalid_request"},
		"other scope":            {func(f url.Values) { f.Set("scope", "cameras admin") }, "invalid_scope"},
	} {
		f := goodForm()
		tc.edit(f)
		_, err := parseAuthorize(f, lookup)
		var re *requestError
		switch {
		case tc.want == "" && !errors.Is(err, errBadClient):
			t.Errorf("%s: %v, want errBadClient", name, err)
		case tc.want != "" && (!errors.As(err, &re) || re.code != tc.want):
			t.Errorf("%s: %v, want %s", name, err, tc.want)
		}
	}
}

// FuzzParseAuthorize: any query is accepted only when every rule holds,
// and a refusal that is sent back names a registered redirect URI.
func FuzzParseAuthorize(f *testing.F) {
	f.Add(goodForm().Encode())
	f.Add("client_id=cvc_display&redirect_uri=https%3A%2F%2Fdisplay.example.com%2Fcb&state=x&state=y")
	f.Add("redirect_uri=a&redirect_uri=b")
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := parseAuthorize(form, lookup)
		var re *requestError
		switch {
		case err == nil:
			if p.ClientID != testClient || p.RedirectURI != testRedirect || p.State == "" || form.Get("code_challenge_method") != "S256" ||
				len(p.Challenge) < minVerifierLen || form.Get("response_type") != "code" {
				t.Fatalf("accepted %q", raw)
			}
		case errors.As(err, &re):
			if p.RedirectURI != testRedirect || len(form["redirect_uri"]) != 1 {
				t.Fatalf("a refusal would be sent to %q", p.RedirectURI)
			}
			if u := redirectError(p.RedirectURI, p.State, "https://cams.example.org", re); !strings.HasPrefix(u, testRedirect+"?") || !strings.Contains(u, "iss=https%3A%2F%2Fcams.example.org") {
				t.Fatalf("refusal URL %q", u)
			}
		case !errors.Is(err, errBadClient):
			t.Fatalf("unexpected error %v", err)
		}
	})
}
