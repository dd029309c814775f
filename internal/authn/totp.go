package authn

import (
	"crypto/rand"
	"crypto/sha256"
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

// ValidateTOTP reports whether code is valid for secret at now, allowing
// one 30-second step of clock drift either way.
func ValidateTOTP(secret, code string, now time.Time) bool {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return false
	}
	ok, err := totp.ValidateCustom(code, secret, now, totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	return err == nil && ok
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
