package service

import (
	"bytes"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

// FuzzKnownDevice: a known-device cookie is untrusted input. No input
// panics, and none is ever good for two accounts, nor for the same account
// after its password changed.
func FuzzKnownDevice(f *testing.F) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	s := &Service{deviceKey: bytes.Repeat([]byte{3}, 32), now: func() time.Time { return now }}
	ana := domain.Account{ID: "acct-ana-0001", PasswordHash: "$argon2id$v=19$one"}
	bob := domain.Account{ID: "acct-bob-0002", PasswordHash: "$argon2id$v=19$two"}
	good := s.KnownDeviceToken(ana)
	f.Add(good)
	f.Add(good + "x")
	f.Add("cvd_")
	f.Add("cvd_.")
	f.Add("cvd_AAAA.AAAA")
	if !s.knownDevice(good, ana) {
		f.Fatal("a fresh token is not known")
	}
	f.Fuzz(func(t *testing.T, tok string) {
		forAna := s.knownDevice(tok, ana)
		if forAna && s.knownDevice(tok, bob) {
			t.Fatalf("%q is good for two accounts", tok)
		}
		changed := ana
		changed.PasswordHash = "$argon2id$v=19$new"
		if forAna && s.knownDevice(tok, changed) {
			t.Fatalf("%q outlived a password change", tok)
		}
	})
}
