package webui

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
)

func (u *UI) homes(w http.ResponseWriter, r *http.Request, c service.Caller) {
	p := page{Title: "Your homes"}
	list, err := u.svc.Homes(r.Context(), c)
	if err != nil {
		u.fail(w, r, c, err, "homes", p)
		return
	}
	p.Data = list
	u.render(w, c, http.StatusOK, "homes", p)
}

func (u *UI) createHome(w http.ResponseWriter, r *http.Request, c service.Caller) {
	if err := form(r); err != nil {
		u.fail(w, r, c, err, "homes", page{Title: "Your homes"})
		return
	}
	h, err := u.svc.CreateHome(r.Context(), c, r.PostFormValue("name"))
	if err != nil {
		list, _ := u.svc.Homes(r.Context(), c)
		u.fail(w, r, c, err, "homes", page{Title: "Your homes", Data: list})
		return
	}
	see(w, r, "/homes/"+string(h.ID))
}

// homeView is what the home page shows.
type homeView struct {
	Home    domain.HomeView
	Cameras []service.CameraView
	Manage  bool // the caller may add cameras and see members and the log
	Owner   bool // the caller may delete the home
	// Recording is the home's retention and export window, and Former
	// the cameras that left with recordings the home keeps: for owners.
	Recording *service.HomeRecordingView
	Former    []service.FormerCameraView
}

func (u *UI) loadHome(r *http.Request, c service.Caller, home domain.ID) (homeView, error) {
	h, err := u.svc.Home(r.Context(), c, home)
	if err != nil {
		return homeView{}, err
	}
	cams, err := u.svc.Cameras(r.Context(), c, home)
	if err != nil {
		return homeView{}, err
	}
	v := homeView{Home: h, Cameras: cams, Manage: h.Role == domain.RoleOwner || h.Role == domain.RoleAdmin, Owner: h.Role == domain.RoleOwner}
	if v.Owner {
		rec, err := u.svc.HomeRecording(r.Context(), c, home)
		if err != nil {
			return homeView{}, err
		}
		v.Recording = &rec
		if v.Former, err = u.svc.FormerCameras(r.Context(), c, home); err != nil {
			return homeView{}, err
		}
	}
	return v, nil
}

// formerView is the page of a camera that left the home, for its owners:
// the recordings the home keeps until the export window ends.
type formerView struct {
	Home   domain.HomeView
	Former service.FormerCameraView
}

func (u *UI) formerCamera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	home := id(r, "home")
	gen, err := strconv.ParseInt(r.PathValue("generation"), 10, 64)
	if err != nil || gen < 0 {
		u.notFound(w, c)
		return
	}
	h, err := u.svc.Home(r.Context(), c, home)
	if err != nil {
		u.fail(w, r, c, err, "former", page{})
		return
	}
	f, err := u.svc.FormerCamera(r.Context(), c, home, id(r, "camera"), gen)
	if service.KindOf(err) == service.KindForbidden {
		// To anyone but the owners, a former camera does not exist (the
		// refusal is audited).
		u.notFound(w, c)
		return
	}
	if err != nil {
		u.fail(w, r, c, err, "former", page{})
		return
	}
	u.render(w, c, http.StatusOK, "former", page{Title: "Former camera", Data: formerView{Home: h, Former: f}})
}

func (u *UI) setHomeRecording(w http.ResponseWriter, r *http.Request, c service.Caller) {
	home := id(r, "home")
	if err := form(r); err != nil {
		u.fail(w, r, c, err, "notfound", page{})
		return
	}
	_, err := u.svc.SetHomeRecording(r.Context(), c, home, service.HomeRecordingView{RetainDays: formInt(r, "retain_days"),
		RetainGB: formNumber(r, "retain_gb"), ExportWindowDays: formNumber(r, "export_window_days")})
	v, lerr := u.loadHome(r, c, home)
	if lerr != nil {
		u.fail(w, r, c, lerr, "home", page{})
		return
	}
	p := page{Title: v.Home.Name, Data: v, Notice: "Recording settings saved."}
	if err != nil {
		u.fail(w, r, c, err, "home", p)
		return
	}
	u.render(w, c, http.StatusOK, "home", p)
}

