package service

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/store"
)

// SetupTTL is how long a setup link works.
const SetupTTL = time.Hour

// PrepareSetup returns a fresh one-time setup URL when the store has no
// account, replacing any earlier one of this node, also one it printed
// before it restarted; ok is false once an account exists. The token is
// kept in the store (kind onceSetup, owned by the node), so the URL works
// at any node of a cluster; the links of several nodes each work until
// one of them creates the first account.
func (s *Service) PrepareSetup(ctx context.Context) (url string, ok bool, err error) {
	n, err := s.st.CountAccounts(ctx)
	if err != nil {
		return "", false, internal("count accounts", err)
	}
	if n > 0 {
		return "", false, nil
	}
	tok, hash := authn.NewToken(authn.KindSetup)
	node := domain.ID("node:" + s.cfg.Node)
	if _, err := s.st.DropOnce(ctx, onceSetup, node); err != nil {
		return "", false, internal("drop setup token", err)
	}
	if err := s.putOnce(ctx, onceSetup, hash, node, nil, s.now().Add(SetupTTL)); err != nil {
		return "", false, internal("store setup token", err)
	}
	return s.cfg.BaseURL + "/setup#" + tok, true, nil
}

// NeedsSetup reports whether no account exists yet.
func (s *Service) NeedsSetup(ctx context.Context) (bool, error) {
	n, err := s.st.CountAccounts(ctx)
	if err != nil {
		return false, internal("count accounts", err)
	}
	return n == 0, nil
}

// SetupRequest creates the first account and home.
type SetupRequest struct {
	Token, Email, Password, HomeName string
}

// Setup consumes the setup token and creates the first account (an
// instance admin) and its first home.
func (s *Service) Setup(ctx context.Context, c Caller, req SetupRequest) (domain.Account, domain.Home, error) {
	bad := &Error{Kind: KindNotFound, Code: "setup_unavailable", Message: "this setup link is invalid, used or expired; restart the server for a new one if no account exists"}
	hash, err := authn.ParseToken(authn.KindSetup, req.Token)
	if err != nil {
		s.audit(ctx, c, domain.AuditEvent{Action: "setup", Result: domain.ResultFailed, Detail: "malformed token"})
		return domain.Account{}, domain.Home{}, bad
	}
	email, err := s.checkNewAccount(req.Email, req.Password)
	if err != nil {
		return domain.Account{}, domain.Home{}, err
	}
	name, err := cleanName(req.HomeName, "home name")
	if err != nil {
		return domain.Account{}, domain.Home{}, err
	}
	// Take the token before the slow hash so two racing requests cannot
	// both pass; put it back if the store refuses.
	saved, valid, err := s.takeOnce(ctx, onceSetup, hash, nil)
	if err != nil {
		return domain.Account{}, domain.Home{}, internal("take setup token", err)
	}
	if !valid {
		s.audit(ctx, c, domain.AuditEvent{Action: "setup", Result: domain.ResultFailed, Detail: "invalid token"})
		return domain.Account{}, domain.Home{}, bad
	}
	a, err := s.newAccount(email, req.Password)
	if err != nil {
		return domain.Account{}, domain.Home{}, err
	}
	a.InstanceAdmin = true
	h := domain.Home{ID: domain.NewID(), Name: name, CreatedAt: s.now()}
	if err := s.st.CreateFirstAccount(ctx, a, h); err != nil {
		if errors.Is(err, store.ErrNotEmpty) {
			return domain.Account{}, domain.Home{}, bad
		}
		if perr := s.st.PutOnce(ctx, saved); perr != nil {
			s.log.Warn("could not put the setup token back", "err", perr)
		}
		return domain.Account{}, domain.Home{}, internal("create first account", err)
	}
	c.Account = a
	s.audit(ctx, c, domain.AuditEvent{HomeID: h.ID, Action: "setup", Result: domain.ResultOK})
	return a, h, nil
}

// checkNewAccount validates an email and password for a new account.
func (s *Service) checkNewAccount(email, password string) (string, error) {
	email = domain.NormalizeEmail(email)
	if !domain.ValidEmail(email) {
		return "", invalid("enter a valid email address")
	}
	return email, checkPassword(password, email)
}

// checkPassword refuses short and guessable passwords with a reason.
func checkPassword(password string, userInputs ...string) error {
	if err := authn.CheckPassword(password, userInputs...); err != nil {
		var weak *authn.WeakPasswordError
		if errors.As(err, &weak) {
			return &Error{Kind: KindInvalid, Code: "weak_password", Message: weak.Reason}
		}
		return invalid("choose another password")
	}
	return nil
}

// newAccount builds an account with a hashed password.
func (s *Service) newAccount(email, password string) (domain.Account, error) {
	hash, err := authn.HashPassword(password, s.cfg.Password)
	if err != nil {
		return domain.Account{}, internal("hash password", err)
	}
	return domain.Account{ID: domain.NewID(), Email: email, PasswordHash: hash, CreatedAt: s.now()}, nil
}

