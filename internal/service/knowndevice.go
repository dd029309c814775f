package service

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/serverkey"
)

// KnownDeviceTTL is how long a browser stays known after a sign-in.
const KnownDeviceTTL = 365 * 24 * time.Hour

// knownDevicePrefix marks a known-device token.
const knownDevicePrefix = "cvd_"

// newKnownDeviceKeys derives the keys that sign known-device tokens from
// the server keys, by key ID, and returns the current one's ID.
func newKnownDeviceKeys(ring *serverkey.Ring) (map[int][]byte, int) {
	keys := map[int][]byte{}
	for _, id := range ring.IDs() {
		secret, _ := ring.Key(id)
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("camvault known-device token v1"))
		keys[id] = m.Sum(nil)
	}
	current, _ := ring.Current()
	return keys, current
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
	tok := base64.RawURLEncoding.EncodeToString(payload) + "." +
		base64.RawURLEncoding.EncodeToString(s.knownDeviceMAC(s.deviceKeys[s.deviceKeyID], account, payload))
	// A token names the server key it was signed with; key 1's keep the
	// format of before key IDs.
	if s.deviceKeyID != serverkey.Legacy {
		tok = strconv.Itoa(s.deviceKeyID) + "." + tok
	}
	return knownDevicePrefix + tok
}

func (s *Service) knownDeviceMAC(key []byte, account domain.Account, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
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
	id := serverkey.Legacy
	parts := strings.Split(rest, ".")
	if len(parts) == 3 {
		n, err := strconv.Atoi(parts[0])
		if err != nil {
			return false
		}
		id, parts = n, parts[1:]
	}
	if len(parts) != 2 {
		return false
	}
	key, ok := s.deviceKeys[id]
	if !ok {
		return false
	}
	p, m := parts[0], parts[1]
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(m)
	if err1 != nil || err2 != nil || len(payload) != 24 {
		return false
	}
	if !hmac.Equal(mac, s.knownDeviceMAC(key, account, payload)) {
		return false
	}
	return s.now().Unix() < int64(binary.BigEndian.Uint64(payload))
}
