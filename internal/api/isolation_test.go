package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/api"
	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/clips"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/record/recordtest"
	"github.com/camvault/camvault/internal/service"
)

// fixture is two homes with every kind of principal.
type fixture struct {
	e                                     *env
	homeA, homeB                          domain.ID
	cam1, cam2                            domain.ID
	ownerA, adminA, memberA, guestA       *user
	ownerB, adminB, memberB, guestB       *user
	expiredGuest, removedMember, disabled *user
	instanceAdmin                         *user
	seg                                   domain.Segment // recorded by cam1
	export                                domain.ID      // ownerA's export of cam1
	exportToken                           string
	thumb                                 string // cam1's timeline still
}

func newFixture(t *testing.T) *fixture {
	// Every refusal must be audited, the signed-out (disabled) user's
	// included, all from one address: room beyond the anonymous audit
	// limit, which TestAnonymousAuditLimit checks.
	e := newEnvWith(t, authn.Params{Memory: 1024, Time: 1, Threads: 1}, func(c *service.Config) {
		c.AnonymousAudit = service.AuditLimit{PerAddrBurst: 1_000_000, GlobalBurst: 1_000_000}
	})
	ctx := context.Background()
	f := &fixture{e: e}
	mk := func(name string) *user { return e.newUser(name) }
	f.ownerA, f.adminA, f.memberA, f.guestA = mk("ownerA"), mk("adminA"), mk("memberA"), mk("guestA")
	f.ownerB, f.adminB, f.memberB, f.guestB = mk("ownerB"), mk("adminB"), mk("memberB"), mk("guestB")
	f.expiredGuest, f.removedMember, f.disabled = mk("expiredGuest"), mk("removedMember"), mk("disabled")

	hA, err := e.svc.CreateHome(ctx, f.ownerA.caller, "Home A")
	if err != nil {
		t.Fatal(err)
	}
	hB, err := e.svc.CreateHome(ctx, f.ownerB.caller, "Home B")
	if err != nil {
		t.Fatal(err)
	}
	f.homeA, f.homeB = hA.ID, hB.ID
	c1, err := e.svc.CreateCamera(ctx, f.ownerA.caller, f.homeA, "Front door")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := e.svc.CreateCamera(ctx, f.ownerA.caller, f.homeA, "Garden")
	if err != nil {
		t.Fatal(err)
	}
	f.cam1, f.cam2 = c1.ID, c2.ID
	camB, err := e.svc.CreateCamera(ctx, f.ownerB.caller, f.homeB, "B's porch")
	if err != nil {
		t.Fatal(err)
	}

	e.join(f.ownerA, f.adminA, f.homeA, service.InviteRequest{Role: domain.RoleAdmin})
	e.join(f.ownerA, f.memberA, f.homeA, service.InviteRequest{Role: domain.RoleMember})
	e.join(f.ownerA, f.guestA, f.homeA, service.InviteRequest{Role: domain.RoleGuest,
		Scope: service.Scope{Cameras: []domain.ID{f.cam1}, Actions: []domain.Action{domain.ActionLive}}})
	e.join(f.ownerA, f.expiredGuest, f.homeA, service.InviteRequest{Role: domain.RoleGuest,
		Scope: service.Scope{Cameras: []domain.ID{f.cam1, f.cam2}, AccessUntil: e.clock.Now().Add(time.Hour)}})
	e.join(f.ownerA, f.removedMember, f.homeA, service.InviteRequest{Role: domain.RoleMember})
	e.join(f.ownerA, f.disabled, f.homeA, service.InviteRequest{Role: domain.RoleMember})
	e.join(f.ownerB, f.adminB, f.homeB, service.InviteRequest{Role: domain.RoleAdmin})
	e.join(f.ownerB, f.memberB, f.homeB, service.InviteRequest{Role: domain.RoleMember})
	e.join(f.ownerB, f.guestB, f.homeB, service.InviteRequest{Role: domain.RoleGuest, Scope: service.Scope{Cameras: []domain.ID{camB.ID}}})

	if err := e.svc.RemoveMember(ctx, f.ownerA.caller, f.homeA, f.removedMember.caller.Account.ID); err != nil {
		t.Fatal(err)
	}
	acct := f.disabled.caller.Account
	acct.Disabled = true
	if err := e.st.UpdateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	f.instanceAdmin = mk("instanceAdmin")
	ia := f.instanceAdmin.caller.Account
	ia.InstanceAdmin = true
	if err := e.st.UpdateAccount(ctx, ia); err != nil {
		t.Fatal(err)
	}
	// The expired guest's window ends.
	e.clock.Advance(2 * time.Hour)
	f.record(t)
	return f
}

