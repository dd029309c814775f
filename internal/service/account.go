package service

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/store"
)

// APITokenTTL is how long a personal API token lives.
const APITokenTTL = 365 * 24 * time.Hour

// self checks that the caller may act on its own account.
func (s *Service) self(c Caller) error {
	if c.Link != "" {
		// An integration acts on linked cameras only, never on the
		// account that linked it.
		return forbidden()
	}
	d := authz.Decide(c.principal(), domain.ActionAccountSelf, authz.Resource{}, authz.Facts{Now: s.now()})
	if !d.Allowed {
		return unauthenticated("sign in first")
	}
	return nil
}

// Me returns the caller's account.
func (s *Service) Me(ctx context.Context, c Caller) (domain.Account, error) {
	if err := s.self(c); err != nil {
		return domain.Account{}, err
	}
	return c.Account, nil
}

// recheckPassword verifies the caller's current password before a
// sensitive change, throttled like a login.
func (s *Service) recheckPassword(ctx context.Context, c Caller, password string) error {
	keys, a, err := s.recheckStart(ctx, c)
	if err != nil {
		return err
	}
	if ok, err := authn.VerifyPassword(a.PasswordHash, password); err != nil || !ok {
		s.recheckFailed(ctx, c, keys)
		s.audit(ctx, c, domain.AuditEvent{Action: "password.recheck", Result: domain.ResultFailed})
		return &Error{Kind: KindInvalid, Code: "wrong_password", Message: "your current password is wrong"}
	}
	return nil
}

// recheckStart begins a password or code recheck: it answers
// KindThrottled while the caller must wait, else returns the throttle keys
// and the caller's account as stored.
func (s *Service) recheckStart(ctx context.Context, c Caller) ([]authn.Key, domain.Account, error) {
	keys := s.recheckKeys(c)
	if wait := s.throttle.Wait(ctx, keys...); wait > 0 {
		return nil, domain.Account{}, &Error{Kind: KindThrottled, Code: "throttled", Message: "too many attempts; try again later", RetryAfter: wait}
	}
	a, err := s.st.Account(ctx, c.Account.ID)
	if err != nil {
		return nil, domain.Account{}, internal("load account", err)
	}
	return keys, a, nil
}

// recheckKeys are the throttle keys a signed-in caller's password or code
// recheck waits on: those of a login from its address (but not the
// account-wide one, which strangers can trip: a session is a known
// device) and the session's own, so that a stolen session cannot guess
// from many addresses. Failures count against the account too.
func (s *Service) recheckKeys(c Caller) []authn.Key {
	keys := authn.LoginKeys(c.Account.Email, c.Addr)
	return []authn.Key{keys[0], keys[1], {Name: "session\x00" + string(c.SessionID), Policy: authn.PairPolicy}}
}

// recheckFailed records a failed recheck against keys and the account.
func (s *Service) recheckFailed(ctx context.Context, c Caller, keys []authn.Key) {
	s.throttle.Fail(ctx, append(keys, authn.LoginKeys(c.Account.Email, c.Addr)[2])...)
}

