package webui

import (
	"net/http"
	"slices"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
)

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

func has(list []domain.Action, a domain.Action) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
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