// CreateAccount adds an account directly. It is for instance
// administration from the command line, which has the data dir and so the
// store already; it is not reachable over HTTP.
func (s *Service) CreateAccount(ctx context.Context, email, password string, instanceAdmin bool) (domain.Account, error) {
	email, err := s.checkNewAccount(email, password)
	if err != nil {
		return domain.Account{}, err
	}
	a, err := s.newAccount(email, password)
	if err != nil {
		return domain.Account{}, err
	}
	a.InstanceAdmin = instanceAdmin
	if err := s.st.CreateAccount(ctx, a); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return domain.Account{}, conflict("an account with that email exists")
		}
		return domain.Account{}, internal("create account", err)
	}
	s.audit(ctx, Caller{Account: a, Addr: "local"}, domain.AuditEvent{Action: "account.create", Result: domain.ResultOK, Detail: "by instance admin command"})
	return a, nil
}

// Signup creates an account when open sign-up is configured.
func (s *Service) Signup(ctx context.Context, c Caller, email, password string) (domain.Account, error) {
	if !s.cfg.OpenSignup {
		return domain.Account{}, notFound()
	}
	a, err := s.CreateAccount(ctx, email, password, false)
	if err != nil {
		return domain.Account{}, err
	}
	return a, nil
}

// LoginRequest is a password login.
type LoginRequest struct {
	Email, Password, TOTPCode string
	// KnownDevice is the token from KnownDeviceToken the browser kept
	// from an earlier sign-in, if any.
	KnownDevice string
}

// Login checks a password (and second factor, when enabled) and starts a
// browser session. Wrong emails, wrong passwords, wrong codes and disabled
// accounts all answer the same; repeated failures are throttled per
// address and account pair, per address, and per account. The
// account-wide throttle, which anyone can trip by guessing from many
// addresses, does not hold up a sign-in from a known device of the
// account or one that brings a TOTP code: those must still get the
// password (and code) right, within the per-address limits.
func (s *Service) Login(ctx context.Context, c Caller, req LoginRequest) (token string, a domain.Account, err error) {
	email := domain.NormalizeEmail(req.Email)
	keys := authn.LoginKeys(email, c.Addr)
	throttled := func(wait time.Duration) error {
		s.audit(ctx, c, domain.AuditEvent{Principal: a.ID, Action: "login", Result: domain.ResultDenied, Detail: "throttled"})
		return &Error{Kind: KindThrottled, Code: "throttled", Message: "too many attempts; try again later", RetryAfter: wait}
	}
	if wait := s.throttle.Wait(ctx, keys[0], keys[1]); wait > 0 {
		return "", domain.Account{}, throttled(wait)
	}
	a, err = s.st.AccountByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", domain.Account{}, internal("load account", err)
	}
	known := err == nil && s.knownDevice(req.KnownDevice, a)
	withCode := err == nil && a.TOTPEnabled && strings.TrimSpace(req.TOTPCode) != ""
	if !known && !withCode {
		if wait := s.throttle.Wait(ctx, keys[2]); wait > 0 {
			return "", domain.Account{}, throttled(wait)
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		authn.DummyVerify(req.Password, s.cfg.Password)
		return "", domain.Account{}, s.loginFailed(ctx, c, keys, "", "unknown email")
	}
	ok, err := authn.VerifyPassword(a.PasswordHash, req.Password)
	if err != nil || !ok || a.Disabled {
		return "", domain.Account{}, s.loginFailed(ctx, c, keys, a.ID, "wrong password or disabled")
	}
	if a.TOTPEnabled {
		code := strings.TrimSpace(req.TOTPCode)
		if code == "" {
			return "", domain.Account{}, &Error{Kind: KindMFARequired, Code: "mfa_required", Message: "enter the code from your authenticator app or a recovery code"}
		}
		if !s.checkSecondFactor(ctx, a, code) {
			return "", domain.Account{}, s.loginFailed(ctx, c, keys, a.ID, "wrong second factor")
		}
	}
	// Only the pair's failures are forgiven: the owner signing in must
	// not reset the count of someone guessing from elsewhere.
	s.throttle.Reset(ctx, keys[0])
	s.rehashIfNeeded(ctx, a, req.Password)
	return s.startSession(ctx, c, a, "password")
}

func (s *Service) loginFailed(ctx context.Context, c Caller, keys []authn.Key, account domain.ID, detail string) error {
	s.throttle.Fail(ctx, keys...)
	s.audit(ctx, c, domain.AuditEvent{Principal: account, Action: "login", Result: domain.ResultFailed, Detail: detail})
	return errLoginFailed
}

// checkSecondFactor accepts a current TOTP code or an unused recovery code.
func (s *Service) checkSecondFactor(ctx context.Context, a domain.Account, code string) bool {
	if s.validTOTP(ctx, a, code) {
		return true
	}
	if err := s.st.UseRecoveryCode(ctx, a.ID, authn.HashRecoveryCode(code)); err == nil {
		s.audit(ctx, Caller{Account: a}, domain.AuditEvent{Action: "mfa.recovery_code_used", Result: domain.ResultOK})
		return true
	}
	return false
}

