package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
)

// TestRenderEveryPage renders each template with sample data, signed in and
// not, and checks the layout and the ids the browser tests and app.js rely
// on.
func TestRenderEveryPage(t *testing.T) {
	u, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	homeID, camID, acctID, sessID := domain.NewID(), domain.NewID(), domain.NewID(), domain.NewID()
	home := domain.HomeView{Home: domain.Home{ID: homeID, Name: "Casa <Ana>", CreatedAt: now}, Role: domain.RoleOwner}
	cam := service.CameraView{
		Camera:  domain.Camera{ID: camID, HomeID: homeID, Name: "Porch", Generation: 3, State: domain.CameraStateRegistered, CreatedAt: now},
		Actions: []domain.Action{domain.ActionLive, domain.ActionManage},
	}
	acct := domain.Account{ID: acctID, Email: "ana@example.org", TOTPEnabled: true, CreatedAt: now}
	member := domain.MemberView{Email: "gus@example.org", Membership: domain.Membership{
		HomeID: homeID, AccountID: acctID, Role: domain.RoleGuest,
		Cameras: []domain.CameraRef{{Camera: camID, Generation: 3}}, Actions: []domain.Action{domain.ActionLive},
		Until: now.Add(24 * time.Hour), HistoryFrom: now, CreatedAt: now,
	}}
	cases := []struct {
		name string
		data any
		want []string
	}{
		{"setup", credentialsForm{Email: "ana@example.org"}, []string{`id="setup_token"`, `id="email"`, `id="password"`, `id="home_name"`, `id="setup-submit"`}},
		{"setup", credentialsForm{Done: true}, []string{`href="/login"`}},
		{"login", credentialsForm{Next: "/homes", TOTP: true}, []string{`id="email"`, `id="password"`, `id="totp"`, `id="login-submit"`, `id="passkey-login"`}},
		{"loginlink", nil, []string{"Sign in with a link"}}, // with an error: the link to /login
		{"homes", []domain.HomeView{home}, []string{`<a class="home-link" href="/homes/` + string(homeID) + `">Casa &lt;Ana&gt;</a>`, `action="/homes"`}},
		{"home", homeView{Home: home, Cameras: []service.CameraView{cam}, Manage: true}, []string{`<h1>Casa &lt;Ana&gt;</h1>`, `href="/cameras/` + string(camID) + `"`, `action="/homes/` + string(homeID) + `/cameras"`, "/members", "/audit"}},
		{"home", homeView{Home: home, Owner: true, Recording: &service.HomeRecordingView{ExportWindowDays: 7},
			Former: []service.FormerCameraView{{CameraID: camID, Generation: 2, Left: now, KeptUntil: now.Add(7 * 24 * time.Hour), Segments: 4}}},
			[]string{`id="former-cameras"`, `href="/homes/` + string(homeID) + `/former/` + string(camID) + `/2"`}},
		{"former", formerView{Home: home, Former: service.FormerCameraView{CameraID: camID, Generation: 2, Left: now, KeptUntil: now.Add(7 * 24 * time.Hour), Segments: 4}},
			[]string{`data-recordings="` + string(camID) + `"`, `data-day="2026-03-01T12:00:00Z"`, `id="timeline"`, `id="playback"`, `id="export-button"`, "2026-03-08 12:00 UTC"}},
		{"camera", newCameraView(cam), []string{"Porch", "registered", "<dd>3</dd>", "/rename", "/delete"}},
		{"claim", claimView{Homes: []domain.HomeView{home}, Home: homeID}, []string{`id="claim-form"`}},
		{"members", membersView{Home: home, Members: []domain.MemberView{member}, Cameras: []service.CameraView{cam}, Roles: roleOptions,
			Actions: domain.GuestActions, Invite: &service.InviteLink{URL: "http://camvault.test/invite/cvi_x", ExpiresAt: now}, Self: acctID},
			[]string{"gus@example.org", `id="invite-url"`, `value="http://camvault.test/invite/cvi_x"`, `data-copy="invite-url"`, "/role", "/remove", `name="access_until"`, `name="no_history"`}},
		{"invite", inviteView{Info: service.InviteInfo{HomeName: "Casa", Role: domain.RoleGuest, ExpiresAt: now}, Token: "cvi_x"}, []string{"Join Casa", "guest", `action="/invite/cvi_x"`}},
		{"audit", auditView{Home: home, Rows: auditRows(service.AuditLog{
			Events:   []domain.AuditEvent{{ID: domain.NewID(), Time: now, Principal: acctID, CameraID: camID, Action: "camera.create", Result: domain.ResultAllowed, Detail: "Porch"}},
			Accounts: map[domain.ID]string{acctID: "gus@example.org"}, Cameras: map[domain.ID]string{camID: "Porch"}}),
			Filter: map[string]string{}}, []string{"camera.create", "gus@example.org", `title="` + string(acctID) + `"`, "allowed", "Porch"}},
		{"account", accountView{Account: acct, Current: sessID, RecoveryLeft: 5, NewToken: "cvt_secret", RecoveryCodes: []string{"aaaa-bbbb"},
			Events:   []domain.AuditEvent{{Time: now, Principal: acctID, Action: "mfa.passkey_add", Result: domain.ResultOK, Client: "203.0.113.9"}},
			Sessions: []domain.Session{{ID: sessID, Kind: "browser", CreatedAt: now, LastSeen: now, ExpiresAt: now}},
			Passkeys: []passkeyView{{ID: "AQID", Credential: domain.Credential{ID: []byte{1, 2, 3}, Name: "Phone", CreatedAt: now}}}},
			[]string{"ana@example.org", "/account/password", "/account/sessions/" + string(sessID) + "/revoke", "cvt_secret", "aaaa-bbbb",
				"/account/totp/disable", "/account/passkeys/AQID/delete", `id="passkey-add"`, "/account/tokens", "mfa.passkey_add", "203.0.113.9"}},
		{"account", accountView{Account: domain.Account{Email: "ana@example.org"}, TOTPSecret: "JBSWY3DP", TOTPURL: "otpauth://totp/camvault"},
			[]string{"JBSWY3DP", "otpauth://totp/camvault", "/account/totp/confirm"}},
		{"notfound", nil, []string{"Not found"}},
		{"consent", consentView{Integration: "Kitchen <display>", Params: map[string][]string{"client_id": {"cvc_x"}, "state": {"s\"1"}},
			Homes: []service.ConsentHome{{Home: home, Cameras: []service.ConsentCamera{{ID: camID, Name: "Porch", Actions: []domain.Action{domain.ActionLive}}}}}},
			[]string{"Kitchen &lt;display&gt;", `action="/oauth2/authorize"`, `name="client_id" value="cvc_x"`, `value="s&#34;1"`,
				`<input type="radio" name="home" value="` + string(homeID) + `" checked> Casa &lt;Ana&gt;</label>`,
				`<input type="checkbox" name="camera" value="` + string(camID) + `"> Porch <span`, `name="decision" value="allow"`, `name="decision" value="deny"`}},
		{"oautherror", nil, []string{"not registered"}},
		{"links", linksView{Owned: []domain.HomeView{home}, Links: []service.LinkView{{Link: domain.Link{ID: acctID, CreatedAt: now, LastUsedAt: now,
			Actions: []domain.Action{domain.ActionLive}}, Integration: "Kitchen display", Home: "Casa", LinkedBy: "ana@example.org", Cameras: []string{"Porch"}, Mine: true}}},
			[]string{"Kitchen display", "ana@example.org (you)", "Porch", "/account/links/" + string(acctID) + "/revoke", "/homes/" + string(homeID) + "/links/disconnect"}},
		{"integrations", []domain.Integration{{ID: acctID, Name: "Kitchen display", ClientID: "cvc_x", RedirectURIs: []string{"https://d.example/cb"}, Enabled: true}},
			[]string{"Kitchen display", "cvc_x", "https://d.example/cb", "/admin/integrations/" + string(acctID) + "/disable"}},
		// None registered: the page says how to register one.
		{"integrations", []domain.Integration{}, []string{"<h1>Integrations</h1>", `id="integrations-empty"`, "No integration is registered yet",
			"camvault admin integration add --name", "--redirect-uri", "--config", "camvault admin integration list"}},
		{"integrations", nil, []string{"<h1>Integrations</h1>", `id="integrations-empty"`, "camvault admin integration add --name"}},
	}
	signedIn := service.Caller{Account: acct, SessionID: sessID}
	for _, tc := range cases {
		for _, c := range []service.Caller{{}, signedIn} {
			rec := httptest.NewRecorder()
			u.render(rec, c, http.StatusOK, tc.name, page{Title: "T", Error: "oops <b>", Notice: "done", Data: tc.data})
			body := rec.Body.String()
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: status %d\n%s", tc.name, rec.Code, body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("%s: Content-Type %q", tc.name, ct)
			}
			want := append([]string{"<main>", `class="brand" href="/homes"`, "oops &lt;b&gt;", "done", "/static/app.css?v=", "/static/app.js?v="}, tc.want...)
			if !c.Anonymous() {
				want = append(want, `action="/logout"`, `href="/account"`)
			}
			for _, w := range want {
				if !strings.Contains(body, w) {
					t.Errorf("%s (signed in %v): %q missing\n%s", tc.name, !c.Anonymous(), w, body)
				}
			}
			if c.Anonymous() && strings.Contains(body, `action="/logout"`) {
				t.Errorf("%s: sign-out offered to an anonymous visitor", tc.name)
			}
		}
	}
	// Every template is covered.
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.name] = true
	}
	for name := range u.pages {
		if !covered[name] {
			t.Errorf("template %s is not rendered by this test", name)
		}
	}
}

