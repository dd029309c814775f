package service

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

// KnownDeviceTTL is how long a browser stays known after a sign-in.
const KnownDeviceTTL = 365 * 24 * time.Hour

// knownDevicePrefix marks a known-device token.
const knownDevicePrefix = "cvd_"

// newKnownDeviceKey derives the key that signs known-device tokens from
// the install's secret key.
func newKnownDeviceKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("camvault known-device token v1"))
	return m.Sum(nil)
}

// KnownDeviceToken returns a token that marks the caller's browser as one
// the account signed in from (adapters keep it in a long-lived cookie).
// With it, a correct password is not held up by the account-wide login
// throttle, which someone guessing from many addresses can trip: the
// throttle per address and per address and account still applies. The
// token is signed, bound to the account and to its password (a password
// change forgets every known device), and expires; it is no credential by
// itself.
func (s *Service) KnownDeviceToken(account domain.Account) string {
	payload := make([]byte, 8+16)
	binary.BigEndian.PutUint64(payload, uint64(s.now().Add(KnownDeviceTTL).Unix()))
	rand.Read(payload[8:])
	return knownDevicePrefix + base64.RawURLEncoding.EncodeToString(payload) + "." +
		base64.RawURLEncoding.EncodeToString(s.knownDeviceMAC(account, payload))
}

func (s *Service) knownDeviceMAC(account domain.Account, payload []byte) []byte {
	m := hmac.New(sha256.New, s.deviceKey)
	m.Write([]byte(account.ID))
	m.Write([]byte{0})
	pw := sha256.Sum256([]byte(account.PasswordHash))
	m.Write(pw[:])
	m.Write(payload)
	return m.Sum(nil)
}

// knownDevice reports whether tok is an unexpired known-device token of
// account, issued since its password last changed.
func (s *Service) knownDevice(tok string, account domain.Account) bool {
	rest, ok := strings.CutPrefix(tok, knownDevicePrefix)
	if !ok || len(rest) > 200 {
		return false
	}
	p, m, ok := strings.Cut(rest, ".")
	if !ok {
		return false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(m)
	if err1 != nil || err2 != nil || len(payload) != 24 {
		return false
	}
	if !hmac.Equal(mac, s.knownDeviceMAC(account, payload)) {
		return false
	}
	return s.now().Unix() < int64(binary.BigEndian.Uint64(payload))
}