func (u *UI) home(w http.ResponseWriter, r *http.Request, c service.Caller) {
	v, err := u.loadHome(r, c, id(r, "home"))
	if err != nil {
		u.fail(w, r, c, err, "home", page{})
		return
	}
	u.render(w, c, http.StatusOK, "home", page{Title: v.Home.Name, Data: v})
}

func (u *UI) createCamera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	home := id(r, "home")
	if err := form(r); err != nil {
		u.fail(w, r, c, err, "notfound", page{})
		return
	}
	if _, err := u.svc.CreateCamera(r.Context(), c, home, r.PostFormValue("name")); err != nil {
		v, lerr := u.loadHome(r, c, home)
		if lerr != nil {
			u.fail(w, r, c, lerr, "home", page{})
			return
		}
		u.fail(w, r, c, err, "home", page{Title: v.Home.Name, Data: v})
		return
	}
	see(w, r, "/homes/"+string(home))
}

// cameraView is what the camera page shows.
type cameraView struct {
	Camera   service.CameraView
	Manage   bool
	Transfer bool
	// Playback, Export and DeleteRecordings say what the caller may do
	// with the recordings; Recording is the settings, for managers.
	Playback, Export, DeleteRecordings bool
	Recording                          *service.RecordingSettingsView
	Modes                              []domain.RecordingMode
}

func newCameraView(cam service.CameraView) cameraView {
	return cameraView{Camera: cam, Manage: has(cam.Actions, domain.ActionManage), Transfer: has(cam.Actions, domain.ActionTransfer) && cam.DeviceBacked(),
		Playback: has(cam.Actions, domain.ActionPlayback), Export: has(cam.Actions, domain.ActionExport),
		DeleteRecordings: has(cam.Actions, domain.ActionRecordingDelete),
		Modes:            []domain.RecordingMode{domain.RecordOff, domain.RecordContinuous, domain.RecordEvents}}
}

// loadCameraView loads what the camera page shows.
func (u *UI) loadCameraView(r *http.Request, c service.Caller, camera domain.ID) (cameraView, error) {
	cam, err := u.svc.Camera(r.Context(), c, camera)
	if err != nil {
		return cameraView{}, err
	}
	v := newCameraView(cam)
	if v.Manage {
		rs, err := u.svc.CameraRecording(r.Context(), c, cam.ID)
		if err != nil {
			return cameraView{}, err
		}
		v.Recording = &rs
	}
	return v, nil
}

func (u *UI) camera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	v, err := u.loadCameraView(r, c, id(r, "camera"))
	if err != nil {
		u.fail(w, r, c, err, "camera", page{})
		return
	}
	u.render(w, c, http.StatusOK, "camera", page{Title: v.Camera.Name, Data: v})
}

// cameraResult re-renders the camera page after a change, with err (if
// any) or notice.
func (u *UI) cameraResult(w http.ResponseWriter, r *http.Request, c service.Caller, camera domain.ID, err error, notice string) {
	v, lerr := u.loadCameraView(r, c, camera)
	if lerr != nil {
		u.fail(w, r, c, lerr, "camera", page{})
		return
	}
	p := page{Title: v.Camera.Name, Data: v, Notice: notice}
	if err != nil {
		u.fail(w, r, c, err, "camera", p)
		return
	}
	u.render(w, c, http.StatusOK, "camera", p)
}

func (u *UI) setRecording(w http.ResponseWriter, r *http.Request, c service.Caller) {
	camID := id(r, "camera")
	if err := form(r); err != nil {
		u.fail(w, r, c, err, "notfound", page{})
		return
	}
	v := service.RecordingSettingsView{Mode: domain.RecordingMode(r.PostFormValue("mode")), PreRollSecs: formNumber(r, "pre_roll_seconds"),
		PostRollSecs: formNumber(r, "post_roll_seconds"), RetainDays: formInt(r, "retain_days"), RetainGB: formNumber(r, "retain_gb")}
	_, err := u.svc.SetCameraRecording(r.Context(), c, camID, v)
	u.cameraResult(w, r, c, camID, err, "Recording settings saved.")
}

