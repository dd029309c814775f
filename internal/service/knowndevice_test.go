package service

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

// FuzzKnownDevice: a known-device cookie is untrusted input. No input
// panics, and none is ever good for two accounts, nor for the same account
// after its password changed.
func FuzzKnownDevice(f *testing.F) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	// Two server keys: tokens of key 1 (the format of before key IDs)
	// and of the current key 2 are both good.
	keys := map[int][]byte{1: bytes.Repeat([]byte{3}, 32), 2: bytes.Repeat([]byte{4}, 32)}
	s := &Service{deviceKeys: keys, deviceKeyID: 1, now: func() time.Time { return now }}
	ana := domain.Account{ID: "acct-ana-0001", PasswordHash: "$argon2id$v=19$one"}
	bob := domain.Account{ID: "acct-bob-0002", PasswordHash: "$argon2id$v=19$two"}
	old := s.KnownDeviceToken(ana)
	s.deviceKeyID = 2
	good := s.KnownDeviceToken(ana)
	f.Add(good)
	f.Add(good + "x")
	f.Add(old)
	f.Add("cvd_")
	f.Add("cvd_.")
	f.Add("cvd_AAAA.AAAA")
	f.Add("cvd_3.AAAA.AAAA")
	if !s.knownDevice(good, ana) || !s.knownDevice(old, ana) {
		f.Fatal("a fresh token is not known")
	}
	if strings.Count(old, ".") != 1 || !strings.HasPrefix(good, "cvd_2.") {
		f.Fatalf("tokens %q and %q do not name their keys", old, good)
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
