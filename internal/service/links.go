package service

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/store"
)

// MaxLinkCameras bounds the cameras one link may name.
const MaxLinkCameras = 256

// ConsentHome is a home whose cameras the caller may share with an
// integration, with what it may share of each.
type ConsentHome struct {
	Home    domain.HomeView
	Cameras []ConsentCamera
}

// ConsentCamera is a camera the caller may share, with the link actions
// (live, snapshot) it may share of it: never more than it may do itself.
type ConsentCamera struct {
	ID      domain.ID
	Name    string
	Actions []domain.Action
}

// ConsentChoices lists what the caller may share, home by home.
func (s *Service) ConsentChoices(ctx context.Context, c Caller) ([]ConsentHome, error) {
	if c.Link != "" {
		return nil, forbidden()
	}
	homes, err := s.Homes(ctx, c)
	if err != nil {
		return nil, err
	}
	out := []ConsentHome{}
	for _, h := range homes {
		cams, err := s.Cameras(ctx, c, h.ID)
		if err != nil {
			return nil, err
		}
		ch := ConsentHome{Home: h}
		for _, cam := range cams {
			var acts []domain.Action
			for _, a := range domain.LinkActions {
				if slices.Contains(cam.Actions, a) {
					acts = append(acts, a)
				}
			}
			if len(acts) > 0 {
				ch.Cameras = append(ch.Cameras, ConsentCamera{ID: cam.ID, Name: cam.Name, Actions: acts})
			}
		}
		if len(ch.Cameras) > 0 {
			out = append(out, ch)
		}
	}
	return out, nil
}

// CreateLink records the caller's consent for an integration in a home:
// the cameras, each at its current generation, and the actions. The
// caller must be allowed every action on every camera itself. A live link
// of the same integration, home and account is replaced (revoked).
func (s *Service) CreateLink(ctx context.Context, c Caller, integration, home domain.ID, cameras []domain.ID, actions []domain.Action) (domain.Link, error) {
	if c.Link != "" {
		return domain.Link{}, forbidden()
	}
	// A link outlives sessions and password changes: a session's token
	// alone (a stolen one) must not make one.
	if err := s.reauthenticated(c); err != nil {
		return domain.Link{}, err
	}
	in, err := s.st.Integration(ctx, integration)
	if err != nil || !in.Enabled {
		return domain.Link{}, invalid("this integration is not available")
	}
	if len(cameras) == 0 || len(cameras) > MaxLinkCameras {
		return domain.Link{}, invalid("choose at least one camera")
	}
	if len(actions) == 0 {
		return domain.Link{}, invalid("choose live video, snapshots or both")
	}
	var acts []domain.Action
	for _, a := range domain.LinkActions {
		if slices.Contains(actions, a) {
			acts = append(acts, a)
		}
	}
	for _, a := range actions {
		if !slices.Contains(domain.LinkActions, a) {
			return domain.Link{}, invalid("an integration may be given live video and snapshots only")
		}
	}
	if _, _, err := s.authorizeHome(ctx, c, home, domain.ActionCameraList, ""); err != nil {
		return domain.Link{}, err
	}
	m, err := s.membership(ctx, c, home)
	if err != nil {
		return domain.Link{}, err
	}
	f := authz.Facts{Now: s.now(), Membership: m}
	var refs []domain.CameraRef
	for _, id := range cameras {
		cam, err := s.st.Camera(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && cam.HomeID != home) {
			return domain.Link{}, notFound()
		}
		if err != nil {
			return domain.Link{}, internal("load camera", err)
		}
		for _, a := range acts {
			if d := authz.Decide(c.principal(), a, authz.Resource{Home: home, Camera: &cam}, f); !d.Allowed {
				return domain.Link{}, denial(c, d)
			}
		}
		if !slices.Contains(refs, cam.Ref()) {
			refs = append(refs, cam.Ref())
		}
	}
	now := s.now()
	l := domain.Link{ID: domain.NewID(), IntegrationID: in.ID, HomeID: home, AccountID: c.Account.ID, Cameras: refs, Actions: acts, CreatedAt: now}
	err = s.withdrawing(ctx, func(ctx context.Context) ([]events.Event, error) {
		old, err := s.st.RevokeLinks(ctx, store.LinkFilter{IntegrationID: in.ID, HomeID: home, AccountID: c.Account.ID}, now)
		if err != nil {
			return nil, internal("replace link", err)
		}
		if err := s.st.CreateLink(ctx, l); err != nil {
			return nil, internal("create link", err)
		}
		return linksRevoked(old), nil
	})
	if err != nil {
		return domain.Link{}, err
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: home, Action: "link.create", Result: domain.ResultOK,
		Detail: in.Name + ": " + plural(len(refs), "camera") + ", " + joinActions(acts)})
	return l, nil
}

func joinActions(acts []domain.Action) string {
	s := make([]string, len(acts))
	for i, a := range acts {
		s[i] = string(a)
	}
	return strings.Join(s, " and ")
}