// TestFailMessages: a failed use case shows its client-safe message with
// the mapped status; an internal error never shows its text.
func TestFailMessages(t *testing.T) {
	u, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		err    error
		status int
		want   string
	}{
		{&service.Error{Kind: service.KindInvalid, Message: "name is too long"}, 400, "name is too long"},
		{&service.Error{Kind: service.KindUnauthenticated, Message: "wrong email or password"}, 401, "wrong email or password"},
		{&service.Error{Kind: service.KindMFARequired, Message: "enter your code"}, 401, "enter your code"},
		{&service.Error{Kind: service.KindForbidden, Message: "not allowed"}, 403, "not allowed"},
		{&service.Error{Kind: service.KindNotFound, Message: "not found"}, 404, "Not found"},
		{&service.Error{Kind: service.KindConflict, Message: "already a member"}, 409, "already a member"},
		{&service.Error{Kind: service.KindThrottled, Message: "too many attempts", RetryAfter: time.Minute}, 429, "too many attempts"},
		{errTest("db password=hunter2 exploded"), 500, "Something went wrong"},
	} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/login", nil)
		u.fail(rec, r, service.Caller{}, tc.err, "login", page{Title: "Sign in", Data: credentialsForm{}})
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%v: %d, want %d with %q\n%s", tc.err, rec.Code, tc.status, tc.want, rec.Body.String())
		}
		if strings.Contains(rec.Body.String(), "hunter2") {
			t.Errorf("an internal error's text reached the page")
		}
		if tc.status == 429 && rec.Header().Get("Retry-After") == "" {
			t.Errorf("throttled without Retry-After")
		}
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
