package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// NewTOTP creates a TOTP secret (160 bits, SHA-1, 6 digits, 30 s: what
// every authenticator app supports) and its otpauth:// URL.
func NewTOTP(issuer, account string) (secret, url string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, SecretSize: 20, Rand: rand.Reader})
	if err != nil {
		return "", "", err
	}
	return key.Secret(), key.URL(), nil
}

// TOTPPeriod is the length of a TOTP time step.
const TOTPPeriod = 30 * time.Second

// MatchTOTP reports whether code is valid for secret at now, allowing one
// step of clock drift either way, and returns the time step it belongs
// to. A code must be accepted at most once: callers remember the step
// (store.UseTOTPStep) and refuse it and every earlier step afterwards.
func MatchTOTP(secret, code string, now time.Time) (step int64, ok bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / int64(TOTPPeriod/time.Second)
	// The latest step first, so that a code valid for two steps (a
	// one-in-a-million coincidence) counts as the later one.
	for _, st := range []int64{cur + 1, cur, cur - 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(st*int64(TOTPPeriod/time.Second), 0).UTC(), totp.ValidateOpts{Period: uint(TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return st, true
		}
	}
	return 0, false
}

// recoveryAlphabet has no easily confused characters (no 0/O, 1/I/L).
const recoveryAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// NewRecoveryCodes returns n single-use recovery codes "XXXXX-XXXXX"
// (about 49 bits each) and their hashes.
func NewRecoveryCodes(n int) (codes []string, hashes [][]byte) {
	for range n {
		var b strings.Builder
		for i := range 10 {
			if i == 5 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[randIndex(len(recoveryAlphabet))])
		}
		c := b.String()
		codes = append(codes, c)
		hashes = append(hashes, HashRecoveryCode(c))
	}
	return codes, hashes
}

// HashRecoveryCode normalises a code as typed (case, spaces, dashes) and
// hashes it.
func HashRecoveryCode(code string) []byte {
	var b strings.Builder
	for _, r := range strings.ToUpper(code) {
		if r != '-' && r != ' ' {
			b.WriteRune(r)
		}
	}
	sum := sha256.Sum256([]byte("camvault recovery code\x00" + b.String()))
	return sum[:]
}

// randIndex returns a uniform random index in [0, n) for n ≤ 256.
func randIndex(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}
