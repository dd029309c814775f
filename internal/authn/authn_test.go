package authn

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

var cheap = Params{Memory: 1024, Time: 1, Threads: 1}

func TestHashAndVerify(t *testing.T) {
	h, err := HashPassword("correct horse battery staple", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q is not PHC argon2id with its parameters", h)
	}
	if ok, err := VerifyPassword(h, "correct horse battery staple"); err != nil || !ok {
		t.Fatalf("right password: ok=%v err=%v", ok, err)
	}
	if ok, err := VerifyPassword(h, "correct horse battery stapler"); err != nil || ok {
		t.Fatalf("wrong password: ok=%v err=%v", ok, err)
	}
	h2, _ := HashPassword("correct horse battery staple", cheap)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
}

func TestDefaultParamsMeetOWASP(t *testing.T) {
	p := DefaultParams()
	// OWASP: m=19 MiB, t=2, p=1 at least (or an equivalent trade).
	if p.Memory < 19*1024 || p.Time < 2 || p.Threads < 1 {
		t.Fatalf("default params %+v are below OWASP guidance", p)
	}
}

func TestNeedsRehash(t *testing.T) {
	h, _ := HashPassword("x-password-123", cheap)
	if !NeedsRehash(h, DefaultParams()) {
		t.Fatal("cheap hash does not need rehash under default params")
	}
	if NeedsRehash(h, cheap) {
		t.Fatal("hash needs rehash under its own params")
	}
	if !NeedsRehash("garbage", cheap) {
		t.Fatal("garbage does not need rehash")
	}
}

func TestVerifyRejectsMalformedAndHostileHashes(t *testing.T) {
	for _, enc := range []string{
		"",
		"$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=1024,t=9999,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=1024,t=1,p=0$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$t=1,m=1024,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=1024,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$",
	} {
		if ok, err := VerifyPassword(enc, "pw"); ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("VerifyPassword(%q) = %v, %v; want false, ErrMalformedHash", enc, ok, err)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	for _, tc := range []struct {
		pw     string
		inputs []string
		ok     bool
	}{
		{"short", nil, false},
		{"password123", nil, false},
		{"aaaaaaaaaaaa", nil, false},
		{"qwertyuiop12", nil, false},
		{"ana.lopez2026", []string{"ana.lopez@example.org"}, false},
		{"violet-tractor-pebble-93", nil, true},
		{"correct horse battery staple", nil, true},
	} {
		err := CheckPassword(tc.pw, tc.inputs...)
		var weak *WeakPasswordError
		if tc.ok && err != nil {
			t.Errorf("CheckPassword(%q) = %v, want accepted", tc.pw, err)
		}
		if !tc.ok && !errors.As(err, &weak) {
			t.Errorf("CheckPassword(%q) = %v, want *WeakPasswordError", tc.pw, err)
		}
		if weak != nil && weak.Reason == "" {
			t.Errorf("CheckPassword(%q): no reason", tc.pw)
		}
	}
}

func TestTokens(t *testing.T) {
	tok, hash := NewToken(KindSession)
	if !strings.HasPrefix(tok, "cvs_") || len(tok) != 4+43 {
		t.Fatalf("token %q", tok)
	}
	got, err := ParseToken(KindSession, tok)
	if err != nil || string(got) != string(hash) {
		t.Fatalf("ParseToken = %x, %v; want %x", got, err, hash)
	}
	if _, err := ParseToken(KindAPIToken, tok); err == nil {
		t.Fatal("a session token parsed as an API token")
	}
	for _, bad := range []string{"", "cvs_", "cvs_" + strings.Repeat("A", 42), tok + "A", "cvs_" + strings.Repeat("+", 43), " " + tok} {
		if _, err := ParseToken(KindSession, bad); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("ParseToken(%q) = %v, want ErrMalformedToken", bad, err)
		}
	}
	tok2, _ := NewToken(KindSession)
	if tok == tok2 {
		t.Fatal("two tokens are equal")
	}
}