func (u *UI) deleteRecordings(w http.ResponseWriter, r *http.Request, c service.Caller) {
	camID := id(r, "camera")
	if err := form(r); err != nil {
		u.fail(w, r, c, err, "notfound", page{})
		return
	}
	n, err := u.svc.DeleteRecordings(r.Context(), c, camID, time.Time{}, time.Time{})
	u.cameraResult(w, r, c, camID, err, strconv.Itoa(n)+" recorded segments deleted.")
}

func has(list []domain.Action, a domain.Action) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

func (u *UI) renameCamera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	camID := id(r, "camera")
	if err := form(r); err != nil {
		u.fail(w, r, c, err, "notfound", page{})
		return
	}
	if _, err := u.svc.RenameCamera(r.Context(), c, camID, r.PostFormValue("name")); err != nil {
		cam, lerr := u.svc.Camera(r.Context(), c, camID)
		if lerr != nil {
			u.fail(w, r, c, lerr, "camera", page{})
			return
		}
		u.fail(w, r, c, err, "camera", page{Title: cam.Name, Data: newCameraView(cam)})
		return
	}
	see(w, r, "/cameras/"+string(camID))
}

func (u *UI) deleteCamera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	cam, err := u.svc.Camera(r.Context(), c, id(r, "camera"))
	if err != nil {
		u.fail(w, r, c, err, "camera", page{})
		return
	}
	if err := u.svc.DeleteCamera(r.Context(), c, cam.ID); err != nil {
		u.fail(w, r, c, err, "camera", page{Title: cam.Name, Data: newCameraView(cam)})
		return
	}
	see(w, r, "/homes/"+string(cam.HomeID))
}

// membersView is what the members page shows.
type membersView struct {
	Home    domain.HomeView
	Members []domain.MemberView
	Cameras []service.CameraView
	Roles   []domain.Role
	Actions []domain.Action
	Invite  *service.InviteLink // the invitation just created, shown once
	Self    domain.ID
}

func (u *UI) loadMembers(r *http.Request, c service.Caller, home domain.ID) (membersView, error) {
	h, err := u.svc.Home(r.Context(), c, home)
	if err != nil {
		return membersView{}, err
	}
	ms, err := u.svc.Members(r.Context(), c, home)
	if err != nil {
		return membersView{}, err
	}
	cams, err := u.svc.Cameras(r.Context(), c, home)
	if err != nil {
		return membersView{}, err
	}
	return membersView{Home: h, Members: ms, Cameras: cams, Roles: roleOptions, Actions: domain.GuestActions, Self: c.Account.ID}, nil
}

func (u *UI) members(w http.ResponseWriter, r *http.Request, c service.Caller) {
	v, err := u.loadMembers(r, c, id(r, "home"))
	if err != nil {
		u.fail(w, r, c, err, "members", page{})
		return
	}
	u.render(w, c, http.StatusOK, "members", page{Title: "Members of " + v.Home.Name, Data: v})
}

// membersResult re-renders the members page after a change, with err (if
// any) or notice.
func (u *UI) membersResult(w http.ResponseWriter, r *http.Request, c service.Caller, home domain.ID, err error, notice string, link *service.InviteLink) {
	v, lerr := u.loadMembers(r, c, home)
	if lerr != nil {
		u.fail(w, r, c, lerr, "members", page{})
		return
	}
	v.Invite = link
	p := page{Title: "Members of " + v.Home.Name, Data: v, Notice: notice}
	if err != nil {
		u.fail(w, r, c, err, "members", p)
		return
	}
	u.render(w, c, http.StatusOK, "members", p)
}