// ChangePassword replaces the caller's password, ends every other session
// and API token of the account, and removes the passkeys that other
// sessions added in the last PasskeySweep: whoever else held a session
// and registered a passkey (the reason to change a password) loses it,
// while passkeys registered long ago, or by the session making the
// change, stay.
func (s *Service) ChangePassword(ctx context.Context, c Caller, current, next string) error {
	if err := s.self(c); err != nil {
		return err
	}
	if err := s.recheckPassword(ctx, c, current); err != nil {
		return err
	}
	if err := checkPassword(next, c.Account.Email); err != nil {
		return err
	}
	a, err := s.st.Account(ctx, c.Account.ID)
	if err != nil {
		return internal("load account", err)
	}
	if a.PasswordHash, err = authn.HashPassword(next, s.cfg.Password); err != nil {
		return internal("hash password", err)
	}
	var n int
	var gone []domain.Credential
	// Other sessions end: so do their streams.
	err = s.withdrawing(ctx, func(ctx context.Context) ([]events.Event, error) {
		if err := s.st.UpdateAccount(ctx, a); err != nil {
			return nil, internal("update account", err)
		}
		var err error
		if n, err = s.st.DeleteOtherSessions(ctx, a.ID, c.SessionID); err != nil {
			return nil, internal("end sessions", err)
		}
		if gone, err = s.st.DeleteCredentialsAddedSince(ctx, a.ID, c.SessionID, s.now().Add(-PasskeySweep)); err != nil {
			return nil, internal("remove passkeys", err)
		}
		return []events.Event{accessRevoked(a.ID)}, nil
	})
	if err != nil {
		return err
	}
	s.audit(ctx, c, domain.AuditEvent{Action: "password.change", Result: domain.ResultOK,
		Detail: plural(n, "other session ended") + ", " + plural(len(gone), "passkey") + " of other sessions removed"})
	return nil
}

// Sessions lists the caller's sessions and API tokens.
func (s *Service) Sessions(ctx context.Context, c Caller) ([]domain.Session, error) {
	if err := s.self(c); err != nil {
		return nil, err
	}
	list, err := s.st.Sessions(ctx, c.Account.ID)
	if err != nil {
		return nil, internal("list sessions", err)
	}
	return list, nil
}

// RevokeSession ends one of the caller's sessions or API tokens.
func (s *Service) RevokeSession(ctx context.Context, c Caller, id domain.ID) error {
	if err := s.self(c); err != nil {
		return err
	}
	if !domain.ValidID(string(id)) {
		return notFound()
	}
	err := s.withdrawing(ctx, func(ctx context.Context) ([]events.Event, error) {
		if err := s.st.DeleteSession(ctx, c.Account.ID, id); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, notFound()
			}
			return nil, internal("delete session", err)
		}
		return []events.Event{accessRevoked(c.Account.ID)}, nil
	})
	if err != nil {
		return err
	}
	s.audit(ctx, c, domain.AuditEvent{Action: "session.revoke", Result: domain.ResultOK, Detail: string(id)})
	return nil
}

// CreateAPIToken makes a personal API token for programs. The token is
// returned once and stored only as a hash.
func (s *Service) CreateAPIToken(ctx context.Context, c Caller, name string) (string, domain.Session, error) {
	if err := s.self(c); err != nil {
		return "", domain.Session{}, err
	}
	if err := s.reauthenticated(c); err != nil {
		return "", domain.Session{}, err
	}
	name, err := cleanName(name, "token name")
	if err != nil {
		return "", domain.Session{}, err
	}
	tok, hash := authn.NewToken(authn.KindAPIToken)
	now := s.now()
	sess := domain.Session{
		ID: domain.NewID(), TokenHash: hash, AccountID: c.Account.ID, Kind: domain.SessionAPIToken, Name: name,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(APITokenTTL), Client: c.Addr, UserAgent: truncate(c.UserAgent, 200),
	}
	if err := s.st.CreateSession(ctx, sess); err != nil {
		return "", domain.Session{}, internal("create token", err)
	}
	s.audit(ctx, c, domain.AuditEvent{Action: "api_token.create", Result: domain.ResultOK, Detail: string(sess.ID)})
	return tok, sess, nil
}

// BeginTOTP starts enrolling an authenticator app: it stores a new secret
// (not yet in force) and returns it with its otpauth:// URL.
func (s *Service) BeginTOTP(ctx context.Context, c Caller) (secret, url string, err error) {
	if err := s.self(c); err != nil {
		return "", "", err
	}
	if err := s.reauthenticated(c); err != nil {
		return "", "", err
	}
	a, err := s.st.Account(ctx, c.Account.ID)
	if err != nil {
		return "", "", internal("load account", err)
	}
	if a.TOTPEnabled {
		return "", "", conflict("an authenticator app is already set up; turn it off first")
	}
	secret, url, err = authn.NewTOTP("camvault", a.Email)
	if err != nil {
		return "", "", internal("new totp", err)
	}
	a.TOTPSecret = s.box.seal(secret, string(a.ID))
	if err := s.st.UpdateAccount(ctx, a); err != nil {
		return "", "", internal("update account", err)
	}
	return secret, url, nil
}

