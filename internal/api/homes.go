package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/service"
)

func (a *API) homes(w http.ResponseWriter, r *http.Request, c service.Caller) {
	list, err := a.svc.Homes(r.Context(), c)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []homeJSON{}
	for _, h := range list {
		out = append(out, homeView(h.Home, h.Role))
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"homes": out})
}

func (a *API) createHome(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Name string `json:"name"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	h, err := a.svc.CreateHome(r.Context(), c, req.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusCreated, homeView(h, domain.RoleOwner))
}

func (a *API) home(w http.ResponseWriter, r *http.Request, c service.Caller) {
	h, err := a.svc.Home(r.Context(), c, id(r, "home"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, homeView(h.Home, h.Role))
}

func (a *API) deleteHome(w http.ResponseWriter, r *http.Request, c service.Caller) {
	if err := a.svc.DeleteHome(r.Context(), c, id(r, "home")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) members(w http.ResponseWriter, r *http.Request, c service.Caller) {
	list, err := a.svc.Members(r.Context(), c, id(r, "home"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []memberJSON{}
	for _, m := range list {
		out = append(out, memberView(m.Membership, m.Email))
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"members": out})
}

func (a *API) updateMember(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Role        *domain.Role     `json:"role"`
		Cameras     *[]domain.ID     `json:"cameras"`
		Actions     *[]domain.Action `json:"actions"`
		AccessUntil *time.Time       `json:"access_until"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	m, err := a.svc.UpdateMember(r.Context(), c, id(r, "home"), id(r, "account"), service.MemberPatch{
		Role: req.Role, Cameras: req.Cameras, Actions: req.Actions, AccessUntil: req.AccessUntil,
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, memberView(m, ""))
}

func (a *API) removeMember(w http.ResponseWriter, r *http.Request, c service.Caller) {
	if err := a.svc.RemoveMember(r.Context(), c, id(r, "home"), id(r, "account")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) createInvite(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Role        domain.Role     `json:"role"`
		Cameras     []domain.ID     `json:"cameras"`
		Actions     []domain.Action `json:"actions"`
		ExpiresAt   *time.Time      `json:"expires_at"`
		AccessUntil *time.Time      `json:"access_until"`
		NoHistory   bool            `json:"no_history"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	ir := service.InviteRequest{Role: req.Role, NoHistory: req.NoHistory,
		Scope: service.Scope{Cameras: req.Cameras, Actions: req.Actions}}
	if req.ExpiresAt != nil {
		ir.ExpiresAt = *req.ExpiresAt
	}
	if req.AccessUntil != nil {
		ir.AccessUntil = *req.AccessUntil
	}
	link, err := a.svc.CreateInvite(r.Context(), c, id(r, "home"), ir)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusCreated, map[string]any{"token": link.Token, "url": link.URL, "expires_at": link.ExpiresAt})
}

func (a *API) lookupInvite(w http.ResponseWriter, r *http.Request, c service.Caller) {
	info, err := a.svc.LookupInvite(r.Context(), r.PathValue("token"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"home_name": info.HomeName, "role": info.Role, "expires_at": info.ExpiresAt})
}

func (a *API) acceptInvite(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	// A signed-in caller may send no body at all.
	if r.ContentLength != 0 && !a.decode(w, r, &req) {
		return
	}
	if !c.Anonymous() && (req.Email != "" || req.Password != "") {
		a.fail(w, r, badRequest("you are signed in; accept without email and password"))
		return
	}
	m, acct, err := a.svc.AcceptInvite(r.Context(), c, r.PathValue("token"), req.Email, req.Password)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"account": accountView(acct), "membership": memberView(m, acct.Email)})
}

func (a *API) audit(w http.ResponseWriter, r *http.Request, c service.Caller) {
	q := r.URL.Query()
	f := domain.AuditFilter{HomeID: id(r, "home"), CameraID: domain.ID(q.Get("camera")),
		Principal: domain.ID(q.Get("principal")), Action: q.Get("action")}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				a.fail(w, r, badRequest(p.name+" must be an RFC 3339 time"))
				return
			}
			*p.dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			a.fail(w, r, badRequest("limit must be 1 to 1000"))
			return
		}
		f.Limit = n
	}
	log, err := a.svc.AuditLog(r.Context(), c, f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []auditJSON{}
	for _, e := range log.Events {
		out = append(out, auditView(e, log))
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"events": out})
}