func (u *UI) createInvite(w http.ResponseWriter, r *http.Request, c service.Caller) {
	home := id(r, "home")
	if err := form(r); err != nil {
		u.membersResult(w, r, c, home, err, "", nil)
		return
	}
	req := service.InviteRequest{Role: domain.Role(r.PostFormValue("role")), NoHistory: r.PostFormValue("no_history") != ""}
	for _, cam := range r.PostForm["cameras"] {
		req.Cameras = append(req.Cameras, domain.ID(cam))
	}
	for _, a := range r.PostForm["actions"] {
		req.Actions = append(req.Actions, domain.Action(a))
	}
	if s := strings.TrimSpace(r.PostFormValue("access_until")); s != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04", s, time.UTC)
		if err != nil {
			u.membersResult(w, r, c, home, &service.Error{Kind: service.KindInvalid, Code: "invalid", Message: "access end must be a date and time"}, "", nil)
			return
		}
		req.AccessUntil = t
	}
	link, err := u.svc.CreateInvite(r.Context(), c, home, req)
	if err != nil {
		u.membersResult(w, r, c, home, err, "", nil)
		return
	}
	u.membersResult(w, r, c, home, nil, "Invitation created. Copy the link now: it is shown only once.", &link)
}

func (u *UI) changeRole(w http.ResponseWriter, r *http.Request, c service.Caller) {
	home := id(r, "home")
	if err := form(r); err != nil {
		u.membersResult(w, r, c, home, err, "", nil)
		return
	}
	role := domain.Role(r.PostFormValue("role"))
	patch := service.MemberPatch{Role: &role}
	// A guest sees only the cameras it is given: ticked ones replace a
	// guest's scope; none ticked keeps it (and making someone a guest
	// without any is refused).
	if cams := r.PostForm["cameras"]; role == domain.RoleGuest && len(cams) > 0 {
		ids := make([]domain.ID, len(cams))
		for i, s := range cams {
			ids[i] = domain.ID(s)
		}
		patch.Cameras = &ids
	}
	_, err := u.svc.UpdateMember(r.Context(), c, home, id(r, "account"), patch)
	if err != nil {
		u.membersResult(w, r, c, home, err, "", nil)
		return
	}
	see(w, r, "/homes/"+string(home)+"/members")
}

func (u *UI) removeMember(w http.ResponseWriter, r *http.Request, c service.Caller) {
	home, acct := id(r, "home"), id(r, "account")
	if err := u.svc.RemoveMember(r.Context(), c, home, acct); err != nil {
		u.membersResult(w, r, c, home, err, "", nil)
		return
	}
	if acct == c.Account.ID {
		see(w, r, "/homes")
		return
	}
	see(w, r, "/homes/"+string(home)+"/members")
}

// auditView is what the audit page shows.
type auditView struct {
	Home   domain.HomeView
	Rows   []auditRow
	Filter map[string]string
}

func (u *UI) audit(w http.ResponseWriter, r *http.Request, c service.Caller) {
	home := id(r, "home")
	q := r.URL.Query()
	f := domain.AuditFilter{HomeID: home, CameraID: domain.ID(q.Get("camera")), Principal: domain.ID(q.Get("principal")), Action: q.Get("action")}
	v := auditView{Filter: map[string]string{"camera": q.Get("camera"), "principal": q.Get("principal"), "action": q.Get("action"), "since": q.Get("since"), "until": q.Get("until")}}
	for key, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if s := q.Get(key); s != "" {
			t, err := time.ParseInLocation("2006-01-02T15:04", s, time.UTC)
			if err != nil {
				u.fail(w, r, c, &service.Error{Kind: service.KindInvalid, Code: "invalid", Message: key + " must be a date and time"}, "audit", page{Title: "Audit log", Data: v})
				return
			}
			*dst = t
		}
	}
	h, err := u.svc.Home(r.Context(), c, home)
	if err != nil {
		u.fail(w, r, c, err, "audit", page{})
		return
	}
	v.Home = h
	log, err := u.svc.AuditLog(r.Context(), c, f)
	if err != nil {
		u.fail(w, r, c, err, "audit", page{Title: "Audit log", Data: v})
		return
	}
	v.Rows = auditRows(log)
	u.render(w, c, http.StatusOK, "audit", page{Title: "Audit log of " + h.Name, Data: v})
}