// LinkCaller is the caller an integration acts as with a grant of link,
// given by account: the link must be live and the account enabled. What
// it may do is still the policy's to decide at every use.
func (s *Service) LinkCaller(ctx context.Context, link, account domain.ID, addr string) (Caller, error) {
	if err := s.CheckLink(ctx, link, account); err != nil {
		return Caller{}, err
	}
	a, err := s.st.Account(ctx, account)
	if err != nil || a.Disabled {
		return Caller{}, unauthenticated("the link is not valid")
	}
	return Caller{Account: a, Link: link, Addr: addr}, nil
}

// CheckLink reports whether a link stands: live, the account's, of an
// enabled integration, and the account still a member of its home.
func (s *Service) CheckLink(ctx context.Context, link, account domain.ID) error {
	deny := unauthenticated("the link is not valid")
	l, err := s.st.Link(ctx, link)
	if errors.Is(err, store.ErrNotFound) {
		return deny
	}
	if err != nil {
		return internal("load link", err)
	}
	if !l.Live() || l.AccountID != account {
		return deny
	}
	in, err := s.st.Integration(ctx, l.IntegrationID)
	if err != nil || !in.Enabled {
		return deny
	}
	a, err := s.st.Account(ctx, account)
	if err != nil || a.Disabled {
		return deny
	}
	m, err := s.membership(ctx, Caller{Account: a}, l.HomeID)
	if err != nil {
		return err
	}
	if m == nil || m.Expired(s.now()) {
		return deny
	}
	return nil
}

// LinkedCameras lists the cameras an integration may use under its link:
// those the link names at their current generation and that the policy
// still allows (live or snapshot) through it.
func (s *Service) LinkedCameras(ctx context.Context, c Caller) ([]CameraView, error) {
	return s.linkedCameras(ctx, c, true)
}

// linkedCameras is LinkedCameras; touch records the use of the link.
func (s *Service) linkedCameras(ctx context.Context, c Caller, touch bool) ([]CameraView, error) {
	if c.Link == "" {
		return nil, forbidden()
	}
	via, _, err := s.viaTouch(ctx, c, touch)
	if err != nil {
		return nil, err
	}
	m, err := s.membership(ctx, c, via.Link.HomeID)
	if err != nil {
		return nil, err
	}
	out := []CameraView{}
	f := authz.Facts{Now: s.now(), Membership: m, Via: via}
	for _, ref := range via.Link.Cameras {
		cam, err := s.st.Camera(ctx, ref.Camera)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, internal("load camera", err)
		}
		var acts []domain.Action
		for _, a := range domain.LinkActions {
			if authz.Decide(c.principal(), a, authz.Resource{Home: cam.HomeID, Camera: &cam}, f).Allowed {
				acts = append(acts, a)
			}
		}
		if len(acts) > 0 {
			out = append(out, s.view(cam, acts))
		}
	}
	return out, nil
}

// LinkView is a link as the Linked services page shows it.
type LinkView struct {
	domain.Link
	Integration string
	Home        string
	LinkedBy    string
	Cameras     []string // names; a camera reset since shows as "(reset)"
	Mine        bool
}

