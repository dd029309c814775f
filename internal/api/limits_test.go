package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/camvault/camvault/internal/service"
)

// TestStreamTicketCap: an account holds at most MaxOutstandingTickets
// unused stream URLs; the next request is a 429 with Retry-After, and
// another account is not affected.
func TestStreamTicketCap(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ana, bo := e.newUser("ana"), e.newUser("bo")
	h, err := e.svc.CreateHome(ctx, ana.caller, "Casa")
	if err != nil {
		t.Fatal(err)
	}
	cam, err := e.svc.CreateCamera(ctx, ana.caller, h.ID, "Porch")
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := e.svc.CreateHome(ctx, bo.caller, "Bo's")
	camB, _ := e.svc.CreateCamera(ctx, bo.caller, hb.ID, "Door")
	path := "/api/v1/cameras/" + string(cam.ID) + "/streams"
	for i := range service.MaxOutstandingTickets {
		if code, body := e.do(ana, "POST", path, map[string]any{"protocol": "rtsp"}); code != 201 {
			t.Fatalf("ticket %d: %d %s", i, code, body)
		}
	}
	code, body := e.do(ana, "POST", path, map[string]any{"protocol": "rtsp"})
	if code != 429 || !strings.Contains(string(body), "too_many_tickets") {
		t.Fatalf("ticket over the cap: %d %s", code, body)
	}
	if code, body := e.do(bo, "POST", "/api/v1/cameras/"+string(camB.ID)+"/streams", map[string]any{"protocol": "rtsp"}); code != 201 {
		t.Fatalf("another account was capped too: %d %s", code, body)
	}
}
