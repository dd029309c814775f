package service

import (
	"context"
	"errors"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// ReauthWindow is how long after re-authenticating a session may change
// the account's credentials: add or remove passkeys, turn TOTP on or off,
// create API tokens.
const ReauthWindow = 5 * time.Minute

// PasskeySweep is how far back a password change looks for passkeys that
// other sessions added, to remove them.
const PasskeySweep = 7 * 24 * time.Hour

// errReauthRequired answers a credential change from a session that has
// not re-authenticated within ReauthWindow.
var errReauthRequired = &Error{Kind: KindForbidden, Code: "reauth_required",
	Message: "confirm it is you first: enter your password or a code from your authenticator app"}

// ReauthRequest proves the caller's identity again: exactly one of the
// current password and a TOTP code.
type ReauthRequest struct {
	Password, TOTPCode string
}

// Reauthenticate checks the caller's password or TOTP code and marks its
// session as re-authenticated now, in the store, so that every node sees
// it. It returns the caller as it now is. Failures are throttled like a
// login.
func (s *Service) Reauthenticate(ctx context.Context, c Caller, req ReauthRequest) (Caller, error) {
	if err := s.self(c); err != nil {
		return c, err
	}
	if c.SessionID == "" {
		return c, errReauthRequired
	}
	method := "password"
	switch {
	case req.Password != "" && req.TOTPCode != "":
		return c, invalid("enter your password or a code, not both")
	case req.Password != "":
		if err := s.recheckPassword(ctx, c, req.Password); err != nil {
			return c, err
		}
	case req.TOTPCode != "":
		method = "totp"
		if err := s.recheckTOTP(ctx, c, req.TOTPCode); err != nil {
			return c, err
		}
	default:
		return c, invalid("enter your password or a code from your authenticator app")
	}
	now := s.now()
	if err := s.st.MarkReauth(ctx, c.Account.ID, c.SessionID, now); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return c, unauthenticated("sign in first")
		}
		return c, internal("mark reauth", err)
	}
	s.audit(ctx, c, domain.AuditEvent{Action: "reauth", Result: domain.ResultOK, Detail: method})
	c.ReauthAt = now
	return c, nil
}

// recheckTOTP verifies a TOTP code of the caller's account, throttled like
// a password recheck. The code's time step is used up.
func (s *Service) recheckTOTP(ctx context.Context, c Caller, code string) error {
	keys, a, err := s.recheckStart(ctx, c)
	if err != nil {
		return err
	}
	if !a.TOTPEnabled || !s.validTOTP(ctx, a, code) {
		s.recheckFailed(ctx, c, keys)
		s.audit(ctx, c, domain.AuditEvent{Action: "totp.recheck", Result: domain.ResultFailed})
		return &Error{Kind: KindInvalid, Code: "wrong_code", Message: "that code is not right; check the time on your device"}
	}
	return nil
}

// reauthenticated answers errReauthRequired unless the caller's session
// re-authenticated within ReauthWindow. A session's token alone never
// changes credentials: a stolen one cannot add a passkey or turn on an
// authenticator of the thief's.
func (s *Service) reauthenticated(c Caller) error {
	if c.SessionID == "" || c.ReauthAt.IsZero() || s.now().Sub(c.ReauthAt) > ReauthWindow {
		return errReauthRequired
	}
	return nil
}
