package webui

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
)

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