func (s *Service) rehashIfNeeded(ctx context.Context, a domain.Account, password string) {
	if !authn.NeedsRehash(a.PasswordHash, s.cfg.Password) {
		return
	}
	if h, err := authn.HashPassword(password, s.cfg.Password); err == nil {
		a.PasswordHash = h
		if err := s.st.UpdateAccount(ctx, a); err != nil {
			s.log.Warn("password rehash failed", "account", a.ID, "err", err)
		}
	}
}

// startSession creates a browser session for a.
func (s *Service) startSession(ctx context.Context, c Caller, a domain.Account, method string) (string, domain.Account, error) {
	tok, hash := authn.NewToken(authn.KindSession)
	now := s.now()
	sess := domain.Session{
		ID: domain.NewID(), TokenHash: hash, AccountID: a.ID, Kind: domain.SessionBrowser,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.cfg.SessionMax),
		Client: c.Addr, UserAgent: truncate(c.UserAgent, 200),
	}
	if err := s.st.CreateSession(ctx, sess); err != nil {
		return "", domain.Account{}, internal("create session", err)
	}
	c.Account = a
	s.audit(ctx, c, domain.AuditEvent{Action: "login", Result: domain.ResultOK, Detail: method})
	return tok, a, nil
}

// Authenticate resolves a session token or personal API token to its
// caller. Expired, idle, revoked and malformed tokens, and disabled
// accounts, answer KindUnauthenticated.
func (s *Service) Authenticate(ctx context.Context, token, addr, userAgent string) (Caller, error) {
	none := unauthenticated("sign in first")
	kind := authn.KindSession
	if strings.HasPrefix(token, string(authn.KindAPIToken)+"_") {
		kind = authn.KindAPIToken
	}
	hash, err := authn.ParseToken(kind, token)
	if err != nil {
		return Caller{}, none
	}
	sess, err := s.st.SessionByTokenHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return Caller{}, none
	}
	if err != nil {
		return Caller{}, internal("load session", err)
	}
	now := s.now()
	wantKind := domain.SessionBrowser
	if kind == authn.KindAPIToken {
		wantKind = domain.SessionAPIToken
	}
	idle := sess.Kind == domain.SessionBrowser && now.Sub(sess.LastSeen) > s.cfg.SessionIdle
	if sess.Kind != wantKind || !now.Before(sess.ExpiresAt) || idle {
		return Caller{}, none
	}
	a, err := s.st.Account(ctx, sess.AccountID)
	if err != nil || a.Disabled {
		return Caller{}, none
	}
	if now.Sub(sess.LastSeen) > time.Minute {
		if err := s.st.TouchSession(ctx, sess.ID, now); err != nil {
			s.log.Warn("touch session failed", "err", err)
		}
	}
	return Caller{Account: a, SessionID: sess.ID, Addr: addr, UserAgent: userAgent, ReauthAt: sess.ReauthAt}, nil
}

// Logout ends the caller's current session.
func (s *Service) Logout(ctx context.Context, c Caller) error {
	if c.Anonymous() {
		return nil
	}
	err := s.withdrawing(ctx, func(ctx context.Context) ([]events.Event, error) {
		if c.SessionID != "" {
			if err := s.st.DeleteSession(ctx, c.Account.ID, c.SessionID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, internal("delete session", err)
			}
		}
		return []events.Event{accessRevoked(c.Account.ID)}, nil
	})
	if err != nil || c.SessionID == "" {
		return err
	}
	s.audit(ctx, c, domain.AuditEvent{Action: "logout", Result: domain.ResultOK})
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// cleanName trims a display name and checks its length (1–64 runes, no
// control characters). It also refuses the bidirectional overrides and
// isolates (U+202A–U+202E, U+2066–U+2069), with which a name can make the
// text after it read backwards, and names made only of invisible
// characters, which show as nothing at all.
func cleanName(s, what string) (string, error) {
	s = strings.TrimSpace(s)
	n, visible := 0, false
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return "", invalid(what + " must not contain control characters")
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return "", invalid(what + " must not contain text-direction controls")
		}
		if !invisible(r) {
			visible = true
		}
		n++
	}
	if n < 1 || n > 64 {
		return "", invalid(what + " must be 1 to 64 characters")
	}
	if !visible {
		return "", invalid(what + " must contain a visible character")
	}
	return s, nil
}

// invisible reports whether r shows as nothing: white space, format
// characters (zero-width spaces and joiners, marks, the byte-order mark),
// variation selectors and the other default-ignorable code points.
func invisible(r rune) bool {
	return unicode.IsSpace(r) || unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) ||
		r == 0x115f || r == 0x1160 || r == 0x3164 || r == 0xffa0 || r == 0x2800
}
