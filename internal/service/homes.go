package service

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/store"
)

// Invitation link lifetimes.
const (
	InviteDefaultTTL = 7 * 24 * time.Hour
	InviteMaxTTL     = 30 * 24 * time.Hour
)

// Homes lists the homes the caller belongs to (ended guest memberships
// left out).
func (s *Service) Homes(ctx context.Context, c Caller) ([]domain.HomeView, error) {
	if err := s.self(c); err != nil {
		return nil, err
	}
	all, err := s.st.Homes(ctx, c.Account.ID)
	if err != nil {
		return nil, internal("list homes", err)
	}
	out := all[:0]
	for _, h := range all {
		m, err := s.membership(ctx, c, h.ID)
		if err != nil {
			return nil, err
		}
		if authz.Decide(c.principal(), domain.ActionHomeView, authz.Resource{Home: h.ID}, authz.Facts{Now: s.now(), Membership: m}).Allowed {
			out = append(out, h)
		}
	}
	return out, nil
}

// CreateHome creates a home owned by the caller.
func (s *Service) CreateHome(ctx context.Context, c Caller, name string) (domain.Home, error) {
	if !authz.Decide(c.principal(), domain.ActionHomeCreate, authz.Resource{}, authz.Facts{Now: s.now()}).Allowed {
		return domain.Home{}, unauthenticated("sign in first")
	}
	name, err := cleanName(name, "home name")
	if err != nil {
		return domain.Home{}, err
	}
	h := domain.Home{ID: domain.NewID(), Name: name, CreatedAt: s.now()}
	if err := s.st.CreateHome(ctx, h, c.Account.ID); err != nil {
		return domain.Home{}, internal("create home", err)
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: h.ID, Action: "home.create", Result: domain.ResultOK})
	return h, nil
}

// Home returns one home with the caller's role in it.
func (s *Service) Home(ctx context.Context, c Caller, id domain.ID) (domain.HomeView, error) {
	h, m, err := s.authorizeHome(ctx, c, id, domain.ActionHomeView, "")
	if err != nil {
		return domain.HomeView{}, err
	}
	return domain.HomeView{Home: h, Role: m.Role}, nil
}

// Members lists a home's members.
func (s *Service) Members(ctx context.Context, c Caller, home domain.ID) ([]domain.MemberView, error) {
	if _, _, err := s.authorizeHome(ctx, c, home, domain.ActionMemberList, ""); err != nil {
		return nil, err
	}
	list, err := s.st.Members(ctx, home)
	if err != nil {
		return nil, internal("list members", err)
	}
	return list, nil
}

// Scope narrows a guest: cameras, camera actions and an end time.
type Scope struct {
	Cameras     []domain.ID
	Actions     []domain.Action
	AccessUntil time.Time
}

// InviteRequest describes an invitation.
type InviteRequest struct {
	Role domain.Role
	Scope
	NoHistory bool
	// ExpiresAt is when the link stops working; zero means in 7 days.
	ExpiresAt time.Time
}

// InviteLink is a created invitation: the token is shown to the inviter
// once and stored only hashed.
type InviteLink struct {
	Token     string
	URL       string
	ExpiresAt time.Time
}

// checkScope validates a scope for role and binds its cameras to their
// current generations.
func (s *Service) checkScope(ctx context.Context, home domain.ID, role domain.Role, sc Scope) ([]domain.CameraRef, error) {
	if role != domain.RoleGuest {
		if len(sc.Cameras) > 0 || len(sc.Actions) > 0 || !sc.AccessUntil.IsZero() {
			return nil, invalid("cameras, actions and an end time apply to guests only")
		}
		return nil, nil
	}
	for _, a := range sc.Actions {
		if !slices.Contains(domain.GuestActions, a) {
			return nil, invalid("a guest may be given only these actions: live, snapshot, playback, ptz")
		}
	}
	if !sc.AccessUntil.IsZero() && !sc.AccessUntil.After(s.now()) {
		return nil, invalid("the end time must be in the future")
	}
	if len(sc.Cameras) == 0 {
		// A guest sees only the cameras it is given by name; the policy
		// would show it none, so say so rather than make a useless guest.
		return nil, invalid("choose at least one camera for a guest")
	}
	if len(sc.Cameras) > 100 {
		return nil, invalid("too many cameras")
	}
	var refs []domain.CameraRef
	for _, id := range sc.Cameras {
		cam, err := s.st.Camera(ctx, id)
		if err != nil || cam.HomeID != home {
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, internal("load camera", err)
			}
			return nil, invalid("unknown camera " + string(id))
		}
		refs = append(refs, cam.Ref())
	}
	return refs, nil
}

