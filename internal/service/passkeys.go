package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"golang.org/x/time/rate"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// WebAuthnConfig configures passkeys.
type WebAuthnConfig struct {
	RPID    string   // the site's host name, e.g. "localhost" or "cams.example.org"
	RPName  string   // shown by authenticators
	Origins []string // full origins allowed, e.g. "https://cams.example.org"
}

// ceremonyTTL bounds how long a passkey ceremony may take.
const ceremonyTTL = 5 * time.Minute

// maxCeremonies bounds pending ceremonies.
const maxCeremonies = 10000

// ceremony is a pending passkey ceremony. It is kept in the store (kind
// oncePasskey) by the hash of its id, so that it may finish at another
// node, once.
type ceremony struct {
	account domain.ID // empty for a passwordless login
	data    webauthn.SessionData
}

type passkeys struct {
	wa       *webauthn.WebAuthn
	limiters *rates // passwordless sign-in rate per address
}

func newPasskeys(cfg WebAuthnConfig) (*passkeys, error) {
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.RPName,
		RPOrigins:     cfg.Origins,
	})
	if err != nil {
		return nil, err
	}
	return &passkeys{wa: wa, limiters: newRates(maxCeremonies, time.Hour, func(string) *rate.Limiter { return rate.NewLimiter(rate.Every(passkeyLoginEvery), passkeyLoginBurst) })}, nil
}

// putCeremony stores a ceremony and returns its id; at maxCeremonies
// pending it answers KindThrottled.
func (s *Service) putCeremony(ctx context.Context, c ceremony) (string, error) {
	now := s.now()
	n, _, err := s.st.CountOnce(ctx, oncePasskey, "", now)
	if err != nil {
		return "", internal("count passkey ceremonies", err)
	}
	if n >= maxCeremonies {
		return "", &Error{Kind: KindThrottled, Code: "throttled", Message: "too many attempts; try again later", RetryAfter: passkeyLoginEvery}
	}
	id := string(domain.NewID())
	if err := s.putOnce(ctx, oncePasskey, secretHash(id), c.account, c.data, now.Add(ceremonyTTL)); err != nil {
		return "", internal("store passkey ceremony", err)
	}
	return id, nil
}

// takeCeremony removes and returns an unexpired ceremony.
func (s *Service) takeCeremony(ctx context.Context, id string) (ceremony, bool, error) {
	var c ceremony
	o, ok, err := s.takeOnce(ctx, oncePasskey, secretHash(id), &c.data)
	c.account = o.Owner
	return c, ok, err
}

// webUser adapts an account and its passkeys to the library.
type webUser struct {
	a     domain.Account
	creds []webauthn.Credential
}

func (u webUser) WebAuthnID() []byte                         { return []byte(u.a.ID) }
func (u webUser) WebAuthnName() string                       { return u.a.Email }
func (u webUser) WebAuthnDisplayName() string                { return u.a.Email }
func (u webUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (s *Service) webUser(ctx context.Context, a domain.Account) (webUser, error) {
	list, err := s.st.Credentials(ctx, a.ID)
	if err != nil {
		return webUser{}, internal("list passkeys", err)
	}
	u := webUser{a: a}
	for _, c := range list {
		var wc webauthn.Credential
		if err := json.Unmarshal(c.Data, &wc); err == nil {
			u.creds = append(u.creds, wc)
		}
	}
	return u, nil
}

var errNoPasskeys = &Error{Kind: KindNotFound, Code: "passkeys_disabled", Message: "passkeys are not configured on this server"}

func badPasskey() error {
	return &Error{Kind: KindInvalid, Code: "passkey_failed", Message: "the passkey could not be verified"}
}

// BeginPasskeyRegistration starts adding a passkey to the caller's account;
// the session must have re-authenticated within ReauthWindow, as for
// finishing it and for removing a passkey.
// It returns the options for navigator.credentials.create and a ceremony id.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, c Caller) (*protocol.CredentialCreation, string, error) {
	if err := s.self(c); err != nil {
		return nil, "", err
	}
	if err := s.reauthenticated(c); err != nil {
		return nil, "", err
	}
	if s.passkeys == nil {
		return nil, "", errNoPasskeys
	}
	u, err := s.webUser(ctx, c.Account)
	if err != nil {
		return nil, "", err
	}
	var exclude []protocol.CredentialDescriptor
	for _, cr := range u.creds {
		exclude = append(exclude, cr.Descriptor())
	}
	opts, data, err := s.passkeys.wa.BeginRegistration(u,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, "", internal("begin passkey registration", err)
	}
	id, err := s.putCeremony(ctx, ceremony{account: c.Account.ID, data: *data})
	if err != nil {
		return nil, "", err
	}
	return opts, id, nil
}

// FinishPasskeyRegistration verifies the authenticator's answer (the JSON
// body from the browser) and stores the passkey.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, c Caller, ceremonyID, name string, body []byte) error {
	if err := s.self(c); err != nil {
		return err
	}
	if err := s.reauthenticated(c); err != nil {
		return err
	}
	if s.passkeys == nil {
		return errNoPasskeys
	}
	name, err := cleanName(name, "passkey name")
	if err != nil {
		return err
	}
	cer, ok, err := s.takeCeremony(ctx, ceremonyID)
	if err != nil {
		return internal("take passkey ceremony", err)
	}
	if !ok || cer.account != c.Account.ID {
		return badPasskey()
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(bytes.NewReader(body))
	if err != nil {
		return badPasskey()
	}
	u, err := s.webUser(ctx, c.Account)
	if err != nil {
		return err
	}
	cred, err := s.passkeys.wa.CreateCredential(u, cer.data, parsed)
	if err != nil {
		return badPasskey()
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return internal("encode passkey", err)
	}
	if err := s.st.AddCredential(ctx, domain.Credential{ID: cred.ID, AccountID: c.Account.ID, Name: name, Data: data, CreatedAt: s.now(), AddedBy: c.SessionID}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return conflict("this passkey is registered already")
		}
		return internal("store passkey", err)
	}
	s.audit(ctx, c, domain.AuditEvent{Action: "mfa.passkey_add", Result: domain.ResultOK})
	return nil
}