// Links lists the caller's own links, and every link of the homes where it
// may manage links, newest first.
func (s *Service) Links(ctx context.Context, c Caller) ([]LinkView, error) {
	if err := s.self(c); err != nil {
		return nil, err
	}
	if c.Link != "" {
		return nil, forbidden()
	}
	links, err := s.st.Links(ctx, store.LinkFilter{AccountID: c.Account.ID})
	if err != nil {
		return nil, internal("list links", err)
	}
	homes, err := s.Homes(ctx, c)
	if err != nil {
		return nil, err
	}
	names := map[domain.ID]string{}
	for _, h := range homes {
		names[h.ID] = h.Name
		m, err := s.membership(ctx, c, h.ID)
		if err != nil {
			return nil, err
		}
		if !authz.Decide(c.principal(), domain.ActionLinkManage, authz.Resource{Home: h.ID}, authz.Facts{Now: s.now(), Membership: m}).Allowed {
			continue
		}
		theirs, err := s.st.Links(ctx, store.LinkFilter{HomeID: h.ID})
		if err != nil {
			return nil, internal("list links", err)
		}
		for _, l := range theirs {
			if l.AccountID != c.Account.ID {
				links = append(links, l)
			}
		}
	}
	slices.SortFunc(links, func(a, b domain.Link) int { return b.CreatedAt.Compare(a.CreatedAt) })
	out := []LinkView{}
	for _, l := range links {
		v := LinkView{Link: l, Home: names[l.HomeID], Mine: l.AccountID == c.Account.ID}
		if in, err := s.st.Integration(ctx, l.IntegrationID); err == nil {
			v.Integration = in.Name
		}
		if a, err := s.st.Account(ctx, l.AccountID); err == nil {
			v.LinkedBy = a.Email
		}
		for _, ref := range l.Cameras {
			cam, err := s.st.Camera(ctx, ref.Camera)
			switch {
			case err != nil || cam.HomeID != l.HomeID:
				v.Cameras = append(v.Cameras, "(removed)")
			case cam.Generation != ref.Generation:
				v.Cameras = append(v.Cameras, cam.Name+" (reset)")
			default:
				v.Cameras = append(v.Cameras, cam.Name)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// RevokeLink revokes one link: the caller's own, one of a home where it
// may manage links, or — for an integration disconnecting — the link it
// acts under. Streams started through it end at once.
func (s *Service) RevokeLink(ctx context.Context, c Caller, id domain.ID) error {
	if c.Link == "" {
		if err := s.self(c); err != nil {
			return err
		}
	}
	l, err := s.st.Link(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound()
	}
	if err != nil {
		return internal("load link", err)
	}
	allowed := false
	switch {
	case c.Link != "":
		allowed = c.Link == id
	case l.AccountID == c.Account.ID:
		allowed = true
	default:
		m, err := s.membership(ctx, c, l.HomeID)
		if err != nil {
			return err
		}
		allowed = authz.Decide(c.principal(), domain.ActionLinkManage, authz.Resource{Home: l.HomeID}, authz.Facts{Now: s.now(), Membership: m}).Allowed
	}
	if !allowed {
		return notFound()
	}
	err = s.withdrawing(ctx, func(ctx context.Context) ([]events.Event, error) {
		revoked, err := s.st.RevokeLinks(ctx, store.LinkFilter{ID: id}, s.now())
		if err != nil {
			return nil, internal("revoke link", err)
		}
		return linksRevoked(revoked), nil
	})
	if err != nil {
		return err
	}
	detail := "revoked by the account"
	if c.Link != "" {
		detail = "disconnected by the integration"
	} else if l.AccountID != c.Account.ID {
		detail = "revoked by an owner"
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: l.HomeID, Action: "link.revoke", Result: domain.ResultOK, Detail: detail})
	return nil
}

// DisconnectHome revokes every link of a home (owners only) and returns
// how many.
func (s *Service) DisconnectHome(ctx context.Context, c Caller, home domain.ID) (int, error) {
	if _, _, err := s.authorizeHome(ctx, c, home, domain.ActionLinkManage, ""); err != nil {
		return 0, err
	}
	var revoked []domain.Link
	err := s.withdrawing(ctx, func(ctx context.Context) ([]events.Event, error) {
		var err error
		if revoked, err = s.st.RevokeLinks(ctx, store.LinkFilter{HomeID: home}, s.now()); err != nil {
			return nil, internal("revoke links", err)
		}
		return linksRevoked(revoked), nil
	})
	if err != nil {
		return 0, err
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: home, Action: "link.disconnect_home", Result: domain.ResultOK,
		Detail: plural(len(revoked), "link") + " revoked"})
	return len(revoked), nil
}

// WatchRevokedLinks ends, within every, the live streams of links that
// another process revoked — `camvault admin integration disable` run
// beside the server, or another server without a shared bus — by reading
// the links revoked since the last look. It returns when ctx ends.
func (s *Service) WatchRevokedLinks(ctx context.Context, every time.Duration) {
	// Revocation times come from whichever process revoked; a margin
	// covers small clock differences, and seen keeps each link once.
	const margin = 5 * time.Second
	since := s.now()
	seen := map[domain.ID]time.Time{}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		links, err := s.st.Links(ctx, store.LinkFilter{RevokedSince: since.Add(-margin)})
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("watch revoked links", "err", err)
			}
			continue
		}
		for _, l := range links {
			if _, ok := seen[l.ID]; ok {
				continue
			}
			seen[l.ID] = l.RevokedAt
			s.applyWithdrawal(events.Event{Kind: events.LinkRevoked, Link: l.ID})
			if l.RevokedAt.After(since) {
				since = l.RevokedAt
			}
		}
		for id, at := range seen {
			if at.Before(since.Add(-2 * margin)) {
				delete(seen, id)
			}
		}
	}
}

// NotifyTarget is a live link of an integration that takes change
// notifications, with the cameras it may use now.
type NotifyTarget struct {
	Link        domain.Link
	Integration domain.Integration
	Cameras     []CameraView
}

// NotifyTargets lists the live links of enabled integrations that take
// change notifications, each with what SYNC would list for it. It is for
// the server's own notifier, never for a caller.
func (s *Service) NotifyTargets(ctx context.Context) ([]NotifyTarget, error) {
	ins, err := s.st.Integrations(ctx)
	if err != nil {
		return nil, internal("integrations", err)
	}
	var out []NotifyTarget
	for _, in := range ins {
		if !in.Enabled || in.NotifyURL == "" {
			continue
		}
		links, err := s.st.Links(ctx, store.LinkFilter{IntegrationID: in.ID})
		if err != nil {
			return nil, internal("links", err)
		}
		for _, l := range links {
			c, err := s.LinkCaller(ctx, l.ID, l.AccountID, "")
			if err != nil {
				continue
			}
			cams, err := s.linkedCameras(ctx, c, false)
			if err != nil {
				return nil, err
			}
			out = append(out, NotifyTarget{Link: l, Integration: in, Cameras: cams})
		}
	}
	return out, nil
}