// ConfirmTOTP turns the pending authenticator on once the caller proves it
// with a code, and returns fresh recovery codes (shown once).
func (s *Service) ConfirmTOTP(ctx context.Context, c Caller, code string) ([]string, error) {
	if err := s.self(c); err != nil {
		return nil, err
	}
	if err := s.reauthenticated(c); err != nil {
		return nil, err
	}
	a, err := s.st.Account(ctx, c.Account.ID)
	if err != nil {
		return nil, internal("load account", err)
	}
	if a.TOTPEnabled || a.TOTPSecret == "" {
		return nil, conflict("start setting up an authenticator app first")
	}
	if !s.validTOTP(ctx, a, code) {
		return nil, &Error{Kind: KindInvalid, Code: "wrong_code", Message: "that code is not right; check the time on your device"}
	}
	codes, hashes := authn.NewRecoveryCodes(10)
	if err := s.st.SetRecoveryCodes(ctx, a.ID, hashes); err != nil {
		return nil, internal("set recovery codes", err)
	}
	a.TOTPEnabled = true
	if err := s.st.UpdateAccount(ctx, a); err != nil {
		return nil, internal("update account", err)
	}
	s.audit(ctx, c, domain.AuditEvent{Action: "mfa.totp_enable", Result: domain.ResultOK})
	return codes, nil
}

// DisableTOTP turns the authenticator off after rechecking the password,
// or, when password is empty, if the session re-authenticated recently.
func (s *Service) DisableTOTP(ctx context.Context, c Caller, password string) error {
	if err := s.self(c); err != nil {
		return err
	}
	if password == "" {
		if err := s.reauthenticated(c); err != nil {
			return err
		}
	} else if err := s.recheckPassword(ctx, c, password); err != nil {
		return err
	}
	a, err := s.st.Account(ctx, c.Account.ID)
	if err != nil {
		return internal("load account", err)
	}
	a.TOTPEnabled, a.TOTPSecret = false, ""
	if err := s.st.UpdateAccount(ctx, a); err != nil {
		return internal("update account", err)
	}
	if err := s.st.SetRecoveryCodes(ctx, a.ID, nil); err != nil {
		return internal("clear recovery codes", err)
	}
	s.audit(ctx, c, domain.AuditEvent{Action: "mfa.totp_disable", Result: domain.ResultOK})
	return nil
}

// RecoveryCodesLeft returns how many unused recovery codes the caller has.
func (s *Service) RecoveryCodesLeft(ctx context.Context, c Caller) (int, error) {
	if err := s.self(c); err != nil {
		return 0, err
	}
	n, err := s.st.CountRecoveryCodes(ctx, c.Account.ID)
	if err != nil {
		return 0, internal("count recovery codes", err)
	}
	return n, nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// validTOTP checks a code against the account's sealed TOTP seed and uses
// up its time step: a code, and any code of an earlier step, is refused
// once one was accepted, also under racing requests.
func (s *Service) validTOTP(ctx context.Context, a domain.Account, code string) bool {
	secret, err := s.box.open(a.TOTPSecret, string(a.ID))
	if err != nil {
		s.log.Error("totp seed does not open", "account", a.ID)
		return false
	}
	step, ok := authn.MatchTOTP(secret, code, s.now())
	if !ok {
		return false
	}
	if err := s.st.UseTOTPStep(ctx, a.ID, step); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			s.log.Error("record totp step failed", "account", a.ID, "err", err)
		}
		return false
	}
	return true
}
