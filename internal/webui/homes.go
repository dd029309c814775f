package webui

import (
	"net/http"

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

func (u *UI) home(w http.ResponseWriter, r *http.Request, c service.Caller) {
	v, err := u.loadHome(r, c, id(r, "home"))
	if err != nil {
		u.fail(w, r, c, err, "home", page{})
		return
	}
	u.render(w, c, http.StatusOK, "home", page{Title: v.Home.Name, Data: v})
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