func TestTOTP(t *testing.T) {
	secret, url, err := NewTOTP("camvault", "ana@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "otpauth://totp/camvault:ana@example.org?") || !strings.Contains(url, "secret="+secret) {
		t.Fatalf("url %q", url)
	}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	code, _ := totp.GenerateCode(secret, now)
	for _, tc := range []struct {
		at time.Time
		ok bool
	}{
		{now, true}, {now.Add(30 * time.Second), true}, {now.Add(-30 * time.Second), true},
		{now.Add(60 * time.Second), false}, {now.Add(-60 * time.Second), false},
		{now.Add(90 * time.Second), false}, {now.Add(-90 * time.Second), false},
	} {
		step, ok := MatchTOTP(secret, code, tc.at)
		if ok != tc.ok {
			t.Errorf("MatchTOTP at %v = %v, want %v", tc.at.Sub(now), ok, tc.ok)
		}
		// The step is the code's, whatever the drift, so that callers
		// can refuse it a second time.
		if ok && step != now.Unix()/30 {
			t.Errorf("MatchTOTP at %v: step %d, want %d", tc.at.Sub(now), step, now.Unix()/30)
		}
	}
	if _, ok := MatchTOTP(secret, "", now); ok {
		t.Error("empty code accepted")
	}
	if _, ok := MatchTOTP(secret, "12345", now); ok {
		t.Error("short code accepted")
	}
	if _, ok := MatchTOTP(secret, "abcdef", now); ok {
		t.Error("malformed code accepted")
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, hashes := NewRecoveryCodes(10)
	if len(codes) != 10 || len(hashes) != 10 {
		t.Fatalf("%d codes, %d hashes", len(codes), len(hashes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if len(c) != 11 || c[5] != '-' || seen[c] {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
		typed := strings.ToLower(strings.ReplaceAll(c, "-", " "))
		if string(HashRecoveryCode(typed)) != string(hashes[i]) {
			t.Fatalf("code %q typed as %q hashes differently", c, typed)
		}
	}
}

func TestThrottle(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := NewThrottle(func() time.Time { return now })
	ctx := context.Background()
	keys := LoginKeys("ana@example.org", "192.0.2.1")
	for i := range PairPolicy.Free {
		if w := th.Wait(ctx, keys...); w != 0 {
			t.Fatalf("attempt %d waits %v", i+1, w)
		}
		th.Fail(ctx, keys...)
	}
	if w := th.Wait(ctx, keys...); w != 0 {
		t.Fatalf("after the free failures: wait %v", w)
	}
	var last time.Duration
	for i := range 8 {
		th.Fail(ctx, keys...)
		w := th.Wait(ctx, keys...)
		if w <= last && w < PairPolicy.Max {
			t.Fatalf("failure %d: wait %v did not grow from %v", i, w, last)
		}
		last = w
	}
	if last > PairPolicy.Max {
		t.Fatalf("wait %v above max", last)
	}
	// Another address for the same account is not slowed by the pair.
	if w := th.Wait(ctx, LoginKeys("ana@example.org", "198.51.100.7")...); w != 0 {
		t.Fatalf("other address waits %v", w)
	}
	now = now.Add(last)
	if w := th.Wait(ctx, keys...); w != 0 {
		t.Fatalf("after waiting: %v", w)
	}
	th.Reset(ctx, keys...)
	th.Fail(ctx, keys...)
	if w := th.Wait(ctx, keys...); w != 0 {
		t.Fatalf("after reset one failure waits %v", w)
	}
}

func TestThrottleBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := NewThrottle(func() time.Time { return now })
	ctx := context.Background()
	for i := range maxEntries + 10 {
		th.Fail(ctx, Key{Name: strconv.Itoa(i), Policy: PairPolicy})
	}
	if n := len(th.counts.(*memCounts).entries); n > maxEntries {
		t.Fatalf("%d entries, max %d", n, maxEntries)
	}
}

func FuzzParseToken(f *testing.F) {
	tok, _ := NewToken(KindInvite)
	f.Add(tok)
	f.Add("cvi_")
	f.Add("cvs_" + strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseToken(KindInvite, s)
		if err == nil && (len(h) != 32 || !strings.HasPrefix(s, "cvi_")) {
			t.Fatalf("accepted %q", s)
		}
	})
}

func FuzzVerifyPassword(f *testing.F) {
	h, _ := HashPassword("pw-for-fuzz-1234", Params{Memory: 64, Time: 1, Threads: 1})
	f.Add(h, "pw-for-fuzz-1234")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5", "x")
	f.Fuzz(func(t *testing.T, enc, pw string) {
		// Keep the fuzzer to cheap parameters: it is the parser under test.
		if p, err := parseHash(enc); err == nil && (p.params.Memory > 4096 || p.params.Time > 2) {
			return
		}
		VerifyPassword(enc, pw)
	})
}

// BenchmarkVerifyPassword measures one login's hashing cost with the
// default parameters; DummyVerify costs the same for unknown accounts.
func BenchmarkVerifyPassword(b *testing.B) {
	h, err := HashPassword("correct horse battery staple", DefaultParams())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		VerifyPassword(h, "correct horse battery staple")
	}
}

func BenchmarkDummyVerify(b *testing.B) {
	for b.Loop() {
		DummyVerify("correct horse battery staple", DefaultParams())
	}
}

// brokenCounts fails every write, as storage that is down does.
type brokenCounts struct{ memCounts }

func (*brokenCounts) Failed(context.Context, string, time.Time, time.Duration) (int, error) {
	return 0, errors.New("storage down")
}

func (*brokenCounts) Until(context.Context, []string) (time.Time, error) { return time.Time{}, nil }

// TestThrottleCountsWhenStorageFails: failures the shared counts cannot
// take are counted in this process, so guesses are still throttled.
func TestThrottleCountsWhenStorageFails(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := NewSharedThrottle(func() time.Time { return now }, &brokenCounts{})
	ctx := context.Background()
	keys := LoginKeys("ana@example.org", "192.0.2.1")
	for range PairPolicy.Free + 1 {
		th.Fail(ctx, keys...)
	}
	if w := th.Wait(ctx, keys...); w <= 0 {
		t.Fatal("failures the storage could not count were forgotten")
	}
}
