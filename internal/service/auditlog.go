package service

import (
	"context"

	"github.com/camvault/camvault/internal/domain"
)

// AuditLog is a page of a home's audit log with the names a person reads
// instead of IDs.
type AuditLog struct {
	Events []domain.AuditEvent
	// Accounts names the principals that are members of the home now
	// (their email); others are former members or outsiders, whose
	// addresses the home's owners are not told.
	Accounts map[domain.ID]string
	// Cameras names the cameras in the home now; others are former
	// cameras (reset, transferred or removed).
	Cameras map[domain.ID]string
}

// AuditLog lists a home's audit events with names for the accounts and
// cameras that belong to the home now.
func (s *Service) AuditLog(ctx context.Context, c Caller, f domain.AuditFilter) (AuditLog, error) {
	events, err := s.Audit(ctx, c, f)
	if err != nil {
		return AuditLog{}, err
	}
	out := AuditLog{Events: events, Accounts: map[domain.ID]string{}, Cameras: map[domain.ID]string{}}
	members, err := s.st.Members(ctx, f.HomeID)
	if err != nil {
		return AuditLog{}, internal("list members", err)
	}
	for _, m := range members {
		out.Accounts[m.AccountID] = m.Email
	}
	cams, err := s.st.Cameras(ctx, f.HomeID)
	if err != nil {
		return AuditLog{}, internal("list cameras", err)
	}
	for _, cam := range cams {
		out.Cameras[cam.ID] = cam.Name
	}
	return out, nil
}

// AccountEvents lists the security events of the caller's own account,
// newest first: sign-ins (also failed and throttled ones), second
// factors and passkeys added or removed, password changes, sessions and
// tokens. Events inside homes are in those homes' logs.
func (s *Service) AccountEvents(ctx context.Context, c Caller, limit int) ([]domain.AuditEvent, error) {
	if err := s.self(c); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	list, err := s.st.Audit(ctx, domain.AuditFilter{Principal: c.Account.ID, Limit: limit})
	if err != nil {
		return nil, internal("list account events", err)
	}
	return list, nil
}
