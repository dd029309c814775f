package webui

import (
	"net/http"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
)

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