// record stores some video of cam1 and has ownerA export it.
func (f *fixture) record(t *testing.T) {
	ctx := context.Background()
	cam, err := f.e.st.Camera(ctx, f.cam1)
	if err != nil {
		t.Fatal(err)
	}
	start := f.e.clock.Now().Add(-time.Hour)
	for _, p := range recordtest.Segments(start, 8*time.Second, record.DefaultSegment) {
		seg, err := f.e.ar.Write(ctx, cam.Ref(), cam.HomeID, p)
		if err != nil {
			t.Fatal(err)
		}
		if f.seg.ID == "" {
			f.seg = seg
		}
	}
	if err := f.e.ar.WriteThumbnail(ctx, cam.Ref(), f.seg.Start, clips.PorchFirstFrame); err != nil {
		t.Fatal(err)
	}
	f.thumb = strconv.FormatInt(cam.Generation, 10) + "-" + strconv.FormatInt(f.seg.Start.UnixMicro(), 10)
	x, err := f.e.svc.CreateExport(ctx, f.ownerA.caller, f.cam1, start, start.Add(8*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	f.export = x.ID
	for deadline := time.Now().Add(10 * time.Second); ; {
		v, err := f.e.svc.Export(ctx, f.ownerA.caller, f.cam1, x.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status == service.ExportDone {
			f.exportToken = v.DownloadToken
			return
		}
		if v.Status == service.ExportFailed || time.Now().After(deadline) {
			t.Fatalf("export: %+v", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// window is a query for the fixture's recording.
func (f *fixture) window() string {
	return "?since=" + f.seg.Start.Add(-time.Minute).Format(time.RFC3339) + "&until=" + f.seg.End.Add(time.Hour).Format(time.RFC3339)
}

// freshMember adds a throwaway member to home A for a destructive call.
func (f *fixture) freshMember() domain.ID {
	u := f.e.newUser("target")
	f.e.join(f.ownerA, u, f.homeA, service.InviteRequest{Role: domain.RoleGuest, Scope: service.Scope{Cameras: []domain.ID{f.cam1}}})
	return u.caller.Account.ID
}

// freshCamera adds a throwaway camera to home A for a destructive call.
func (f *fixture) freshCamera() domain.ID {
	c, err := f.e.svc.CreateCamera(context.Background(), f.ownerA.caller, f.homeA, "Throwaway")
	if err != nil {
		f.e.t.Fatal(err)
	}
	return c.ID
}

// freshClaimCode enrolls a device and returns its claim code.
func (f *fixture) freshClaimCode() string {
	return f.e.enrollDevice(f.e.nextAddr()).code
}

// freshDeviceCamera enrolls a device and claims it into home A.
func (f *fixture) freshDeviceCamera() domain.ID {
	d := f.e.enrollDevice(f.e.nextAddr())
	c, err := f.e.svc.ClaimCamera(context.Background(), f.ownerA.caller, f.homeA, d.code, "Device")
	if err != nil {
		f.e.t.Fatal(err)
	}
	return c.ID
}

// homeCase is one call on home A's resources with, for each of home A's
// roles, the status the policy table says it gets.
type homeCase struct {
	name    string
	pattern string // the route it exercises
	req     func(f *fixture) (method, path string, body any)
	want    map[string]int // by principal name: ownerA, adminA, memberA, guestA
}

func statuses(owner, admin, member, guest int) map[string]int {
	return map[string]int{"ownerA": owner, "adminA": admin, "memberA": member, "guestA": guest}
}

var homeCases = []homeCase{
	{"get home", "GET /api/v1/homes/{home}", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/homes/" + string(f.homeA), nil
	}, statuses(200, 200, 200, 200)},
	{"delete home", "DELETE /api/v1/homes/{home}", func(f *fixture) (string, string, any) {
		return "DELETE", "/api/v1/homes/" + string(f.homeA), nil
	}, statuses(0, 403, 403, 403)},
	{"list members", "GET /api/v1/homes/{home}/members", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/homes/" + string(f.homeA) + "/members", nil
	}, statuses(200, 200, 200, 403)},
	{"change member", "PATCH /api/v1/homes/{home}/members/{account}", func(f *fixture) (string, string, any) {
		return "PATCH", "/api/v1/homes/" + string(f.homeA) + "/members/" + string(f.freshMember()), map[string]any{"role": "member"}
	}, statuses(200, 200, 403, 403)},
	{"remove member", "DELETE /api/v1/homes/{home}/members/{account}", func(f *fixture) (string, string, any) {
		return "DELETE", "/api/v1/homes/" + string(f.homeA) + "/members/" + string(f.freshMember()), nil
	}, statuses(204, 204, 403, 403)},
	{"invite", "POST /api/v1/homes/{home}/invites", func(f *fixture) (string, string, any) {
		return "POST", "/api/v1/homes/" + string(f.homeA) + "/invites", map[string]any{"role": "member"}
	}, statuses(201, 201, 403, 403)},
	{"list cameras", "GET /api/v1/homes/{home}/cameras", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/homes/" + string(f.homeA) + "/cameras", nil
	}, statuses(200, 200, 200, 200)},
	{"add camera", "POST /api/v1/homes/{home}/cameras", func(f *fixture) (string, string, any) {
		return "POST", "/api/v1/homes/" + string(f.homeA) + "/cameras", map[string]any{"name": "Shed"}
	}, statuses(201, 201, 403, 403)},
	{"get camera in guest scope", "GET /api/v1/cameras/{camera}", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/cameras/" + string(f.cam1), nil
	}, statuses(200, 200, 200, 200)},
	{"get camera outside guest scope", "GET /api/v1/cameras/{camera}", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/cameras/" + string(f.cam2), nil
	}, statuses(200, 200, 200, 404)},
	{"rename camera", "PATCH /api/v1/cameras/{camera}", func(f *fixture) (string, string, any) {
		return "PATCH", "/api/v1/cameras/" + string(f.cam1), map[string]any{"name": "Front door"}
	}, statuses(200, 200, 403, 403)},
	{"delete camera", "DELETE /api/v1/cameras/{camera}", func(f *fixture) (string, string, any) {
		return "DELETE", "/api/v1/cameras/" + string(f.freshCamera()), nil
	}, statuses(204, 204, 403, 404)},
	{"remove device camera", "DELETE /api/v1/cameras/{camera}", func(f *fixture) (string, string, any) {
		return "DELETE", "/api/v1/cameras/" + string(f.freshDeviceCamera()), nil
	}, statuses(204, 204, 403, 404)},
	{"pull camera", "POST /api/v1/homes/{home}/cameras/pull", func(f *fixture) (string, string, any) {
		return "POST", "/api/v1/homes/" + string(f.homeA) + "/cameras/pull", map[string]any{"name": "IP cam", "source": "rtsp://u:p@192.0.2.7/stream"}
	}, statuses(201, 201, 403, 403)},
	{"claim camera", "POST /api/v1/homes/{home}/cameras/claim", func(f *fixture) (string, string, any) {
		return "POST", "/api/v1/homes/" + string(f.homeA) + "/cameras/claim", map[string]any{"claim_code": f.freshClaimCode(), "name": "Claimed"}
	}, statuses(201, 201, 403, 403)},
	{"transfer camera", "POST /api/v1/cameras/{camera}/transfer", func(f *fixture) (string, string, any) {
		return "POST", "/api/v1/cameras/" + string(f.freshDeviceCamera()) + "/transfer", nil
	}, statuses(204, 403, 403, 404)},
	{"live stream in guest scope", "POST /api/v1/cameras/{camera}/streams", func(f *fixture) (string, string, any) {
		return "POST", "/api/v1/cameras/" + string(f.cam1) + "/streams", map[string]any{"protocol": "rtsp"}
	}, statuses(201, 201, 201, 201)},
	{"live stream outside guest scope", "POST /api/v1/cameras/{camera}/streams", func(f *fixture) (string, string, any) {
		return "POST", "/api/v1/cameras/" + string(f.cam2) + "/streams", map[string]any{"protocol": "rtsp"}
	}, statuses(201, 201, 201, 404)},
	{"snapshot", "GET /api/v1/cameras/{camera}/snapshot", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/cameras/" + string(f.cam1) + "/snapshot", nil
	}, statuses(503, 503, 503, 403)},
	{"audit", "GET /api/v1/homes/{home}/audit", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/homes/" + string(f.homeA) + "/audit", nil
	}, statuses(200, 200, 403, 403)},
	{"recording settings", "GET /api/v1/cameras/{camera}/recording", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/cameras/" + string(f.cam1) + "/recording", nil
	}, statuses(200, 200, 403, 403)},
	{"set recording settings", "PUT /api/v1/cameras/{camera}/recording", func(f *fixture) (string, string, any) {
		return "PUT", "/api/v1/cameras/" + string(f.cam1) + "/recording", map[string]any{"mode": "off", "pre_roll_seconds": 5, "post_roll_seconds": 10}
	}, statuses(200, 200, 403, 403)},
	{"trigger event", "POST /api/v1/cameras/{camera}/events", func(f *fixture) (string, string, any) {
		return "POST", "/api/v1/cameras/" + string(f.cam1) + "/events", map[string]any{"label": "doorbell"}
	}, statuses(409, 409, 403, 403)},
	{"list recordings", "GET /api/v1/cameras/{camera}/recordings", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/cameras/" + string(f.cam1) + "/recordings" + f.window(), nil
	}, statuses(200, 200, 200, 403)},
	{"delete recordings", "DELETE /api/v1/cameras/{camera}/recordings", func(f *fixture) (string, string, any) {
		return "DELETE", "/api/v1/cameras/" + string(f.cam1) + "/recordings?since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z", nil
	}, statuses(200, 403, 403, 403)},
	{"playlist", "GET /api/v1/cameras/{camera}/recordings/playlist.m3u8", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/cameras/" + string(f.cam1) + "/recordings/playlist.m3u8" + f.window(), nil
	}, statuses(200, 200, 200, 403)},
	{"segment init", "GET /api/v1/cameras/{camera}/recordings/segments/{segment}/init.mp4", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/cameras/" + string(f.cam1) + "/recordings/segments/" + string(f.seg.ID) + "/init.mp4", nil
	}, statuses(200, 200, 200, 403)},
	{"segment media", "GET /api/v1/cameras/{camera}/recordings/segments/{segment}/media.m4s", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/cameras/" + string(f.cam1) + "/recordings/segments/" + string(f.seg.ID) + "/media.m4s", nil
	}, statuses(200, 200, 200, 403)},
	{"segment of another camera", "GET /api/v1/cameras/{camera}/recordings/segments/{segment}/media.m4s", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/cameras/" + string(f.cam2) + "/recordings/segments/" + string(f.seg.ID) + "/media.m4s", nil
	}, statuses(404, 404, 404, 404)},
	{"thumbnails", "GET /api/v1/cameras/{camera}/recordings/thumbnails", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/cameras/" + string(f.cam1) + "/recordings/thumbnails" + f.window(), nil
	}, statuses(200, 200, 200, 403)},
	{"thumbnail", "GET /api/v1/cameras/{camera}/recordings/thumbnails/{thumb}", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/cameras/" + string(f.cam1) + "/recordings/thumbnails/" + f.thumb, nil
	}, statuses(200, 200, 200, 403)},
	{"thumbnail of another camera", "GET /api/v1/cameras/{camera}/recordings/thumbnails/{thumb}", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/cameras/" + string(f.cam2) + "/recordings/thumbnails/" + f.thumb, nil
	}, statuses(404, 404, 404, 404)},
	{"create export", "POST /api/v1/cameras/{camera}/exports", func(f *fixture) (string, string, any) {
		return "POST", "/api/v1/cameras/" + string(f.cam1) + "/exports", map[string]any{"since": f.seg.Start, "until": f.seg.End}
	}, statuses(202, 202, 202, 403)},
	{"list exports", "GET /api/v1/cameras/{camera}/exports", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/cameras/" + string(f.cam1) + "/exports", nil
	}, statuses(200, 200, 200, 403)},
	{"export", "GET /api/v1/cameras/{camera}/exports/{export}", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/cameras/" + string(f.cam1) + "/exports/" + string(f.export), nil
	}, statuses(200, 404, 404, 403)},
	{"download export", "GET /api/v1/cameras/{camera}/exports/{export}/download", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/cameras/" + string(f.cam1) + "/exports/" + string(f.export) + "/download?token=" + f.exportToken, nil
	}, statuses(200, 404, 404, 403)},
	{"home recording", "GET /api/v1/homes/{home}/recording", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/homes/" + string(f.homeA) + "/recording", nil
	}, statuses(200, 403, 403, 403)},
	{"set home recording", "PUT /api/v1/homes/{home}/recording", func(f *fixture) (string, string, any) {
		return "PUT", "/api/v1/homes/" + string(f.homeA) + "/recording", map[string]any{"retain_days": 30, "export_window_days": 7}
	}, statuses(200, 403, 403, 403)},
	{"former cameras", "GET /api/v1/homes/{home}/former-cameras", func(f *fixture) (string, string, any) {
		return "GET", "/api/v1/homes/" + string(f.homeA) + "/former-cameras", nil
	}, statuses(200, 403, 403, 403)},
}