// CreateInvite makes a single-use invitation link into home.
func (s *Service) CreateInvite(ctx context.Context, c Caller, home domain.ID, req InviteRequest) (InviteLink, error) {
	if !req.Role.Valid() {
		if _, _, err := s.authorizeHome(ctx, c, home, domain.ActionHomeView, ""); err != nil {
			return InviteLink{}, err
		}
		return InviteLink{}, invalid("role must be owner, admin, member or guest")
	}
	if _, _, err := s.authorizeHome(ctx, c, home, domain.ActionInviteCreate, req.Role); err != nil {
		return InviteLink{}, err
	}
	refs, err := s.checkScope(ctx, home, req.Role, req.Scope)
	if err != nil {
		return InviteLink{}, err
	}
	if req.NoHistory && req.Role != domain.RoleGuest {
		return InviteLink{}, invalid("no_history applies to guests only")
	}
	now := s.now()
	exp := req.ExpiresAt
	if exp.IsZero() {
		exp = now.Add(InviteDefaultTTL)
	}
	if !exp.After(now) || exp.Sub(now) > InviteMaxTTL {
		return InviteLink{}, invalid("expires_at must be in the future and within 30 days")
	}
	tok, hash := authn.NewToken(authn.KindInvite)
	inv := domain.Invite{
		ID: domain.NewID(), TokenHash: hash, HomeID: home, Role: req.Role, Cameras: refs, Actions: req.Actions,
		AccessUntil: req.AccessUntil, NoHistory: req.NoHistory, ExpiresAt: exp, CreatedBy: c.Account.ID, CreatedAt: now,
	}
	if err := s.st.CreateInvite(ctx, inv); err != nil {
		return InviteLink{}, internal("create invite", err)
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: home, Action: "invite.create", Result: domain.ResultOK, Detail: "role " + string(req.Role)})
	return InviteLink{Token: tok, URL: s.cfg.BaseURL + "/invite/" + tok, ExpiresAt: exp}, nil
}

// InviteInfo describes an invitation to the person holding its link.
type InviteInfo struct {
	HomeName  string
	Role      domain.Role
	ExpiresAt time.Time
}

// LookupInvite shows what an unused, unexpired invitation offers. Anyone
// holding the link may see it.
func (s *Service) LookupInvite(ctx context.Context, token string) (InviteInfo, error) {
	inv, err := s.openInvite(ctx, token)
	if err != nil {
		return InviteInfo{}, err
	}
	h, err := s.st.Home(ctx, inv.HomeID)
	if err != nil {
		return InviteInfo{}, notFound()
	}
	return InviteInfo{HomeName: h.Name, Role: inv.Role, ExpiresAt: inv.ExpiresAt}, nil
}

func (s *Service) openInvite(ctx context.Context, token string) (domain.Invite, error) {
	hash, err := authn.ParseToken(authn.KindInvite, token)
	if err != nil {
		return domain.Invite{}, notFound()
	}
	inv, err := s.st.InviteByTokenHash(ctx, hash)
	if err != nil || !inv.UsedAt.IsZero() || !s.now().Before(inv.ExpiresAt) {
		return domain.Invite{}, notFound()
	}
	return inv, nil
}

// AcceptInvite joins the caller to the invitation's home. With an
// anonymous caller, email and password create the account first.
func (s *Service) AcceptInvite(ctx context.Context, c Caller, token, email, password string) (domain.Membership, domain.Account, error) {
	if !authz.Decide(c.principal(), domain.ActionInviteAccept, authz.Resource{}, authz.Facts{Now: s.now()}).Allowed && !c.Anonymous() {
		return domain.Membership{}, domain.Account{}, unauthenticated("sign in first")
	}
	inv, err := s.openInvite(ctx, token)
	if err != nil {
		return domain.Membership{}, domain.Account{}, err
	}
	if c.Anonymous() {
		e, err := s.checkNewAccount(email, password)
		if err != nil {
			return domain.Membership{}, domain.Account{}, err
		}
		a, err := s.newAccount(e, password)
		if err != nil {
			return domain.Membership{}, domain.Account{}, err
		}
		if err := s.st.CreateAccount(ctx, a); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return domain.Membership{}, domain.Account{}, conflict("an account with that email exists; sign in to accept")
			}
			return domain.Membership{}, domain.Account{}, internal("create account", err)
		}
		c.Account = a
		s.audit(ctx, c, domain.AuditEvent{Action: "account.create", Result: domain.ResultOK, Detail: "by invitation"})
	}
	m, err := s.st.AcceptInvite(ctx, inv.TokenHash, c.Account.ID, s.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return domain.Membership{}, c.Account, notFound()
	case errors.Is(err, store.ErrConflict):
		return domain.Membership{}, c.Account, conflict("this invitation was used already, or you are a member of this home")
	case err != nil:
		return domain.Membership{}, c.Account, internal("accept invite", err)
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: inv.HomeID, Action: "invite.accept", Result: domain.ResultOK, Detail: "role " + string(m.Role)})
	return m, c.Account, nil
}

