package agent

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStatusPageHost: the status page and status.json answer only
// requests named for a loopback host; a forged Host (what a DNS rebinding
// page sends) gets 421 and nothing of the agent's state.
func TestStatusPageHost(t *testing.T) {
	a := &Agent{status: Status{State: StateWaiting, ClaimCode: "K7QW-2M9X-PL4D", Server: "https://cams.example.org", Source: "builtin:porch"}}
	h := a.statusHandler()
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"localhost", true},
		{"localhost:8089", true},
		{"LOCALHOST:8089", true},
		{"127.0.0.1", true},
		{"127.0.0.1:8089", true},
		{"127.1.2.3:80", true},
		{"[::1]", true},
		{"[::1]:8089", true},
		{"attacker.example:8089", false},
		{"attacker.example", false},
		{"localhost.attacker.example:8089", false},
		{"127.0.0.1.nip.io:8089", false},
		{"192.168.1.20:8089", false},
		{"0.0.0.0:8089", false},
		{"[::ffff:10.0.0.1]:8089", false},
		{"[fe80::1%25eth0]:8089", false},
		{"", false},
	} {
		for _, path := range []string{"/", "/status.json"} {
			t.Run(tc.host+path, func(t *testing.T) {
				req := httptest.NewRequest("GET", path, nil)
				req.Host = tc.host
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				body := rec.Body.String()
				if tc.ok {
					if rec.Code != http.StatusOK || !strings.Contains(body, "K7QW-2M9X-PL4D") {
						t.Fatalf("%d %q, want the page", rec.Code, body)
					}
					return
				}
				if rec.Code != http.StatusMisdirectedRequest {
					t.Fatalf("status %d, want 421", rec.Code)
				}
				for _, secret := range []string{"K7QW", "waiting_for_claim", "cams.example.org", "porch"} {
					if strings.Contains(body, secret) {
						t.Fatalf("the refusal tells %q: %q", secret, body)
					}
				}
			})
		}
	}
}
