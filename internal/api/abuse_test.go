package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
)

// noHomeAudit returns the audit rows of no home with action (all actions
// if empty).
func (e *env) noHomeAudit(action string) []domain.AuditEvent {
	e.t.Helper()
	list, err := e.st.Audit(context.Background(), domain.AuditFilter{Action: action, Limit: store.MaxAuditLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

func countFrom(list []domain.AuditEvent, addr string) int {
	n := 0
	for _, ev := range list {
		if ev.Client == addr {
			n++
		}
	}
	return n
}

// TestAnonymousAuditLimit: anonymous requests write audit rows only up to
// a limit per address and over all addresses; beyond it they are counted
// and summed up in one row. Rows of a home, and of signed-in callers, are
// never held back.
func TestAnonymousAuditLimit(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)

	// Over HTTP: a flood of unauthenticated requests from one address.
	for range 100 {
		if code, _ := e.raw("GET", "/api/v1/homes", ""); code != http.StatusUnauthorized {
			t.Fatalf("anonymous request: %d", code)
		}
	}
	if n := len(e.noHomeAudit("")); n != 30 {
		t.Fatalf("100 anonymous requests from one address wrote %d audit rows, want the burst of 30", n)
	}
	if n := e.svc.FlushAuditSummary(ctx); n != 70 {
		t.Fatalf("summary counted %d events, want 70", n)
	}
	sum := e.noHomeAudit(service.EventAuditSuppressed)
	if len(sum) != 1 || !strings.Contains(sum[0].Detail, "70 events") || !strings.Contains(sum[0].Detail, "127.0.0.1 ×70") {
		t.Fatalf("summary rows: %+v", sum)
	}
	if n := e.svc.FlushAuditSummary(ctx); n != 0 || len(e.noHomeAudit(service.EventAuditSuppressed)) != 1 {
		t.Fatalf("an empty summary was written (%d)", n)
	}
	// The address earns a row again as time passes.
	e.clock.Advance(5 * time.Second)
	e.raw("GET", "/api/v1/homes", "")
	e.raw("GET", "/api/v1/homes", "")
	if n := countFrom(e.noHomeAudit(""), "127.0.0.1"); n != 31 {
		t.Fatalf("after 5 s: %d rows from the address, want 31", n)
	}

	// Through the service: many addresses share the global limit, a
	// burst of 600 refilled at 20 a second. The 5 s above refilled it, and
	// the row after them spent one.
	for i := range 700 {
		e.svc.RecordDenied(ctx, service.Caller{Addr: fmt.Sprintf("2001:db8:a::%x", i)}, domain.ActionCameraList, "")
	}
	if n := len(e.noHomeAudit(string(domain.ActionCameraList))); n != 599 {
		t.Fatalf("700 addresses wrote %d rows, want the global burst's remaining 599", n)
	}
	if n := e.svc.FlushAuditSummary(ctx); n != 700-599+1 { // and the second request after 5 s
		t.Fatalf("summary counted %d, want %d", n, 700-599+1)
	}

	// A home's rows and a signed-in caller's are written, limit or not.
	ana := e.newUser("ana")
	home, err := e.svc.CreateHome(ctx, ana.caller, "Casa")
	if err != nil {
		t.Fatal(err)
	}
	before := len(e.noHomeAudit(""))
	cam := domain.Camera{ID: domain.NewID(), HomeID: home.ID}
	for range 5 {
		e.svc.DeviceEvent(ctx, cam, "127.0.0.1", "device.connect", "")
	}
	list, _ := e.st.Audit(ctx, domain.AuditFilter{HomeID: home.ID, Action: "device.connect"})
	if len(list) != 5 {
		t.Fatalf("a home's device events: %d rows, want 5", len(list))
	}
	c := ana.caller
	c.Addr = "127.0.0.1"
	for range 5 {
		e.svc.RecordDenied(ctx, c, domain.ActionCameraList, "signed in")
	}
	if got := len(e.noHomeAudit("")) - before; got < 5 {
		t.Fatalf("a signed-in caller's events: %d rows, want 5", got)
	}
}

// TestUnclaimedEnrolmentCap: new cameras waiting for a claim are capped
// per address and in total; re-enrolling a known key is not a new camera;
// cameras no home claimed are purged a day after enrolment, and their
// devices may enrol again.
func TestUnclaimedEnrolmentCap(t *testing.T) {
	ctx := context.Background()
	// Room for the requests themselves: the cap is on new cameras.
	e := newEnvWith(t, authn.Params{Memory: 1024, Time: 1, Threads: 1}, func(c *service.Config) { c.Devices.Burst = 1000 })
	addr := e.nextAddr()
	var first *device
	for i := range 50 {
		d := e.enrollDevice(addr)
		if i == 0 {
			first = d
		}
	}
	extra := newDevice()
	_, err := e.svc.Enroll(ctx, addr, extra.proof(e, addr, authn.ProofEnroll))
	if service.KindOf(err) != service.KindThrottled {
		t.Fatalf("51st new camera from one address: %v, want throttled", err)
	}
	// A known device asking for a new code is no new camera.
	en, err := e.svc.Enroll(ctx, addr, first.proof(e, addr, authn.ProofEnroll))
	if err != nil || en.CameraID != first.id {
		t.Fatalf("re-enrolment of a known key: %+v %v", en, err)
	}
	first.code = en.ClaimCode
	// Another address may enrol.
	e.enrollDevice(e.nextAddr())

	// A claimed camera stays; the rest go a day after enrolment.
	ana := e.newUser("ana")
	home, _ := e.svc.CreateHome(ctx, ana.caller, "Casa")
	if code, b := e.claim(ana, home.ID, first.code, e.nextAddr()); code != 201 {
		t.Fatalf("claim: %d %s", code, b)
	}
	if n, _ := e.st.CountUnclaimedCameras(ctx); n != 50 {
		t.Fatalf("unclaimed: %d, want 50", n)
	}
	e.clock.Advance(service.UnclaimedLifetime - time.Second)
	if n, err := e.svc.PurgeUnclaimed(ctx); err != nil || n != 0 {
		t.Fatalf("purge before a day: %d %v", n, err)
	}
	e.clock.Advance(2 * time.Second)
	if n, err := e.svc.PurgeUnclaimed(ctx); err != nil || n != 50 {
		t.Fatalf("purge after a day: %d %v, want 50", n, err)
	}
	if _, err := e.st.Camera(ctx, first.id); err != nil {
		t.Fatalf("the claimed camera was purged: %v", err)
	}
	// The address's allowance refilled over the day; the purged
	// device enrols again as a new camera.
	en, err = e.svc.Enroll(ctx, addr, extra.proof(e, addr, authn.ProofEnroll))
	if err != nil || en.ClaimCode == "" {
		t.Fatalf("enrolment a day later: %+v %v", en, err)
	}

	// The total cap, over every address.
	e2 := newEnvWith(t, authn.Params{Memory: 1024, Time: 1, Threads: 1}, func(c *service.Config) { c.Devices.MaxUnclaimed = 3 })
	for range 3 {
		e2.enrollDevice(e2.nextAddr())
	}
	d := newDevice()
	a2 := e2.nextAddr()
	if _, err := e2.svc.Enroll(ctx, a2, d.proof(e2, a2, authn.ProofEnroll)); service.KindOf(err) != service.KindThrottled {
		t.Fatalf("enrolment over the total cap: %v, want throttled", err)
	}
}