// TestEveryHomeRouteCovered fails when a route on a home's resources has
// no cross-home case.
func TestEveryHomeRouteCovered(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range homeCases {
		covered[c.pattern] = true
	}
	for _, r := range api.New(api.Config{}).Routes() {
		p := r.Pattern
		if (strings.Contains(p, "{home}") || strings.Contains(p, "{camera}")) && !covered[p] {
			t.Errorf("route %q touches a home's resources but has no cross-home case", p)
		}
	}
}

func TestCrossHome(t *testing.T) {
	f := newFixture(t)
	outsiders := []*user{f.ownerB, f.adminB, f.memberB, f.guestB, f.expiredGuest, f.removedMember, f.disabled, f.instanceAdmin}
	insiders := []*user{f.ownerA, f.adminA, f.memberA, f.guestA}
	checked := 0
	for _, c := range homeCases {
		t.Run(c.name, func(t *testing.T) {
			for _, u := range outsiders {
				before := f.e.auditCount(domain.AuditFilter{HomeID: f.homeA, Principal: u.caller.Account.ID})
				deniedBefore := f.deniedCount(u)
				method, path, body := c.req(f)
				status, resp := f.e.do(u, method, path, body)
				if status != 404 && status != 401 {
					t.Errorf("%s: %s %s answered %d, want 404 or 401: %s", u.name, method, path, status, resp)
				}
				assertNoLeak(t, u.name, resp, f)
				if f.deniedCount(u) <= deniedBefore {
					t.Errorf("%s: %s %s was not audited as denied", u.name, method, path)
				}
				if after := f.e.auditCount(domain.AuditFilter{HomeID: f.homeA, Principal: u.caller.Account.ID}); after == before && u != f.disabled {
					t.Errorf("%s: no audit event in home A", u.name)
				}
				checked++
			}
			method, path, body := c.req(f)
			if status, _ := f.e.do(nil, method, path, body); status != 401 {
				t.Errorf("anonymous: %s %s answered %d, want 401", method, path, status)
			}
			for _, u := range insiders {
				if c.want[u.name] == 0 {
					continue // destructive for the fixture; tested on its own
				}
				method, path, body := c.req(f)
				status, resp := f.e.do(u, method, path, body)
				if want := c.want[u.name]; status != want {
					t.Errorf("%s: %s %s answered %d, want %d: %s", u.name, method, path, status, want, resp)
				}
				checked++
			}
		})
	}
	t.Logf("checked %d calls", checked)
}

