package api_test

import (
	"encoding/json"
	"testing"
)

// TestAuditNames: the audit log names the home's members and cameras, and
// tells nothing of an outsider but its ID.
func TestAuditNames(t *testing.T) {
	e := newEnv(t)
	owner, stranger := e.newUser("owner"), e.newUser("stranger")
	code, b := e.do(owner, "POST", "/api/v1/homes", map[string]any{"name": "Casa"})
	if code != 201 {
		t.Fatalf("create home: %d %s", code, b)
	}
	home := decodeBody(t, b)["id"].(string)
	code, b = e.do(owner, "POST", "/api/v1/homes/"+home+"/cameras", map[string]any{"name": "Porch"})
	if code != 201 {
		t.Fatalf("create camera: %d %s", code, b)
	}
	cam := decodeBody(t, b)["id"].(string)
	if code, _ = e.do(stranger, "GET", "/api/v1/cameras/"+cam, nil); code != 404 {
		t.Fatalf("stranger reads the camera: %d", code)
	}
	code, b = e.do(owner, "GET", "/api/v1/homes/"+home+"/audit", nil)
	if code != 200 {
		t.Fatalf("audit: %d %s", code, b)
	}
	var out struct {
		Events []struct {
			Principal     string `json:"principal"`
			PrincipalName string `json:"principal_name"`
			CameraID      string `json:"camera_id"`
			CameraName    string `json:"camera_name"`
			Action        string `json:"action"`
			Result        string `json:"result"`
		} `json:"events"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	var created, denied bool
	for _, ev := range out.Events {
		switch {
		case ev.Action == "camera.create":
			created = true
			if ev.PrincipalName != owner.caller.Account.Email || ev.CameraName != "Porch" {
				t.Errorf("camera.create names %q and %q", ev.PrincipalName, ev.CameraName)
			}
		case ev.Result == "denied" && ev.Principal == string(stranger.caller.Account.ID):
			denied = true
			if ev.PrincipalName != "" {
				t.Errorf("an outsider's address is in the log: %q", ev.PrincipalName)
			}
			if ev.CameraName != "Porch" {
				t.Errorf("denied event names camera %q", ev.CameraName)
			}
		}
	}
	if !created || !denied {
		t.Fatalf("events missing (create %v, denial %v): %s", created, denied, b)
	}
}

// TestAccountEvents: the account holder sees its own sign-ins (failed ones
// too) and credential changes; nobody else's.
func TestAccountEvents(t *testing.T) {
	e := newEnv(t)
	ana, bob := e.newUser("ana"), e.newUser("bob")
	if code, _ := e.loginFrom("198.51.100.7", ana.caller.Account.Email, "not-the-password-at-all"); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	if code, b := e.do(ana, "POST", "/api/v1/me/reauth", map[string]any{"password": testPassword}); code != 204 {
		t.Fatalf("reauth: %d %s", code, b)
	}
	if code, b := e.do(ana, "POST", "/api/v1/me/tokens", map[string]any{"name": "nvr"}); code != 201 {
		t.Fatalf("token: %d %s", code, b)
	}
	if code, _ := e.loginFrom("198.51.100.8", bob.caller.Account.Email, "not-the-password-either"); code != 401 {
		t.Fatalf("bob's wrong password: %d", code)
	}
	code, b := e.do(ana, "GET", "/api/v1/me/events", nil)
	if code != 200 {
		t.Fatalf("events: %d %s", code, b)
	}
	var out struct {
		Events []struct {
			Principal, Action, Result, Client string
		} `json:"events"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range out.Events {
		if ev.Principal != string(ana.caller.Account.ID) {
			t.Fatalf("another account's event: %+v", ev)
		}
		seen[ev.Action+"/"+ev.Result] = true
	}
	for _, want := range []string{"login/failed", "login/ok", "api_token.create/ok"} {
		if !seen[want] {
			t.Errorf("no %s event in %s", want, b)
		}
	}
	if code, _ := e.do(nil, "GET", "/api/v1/me/events", nil); code != 401 {
		t.Fatalf("anonymous: %d", code)
	}
}
