package webui

import (
	"net/http"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
)

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