// deniedCount counts denial events by u anywhere (home A's log, or the
// instance log for callers refused before any lookup).
func (f *fixture) deniedCount(u *user) int {
	n := 0
	for _, home := range []domain.ID{f.homeA, ""} {
		list, err := f.e.st.Audit(context.Background(), domain.AuditFilter{HomeID: home, Limit: 1000})
		if err != nil {
			f.e.t.Fatal(err)
		}
		for _, ev := range list {
			if ev.Result == domain.ResultDenied && (ev.Principal == u.caller.Account.ID || ev.Principal == "") {
				n++
			}
		}
	}
	return n
}

// assertNoLeak checks that a refusal says nothing of home A.
func assertNoLeak(t *testing.T, who string, body []byte, f *fixture) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" {
		t.Errorf("%s: refusal is not an API error: %s", who, body)
	}
	for _, secret := range []string{string(f.homeA) + "\"", "Home A", "Front door", "Garden"} {
		if strings.Contains(string(body), secret) {
			t.Errorf("%s: refusal mentions %q: %s", who, secret, body)
		}
	}
}

// TestNotFoundIsIndistinguishable: another home's camera answers exactly
// like a camera that does not exist.
func TestNotFoundIsIndistinguishable(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/api/v1/cameras/%s", "/api/v1/homes/%s/cameras"} {
		real := fmt.Sprintf(path, f.cam1)
		if strings.Contains(path, "homes") {
			real = fmt.Sprintf(path, f.homeA)
		}
		s1, b1 := f.e.do(f.ownerB, "GET", real, nil)
		s2, b2 := f.e.do(f.ownerB, "GET", fmt.Sprintf(path, domain.NewID()), nil)
		if s1 != s2 || string(b1) != string(b2) {
			t.Errorf("%s: other home's answers %d %s; missing answers %d %s", path, s1, b1, s2, b2)
		}
	}
}
