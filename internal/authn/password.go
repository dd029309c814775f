// Package authn holds camvault's credential primitives: argon2id password
// hashing in PHC format, password strength checks, random bearer tokens
// stored only as hashes, TOTP and recovery codes, and the login throttle.
//
// It knows nothing of accounts or the store; package service uses it.
package authn

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	// Memory in KiB.
	Memory uint32
	// Time is the number of passes.
	Time uint32
	// Threads is the parallelism.
	Threads uint8
}

// DefaultParams returns OWASP's recommended argon2id configuration
// (19 MiB, 2 passes, 1 lane).
func DefaultParams() Params { return Params{Memory: 19 * 1024, Time: 2, Threads: 1} }

// Limits on parameters read back from a stored hash, so that a corrupted
// or hostile hash cannot make verification exhaust the machine.
const (
	maxMemory  = 1 << 20 // 1 GiB
	maxTime    = 20
	maxThreads = 16
	saltLen    = 16
	keyLen     = 32
	// MaxPasswordBytes bounds the input to hashing.
	MaxPasswordBytes = 1024
)

// HashPassword hashes pw with argon2id and a random salt and returns the
// PHC string "$argon2id$v=19$m=...,t=...,p=...$salt$key", which carries
// its parameters so they can be raised later.
func HashPassword(pw string, p Params) (string, error) {
	if len(pw) > MaxPasswordBytes {
		return "", fmt.Errorf("authn: password longer than %d bytes", MaxPasswordBytes)
	}
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.Memory > maxMemory || p.Time > maxTime || p.Threads > maxThreads {
		return "", fmt.Errorf("authn: argon2id parameters out of range: %+v", p)
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key := idKey([]byte(pw), salt, p, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// hashSlots bounds concurrent argon2id computations: each takes Memory
// KiB (19 MiB by default), so a burst of logins could otherwise take the
// machine's memory. Callers beyond the bound wait their turn.
var hashSlots = make(chan struct{}, max(2, runtime.NumCPU()))

// released coalesces returning hashing memory to the system.
var released atomic.Bool

// idKey runs argon2id in a slot. Its memory is garbage as soon as it
// returns; a server otherwise idle would keep it resident for a long time,
// so it is handed back to the system shortly after (at most once a
// second).
func idKey(pw, salt []byte, p Params, n uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	key := argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, n)
	if released.CompareAndSwap(false, true) {
		time.AfterFunc(time.Second, func() {
			released.Store(false)
			debug.FreeOSMemory()
		})
	}
	return key
}

type phc struct {
	params Params
	salt   []byte
	key    []byte
}

func parseHash(enc string) (phc, error) {
	var h phc
	parts := strings.Split(enc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, ErrMalformedHash
	}
	var m, t, p uint64
	for i, kv := range strings.Split(parts[3], ",") {
		name, val, ok := strings.Cut(kv, "=")
		want := [...]string{"m", "t", "p"}
		if !ok || i >= len(want) || name != want[i] {
			return h, ErrMalformedHash
		}
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return h, ErrMalformedHash
		}
		switch i {
		case 0:
			m = n
		case 1:
			t = n
		case 2:
			p = n
		}
	}
	if m == 0 || t == 0 || p == 0 || m > maxMemory || t > maxTime || p > maxThreads || m < 8*p {
		return h, ErrMalformedHash
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return h, ErrMalformedHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return h, ErrMalformedHash
	}
	h.params = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}
	h.salt, h.key = salt, key
	return h, nil
}

// VerifyPassword reports whether pw matches the PHC hash enc, in constant
// time. A malformed hash is an error, never a match.
func VerifyPassword(enc, pw string) (bool, error) {
	h, err := parseHash(enc)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordBytes {
		return false, nil
	}
	got := idKey([]byte(pw), h.salt, h.params, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1, nil
}

// NeedsRehash reports whether enc was made with parameters weaker than p
// (or cannot be parsed), so that a successful login should store a new
// hash.
func NeedsRehash(enc string, p Params) bool {
	h, err := parseHash(enc)
	if err != nil {
		return true
	}
	return h.params.Memory < p.Memory || h.params.Time < p.Time || len(h.key) < keyLen
}

var dummy struct {
	sync.Mutex
	hashes map[Params]string
}

// DummyVerify spends the time a verification with parameters p would, for
// logins to unknown accounts, so that response time does not reveal which
// emails have accounts.
func DummyVerify(pw string, p Params) {
	dummy.Lock()
	if dummy.hashes == nil {
		dummy.hashes = make(map[Params]string)
	}
	h, ok := dummy.hashes[p]
	if !ok {
		var err error
		if h, err = HashPassword("camvault dummy password", p); err != nil {
			dummy.Unlock()
			return
		}
		dummy.hashes[p] = h
	}
	dummy.Unlock()
	VerifyPassword(h, pw)
}

// MinPasswordRunes is the shortest password accepted.
const MinPasswordRunes = 10

// MinScore is the lowest zxcvbn score (0–4) accepted.
const MinScore = 3

// WeakPasswordError says why a password was refused.
type WeakPasswordError struct{ Reason string }

func (e *WeakPasswordError) Error() string { return "weak password: " + e.Reason }

// CheckPassword refuses passwords that are too short, too long or
// guessable (zxcvbn score below MinScore, with userInputs such as the
// email and home name counted as known words).
func CheckPassword(pw string, userInputs ...string) error {
	switch n := utf8.RuneCountInString(pw); {
	case !utf8.ValidString(pw):
		return &WeakPasswordError{Reason: "the password is not valid text"}
	case n < MinPasswordRunes:
		return &WeakPasswordError{Reason: fmt.Sprintf("use at least %d characters", MinPasswordRunes)}
	case len(pw) > MaxPasswordBytes:
		return &WeakPasswordError{Reason: fmt.Sprintf("use at most %d bytes", MaxPasswordBytes)}
	}
	var inputs []string
	for _, in := range userInputs {
		if in = strings.TrimSpace(in); in != "" {
			inputs = append(inputs, in)
			// The local part of an email is a likely ingredient too.
			if local, _, ok := strings.Cut(in, "@"); ok && local != "" {
				inputs = append(inputs, local)
			}
		}
	}
	// zxcvbn's cost grows with length; the first 100 runes decide.
	probe := pw
	if utf8.RuneCountInString(probe) > 100 {
		probe = string([]rune(probe)[:100])
	}
	if r := zxcvbn.PasswordStrength(probe, inputs); r.Score < MinScore {
		return &WeakPasswordError{Reason: "the password is too easy to guess; use a longer phrase of unrelated words"}
	}
	return nil
}