func (u *UI) transferCamera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	cam, err := u.svc.Camera(r.Context(), c, id(r, "camera"))
	if err != nil {
		u.fail(w, r, c, err, "camera", page{})
		return
	}
	if err := u.svc.TransferCamera(r.Context(), c, cam.ID); err != nil {
		u.fail(w, r, c, err, "camera", page{Title: cam.Name, Data: newCameraView(cam)})
		return
	}
	see(w, r, "/homes/"+string(cam.HomeID))
}

// claimView is what the claim page shows: the homes the caller may add
// cameras to.
type claimView struct {
	Homes []domain.HomeView
	Home  domain.ID // preselected
	Name  string
}

func (u *UI) claimHomes(r *http.Request, c service.Caller) ([]domain.HomeView, error) {
	all, err := u.svc.Homes(r.Context(), c)
	if err != nil {
		return nil, err
	}
	var out []domain.HomeView
	for _, h := range all {
		if h.Role == domain.RoleOwner || h.Role == domain.RoleAdmin {
			out = append(out, h)
		}
	}
	return out, nil
}

func (u *UI) claimPage(w http.ResponseWriter, r *http.Request, c service.Caller) {
	homes, err := u.claimHomes(r, c)
	if err != nil {
		u.fail(w, r, c, err, "claim", page{Title: "Add a camera", Data: claimView{}})
		return
	}
	v := claimView{Homes: homes, Home: domain.ID(r.URL.Query().Get("home"))}
	if len(homes) > 0 && !slices.ContainsFunc(homes, func(h domain.HomeView) bool { return h.ID == v.Home }) {
		v.Home = homes[0].ID
	}
	u.render(w, c, http.StatusOK, "claim", page{Title: "Add a camera", Data: v})
}

func (u *UI) claimCamera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	home := id(r, "home")
	homes, _ := u.claimHomes(r, c)
	v := claimView{Homes: homes, Home: home}
	if err := form(r); err != nil {
		u.fail(w, r, c, err, "claim", page{Title: "Add a camera", Data: v})
		return
	}
	v.Name = r.PostFormValue("name")
	cam, err := u.svc.ClaimCamera(r.Context(), c, home, r.PostFormValue("claim_code"), v.Name)
	if err != nil {
		u.fail(w, r, c, err, "claim", page{Title: "Add a camera", Data: v})
		return
	}
	see(w, r, "/cameras/"+string(cam.ID))
}

func (u *UI) pullCamera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	home := id(r, "home")
	if err := form(r); err != nil {
		u.fail(w, r, c, err, "notfound", page{})
		return
	}
	cam, err := u.svc.AddPulledCamera(r.Context(), c, home, service.PulledCamera{
		Name: r.PostFormValue("name"), Source: r.PostFormValue("source"), SnapshotURL: r.PostFormValue("snapshot_url")})
	if err != nil {
		v, lerr := u.loadHome(r, c, home)
		if lerr != nil {
			u.fail(w, r, c, lerr, "home", page{})
			return
		}
		u.fail(w, r, c, err, "home", page{Title: v.Home.Name, Data: v})
		return
	}
	see(w, r, "/cameras/"+string(cam.ID))
}

func (u *UI) deleteHome(w http.ResponseWriter, r *http.Request, c service.Caller) {
	home := id(r, "home")
	if err := form(r); err != nil {
		u.fail(w, r, c, err, "notfound", page{})
		return
	}
	if err := u.svc.DeleteHome(r.Context(), c, home); err != nil {
		v, lerr := u.loadHome(r, c, home)
		if lerr != nil {
			u.fail(w, r, c, lerr, "home", page{})
			return
		}
		u.fail(w, r, c, err, "home", page{Title: v.Home.Name, Data: v})
		return
	}
	see(w, r, "/homes")
}

// formNumber reads a number from a posted form; anything else reads as
// -1, which the service refuses with a reason.
func formNumber(r *http.Request, name string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(r.PostFormValue(name)), 64)
	if err != nil {
		return -1
	}
	return f
}

// formInt is formNumber for whole numbers.
func formInt(r *http.Request, name string) int {
	n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue(name)))
	if err != nil {
		return -1
	}
	return n
}
