package service

import (
	"context"
	"errors"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/store"
)

// DeleteHome deletes a home (owners only). Its cameras leave it — devices
// have their keys retired, as on transfer, and wait for a new owner with a
// new key; registry and pulled cameras are deleted — and the recordings it
// kept, of every camera that was ever in it, are crypto-shredded now: their
// data keys destroyed, then their segments deleted. Its members,
// invitations and links go with it; its audit log stays.
func (s *Service) DeleteHome(ctx context.Context, c Caller, home domain.ID) error {
	h, _, err := s.authorizeHome(ctx, c, home, domain.ActionHomeDelete, "")
	if err != nil {
		return err
	}
	return s.deleteHome(ctx, c, h)
}

func (s *Service) deleteHome(ctx context.Context, c Caller, h domain.Home) error {
	cams, err := s.st.Cameras(ctx, h.ID)
	if err != nil {
		return internal("list cameras", err)
	}
	for _, cam := range cams {
		if cam.DeviceBacked() {
			if _, err := s.releaseCamera(ctx, cam); err != nil {
				return err
			}
			s.presence().Released(cam.ID)
		} else if err := s.deleteCamera(ctx, cam.ID); err != nil && KindOf(err) != KindNotFound {
			return err
		}
		s.scheduleShred(ctx, cam, true)
	}
	// Recordings of cameras that left earlier and wait out their export
	// window go now too.
	waiting, err := s.st.Purges(ctx, h.ID)
	if err != nil {
		return internal("list purges", err)
	}
	for _, p := range waiting {
		p.DueAt = s.now()
		if err := s.st.SchedulePurge(ctx, p); err != nil {
			return internal("schedule purge", err)
		}
	}
	// The home's links, members and the home itself go together, and so
	// do their streams.
	err = s.withdrawing(ctx, func(ctx context.Context) ([]events.Event, error) {
		links, err := s.st.RevokeLinks(ctx, store.LinkFilter{HomeID: h.ID}, s.now())
		if err != nil {
			return nil, internal("revoke links", err)
		}
		members, err := s.st.Members(ctx, h.ID)
		if err != nil {
			return nil, internal("list members", err)
		}
		if err := s.st.DeleteHome(ctx, h.ID); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return nil, conflict("a camera joined the home meanwhile; try again")
			}
			return nil, internal("delete home", err)
		}
		ws := linksRevoked(links)
		for _, m := range members {
			ws = append(ws, accessRevoked(m.AccountID))
		}
		return ws, nil
	})
	if err != nil {
		return err
	}
	s.dropExports(ctx, store.ExportFilter{HomeID: h.ID})
	s.audit(ctx, c, domain.AuditEvent{HomeID: h.ID, Action: string(domain.ActionHomeDelete), Result: domain.ResultOK,
		Detail: plural(len(cams), "camera") + " removed; recordings shredded"})
	if _, err := s.ShredDue(ctx); err != nil {
		s.log.Error("shredding a deleted home's recordings (retried by the cleaner)", "home", h.ID, "err", err)
	}
	return nil
}

// DeleteAccount deletes the caller's account after it confirms its
// password. Homes it is the only owner of are deleted with their
// recordings (see DeleteHome); it leaves the others.
func (s *Service) DeleteAccount(ctx context.Context, c Caller, password string) error {
	if err := s.self(c); err != nil {
		return err
	}
	if err := s.recheckPassword(ctx, c, password); err != nil {
		return err
	}
	homes, err := s.st.Homes(ctx, c.Account.ID)
	if err != nil {
		return internal("list homes", err)
	}
	for _, hv := range homes {
		if hv.Role != domain.RoleOwner {
			continue
		}
		members, err := s.st.Members(ctx, hv.ID)
		if err != nil {
			return internal("list members", err)
		}
		owners := 0
		for _, m := range members {
			if m.Role == domain.RoleOwner {
				owners++
			}
		}
		if owners == 1 {
			if err := s.deleteHome(ctx, c, hv.Home); err != nil {
				return err
			}
		}
	}
	err = s.withdrawing(ctx, func(ctx context.Context) ([]events.Event, error) {
		if err := s.st.DeleteAccount(ctx, c.Account.ID); err != nil {
			if errors.Is(err, store.ErrLastOwner) {
				return nil, conflict("you became the only owner of a home meanwhile; try again")
			}
			return nil, internal("delete account", err)
		}
		return []events.Event{accessRevoked(c.Account.ID)}, nil
	})
	if err != nil {
		return err
	}
	s.dropExports(ctx, store.ExportFilter{Account: c.Account.ID})
	s.audit(ctx, c, domain.AuditEvent{Action: "account.delete", Result: domain.ResultOK})
	return nil
}

// dropExports stops and removes the exports f selects, at any node: a
// node building one stops when it finds its row gone.
func (s *Service) dropExports(ctx context.Context, f store.ExportFilter) {
	ctx = context.WithoutCancel(ctx)
	list, err := s.st.Exports(ctx, f)
	if err != nil {
		s.log.Warn("exports not listed for removal; they expire", "err", err)
		return
	}
	for _, e := range list {
		s.removeExport(ctx, s.cfg.Recordings, e.ID)
	}
}