// MemberPatch changes a membership; nil fields stay as they are.
type MemberPatch struct {
	Role        *domain.Role
	Cameras     *[]domain.ID
	Actions     *[]domain.Action
	AccessUntil *time.Time // zero time clears the end
}

// UpdateMember changes a member's role or guest limits.
func (s *Service) UpdateMember(ctx context.Context, c Caller, home, account domain.ID, p MemberPatch) (domain.Membership, error) {
	target, err := s.targetMembership(ctx, c, home, account)
	if err != nil {
		return domain.Membership{}, err
	}
	next := target
	if p.Role != nil {
		if !p.Role.Valid() {
			return domain.Membership{}, invalid("role must be owner, admin, member or guest")
		}
		// Changing someone into a role needs the right over that role too.
		if _, _, err := s.authorizeHome(ctx, c, home, domain.ActionMemberManage, *p.Role); err != nil {
			return domain.Membership{}, err
		}
		next.Role = *p.Role
	}
	sc := Scope{AccessUntil: next.Until, Actions: next.Actions}
	for _, r := range next.Cameras {
		sc.Cameras = append(sc.Cameras, r.Camera)
	}
	if next.Role != domain.RoleGuest {
		sc = Scope{}
	}
	if p.Cameras != nil {
		sc.Cameras = *p.Cameras
	}
	if p.Actions != nil {
		sc.Actions = *p.Actions
	}
	if p.AccessUntil != nil {
		sc.AccessUntil = *p.AccessUntil
	}
	refs, err := s.checkScope(ctx, home, next.Role, sc)
	if err != nil {
		return domain.Membership{}, err
	}
	// HistoryFrom stays as it is whatever the role: the policy holds only
	// guests to it, and a guest made member and guest again must not see
	// what was recorded before it first joined.
	next.Cameras, next.Actions, next.Until = refs, sc.Actions, sc.AccessUntil
	// Narrowed access takes effect on live streams now.
	err = s.withdrawing(ctx, func(ctx context.Context) ([]events.Event, error) {
		if err := s.st.UpdateMembership(ctx, next); err != nil {
			if errors.Is(err, store.ErrLastOwner) {
				return nil, conflict("a home needs at least one owner")
			}
			return nil, internal("update membership", err)
		}
		return []events.Event{accessRevoked(account)}, nil
	})
	if err != nil {
		return domain.Membership{}, err
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: home, Action: "member.update", Result: domain.ResultOK,
		Detail: string(account) + ": " + string(target.Role) + " -> " + string(next.Role)})
	return next, nil
}

// RemoveMember removes a member, or lets the caller leave the home. The
// removed member's access ends on their next request.
func (s *Service) RemoveMember(ctx context.Context, c Caller, home, account domain.ID) error {
	var err error
	if account == c.Account.ID {
		_, _, err = s.authorizeHome(ctx, c, home, domain.ActionHomeLeave, "")
	} else {
		_, err = s.targetMembership(ctx, c, home, account)
	}
	if err != nil {
		return err
	}
	err = s.withdrawing(ctx, func(ctx context.Context) ([]events.Event, error) {
		if err := s.st.DeleteMembership(ctx, home, account); err != nil {
			switch {
			case errors.Is(err, store.ErrLastOwner):
				return nil, conflict("a home needs at least one owner")
			case errors.Is(err, store.ErrNotFound):
				return nil, notFound()
			}
			return nil, internal("delete membership", err)
		}
		return []events.Event{accessRevoked(account)}, nil
	})
	if err != nil {
		return err
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: home, Action: "member.remove", Result: domain.ResultOK, Detail: string(account)})
	return nil
}

// targetMembership authorizes managing account's membership in home and
// returns it.
func (s *Service) targetMembership(ctx context.Context, c Caller, home, account domain.ID) (domain.Membership, error) {
	// First: may the caller manage members at all? This also hides other
	// homes' members behind "not found".
	if _, _, err := s.authorizeHome(ctx, c, home, domain.ActionMemberList, ""); err != nil {
		return domain.Membership{}, err
	}
	if !domain.ValidID(string(account)) {
		return domain.Membership{}, notFound()
	}
	target, err := s.st.Membership(ctx, home, account)
	if errors.Is(err, store.ErrNotFound) {
		return domain.Membership{}, notFound()
	}
	if err != nil {
		return domain.Membership{}, internal("load membership", err)
	}
	if _, _, err := s.authorizeHome(ctx, c, home, domain.ActionMemberManage, target.Role); err != nil {
		return domain.Membership{}, err
	}
	return target, nil
}