// Passkeys lists the caller's passkeys.
func (s *Service) Passkeys(ctx context.Context, c Caller) ([]domain.Credential, error) {
	if err := s.self(c); err != nil {
		return nil, err
	}
	list, err := s.st.Credentials(ctx, c.Account.ID)
	if err != nil {
		return nil, internal("list passkeys", err)
	}
	return list, nil
}

// DeletePasskey removes one of the caller's passkeys.
func (s *Service) DeletePasskey(ctx context.Context, c Caller, id []byte) error {
	if err := s.self(c); err != nil {
		return err
	}
	if err := s.reauthenticated(c); err != nil {
		return err
	}
	if err := s.st.DeleteCredential(ctx, c.Account.ID, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound()
		}
		return internal("delete passkey", err)
	}
	s.audit(ctx, c, domain.AuditEvent{Action: "mfa.passkey_remove", Result: domain.ResultOK})
	return nil
}

// Passwordless sign-in is rate-limited per client address: a burst of
// passkeyLoginBurst ceremony steps, then one every passkeyLoginEvery. Each
// begin keeps a ceremony in the store, and each finish looks up passkeys.
const (
	passkeyLoginBurst = 20
	passkeyLoginEvery = 3 * time.Second
)

// passkeyLoginRate answers KindThrottled when addr exceeds the passkey
// sign-in rate.
func (s *Service) passkeyLoginRate(addr string) error {
	if !s.passkeys.limiters.allow(s.now(), addr) {
		return &Error{Kind: KindThrottled, Code: "throttled", Message: "too many attempts; try again later", RetryAfter: passkeyLoginEvery}
	}
	return nil
}

// BeginPasskeyLogin starts a passwordless login with a discoverable
// passkey.
func (s *Service) BeginPasskeyLogin(ctx context.Context, c Caller) (*protocol.CredentialAssertion, string, error) {
	if s.passkeys == nil {
		return nil, "", errNoPasskeys
	}
	if err := s.passkeyLoginRate(c.Addr); err != nil {
		return nil, "", err
	}
	opts, data, err := s.passkeys.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, "", internal("begin passkey login", err)
	}
	id, err := s.putCeremony(ctx, ceremony{data: *data})
	if err != nil {
		return nil, "", err
	}
	return opts, id, nil
}

// FinishPasskeyLogin verifies a passkey assertion and starts a session.
func (s *Service) FinishPasskeyLogin(ctx context.Context, c Caller, ceremonyID string, body []byte) (string, domain.Account, error) {
	if s.passkeys == nil {
		return "", domain.Account{}, errNoPasskeys
	}
	if err := s.passkeyLoginRate(c.Addr); err != nil {
		return "", domain.Account{}, err
	}
	keys := authn.LoginKeys("passkey", c.Addr)
	if wait := s.throttle.Wait(ctx, keys[1]); wait > 0 {
		return "", domain.Account{}, &Error{Kind: KindThrottled, Code: "throttled", Message: "too many attempts; try again later", RetryAfter: wait}
	}
	cer, ok, err := s.takeCeremony(ctx, ceremonyID)
	if err != nil {
		return "", domain.Account{}, internal("take passkey ceremony", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(bytes.NewReader(body))
	if !ok || err != nil {
		s.throttle.Fail(ctx, keys[1])
		return "", domain.Account{}, errLoginFailed
	}
	var found domain.Account
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		cred, err := s.st.CredentialByID(ctx, rawID)
		if err != nil || string(userHandle) != string(cred.AccountID) {
			return nil, errors.New("unknown passkey")
		}
		a, err := s.st.Account(ctx, cred.AccountID)
		if err != nil || a.Disabled {
			return nil, errors.New("unknown account")
		}
		found = a
		return s.webUser(ctx, a)
	}
	cred, err := s.passkeys.wa.ValidateDiscoverableLogin(handler, cer.data, parsed)
	if err != nil {
		s.throttle.Fail(ctx, keys[1])
		s.audit(ctx, c, domain.AuditEvent{Principal: found.ID, Action: "login", Result: domain.ResultFailed, Detail: "passkey"})
		return "", domain.Account{}, errLoginFailed
	}
	s.updatePasskeyUse(ctx, cred)
	return s.startSession(ctx, c, found, "passkey")
}

func (s *Service) updatePasskeyUse(ctx context.Context, cred *webauthn.Credential) {
	stored, err := s.st.CredentialByID(ctx, cred.ID)
	if err != nil {
		return
	}
	if data, err := json.Marshal(cred); err == nil {
		stored.Data = data
	}
	stored.LastUsed = s.now()
	if err := s.st.UpdateCredential(ctx, stored); err != nil {
		s.log.Warn("update passkey failed", "err", err)
	}
}
