package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
)

// TestPullAddLimit: adding pulled cameras makes the server connect where
// the user says, so each account and each home may add only
// service.PullAddBurst at once, then one per service.PullAddEvery;
// refused URLs count too, so they cannot be used to probe for free.
func TestPullAddLimit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner, admin, neighbour := e.newUser("owner"), e.newUser("admin"), e.newUser("neighbour")
	home, _ := e.svc.CreateHome(ctx, owner.caller, "Casa")
	second, _ := e.svc.CreateHome(ctx, owner.caller, "Cabin")
	other, _ := e.svc.CreateHome(ctx, neighbour.caller, "Next door")
	e.join(owner, admin, home.ID, service.InviteRequest{Role: domain.RoleAdmin})
	add := func(u *user, h domain.ID, host string) (int, string) {
		code, b := e.do(u, "POST", "/api/v1/homes/"+string(h)+"/cameras/pull", map[string]any{"name": "IP cam", "source": "rtsp://u:p@" + host + "/stream"})
		return code, string(b)
	}
	// One attempt off the allowed networks, the rest on them.
	if code, b := add(owner, home.ID, "198.51.100.7"); code != 400 {
		t.Fatalf("off the allowed networks: %d %s", code, b)
	}
	for i := 1; i < service.PullAddBurst; i++ {
		if code, b := add(owner, home.ID, fmt.Sprintf("192.0.2.%d", i)); code != 201 {
			t.Fatalf("camera %d: %d %s", i, code, b)
		}
	}
	for name, try := range map[string]func() (int, string){
		"the same account and home": func() (int, string) { return add(owner, home.ID, "192.0.2.200") },
		"another member, same home": func() (int, string) { return add(admin, home.ID, "192.0.2.201") },
		"same account, other home":  func() (int, string) { return add(owner, second.ID, "192.0.2.202") },
	} {
		if code, b := try(); code != 429 || !strings.Contains(b, "too many pulled cameras") {
			t.Errorf("%s: %d %s, want 429", name, code, b)
		}
	}
	if code, b := add(neighbour, other.ID, "192.0.2.203"); code != 201 {
		t.Fatalf("another account in another home: %d %s", code, b)
	}
	e.clock.Advance(service.PullAddEvery)
	if code, b := add(owner, home.ID, "192.0.2.204"); code != 201 {
		t.Fatalf("after the pause: %d %s", code, b)
	}
	if code, b := add(owner, home.ID, "192.0.2.205"); code != 429 {
		t.Fatalf("a second one after the pause: %d %s", code, b)
	}
}
