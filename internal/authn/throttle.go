package authn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// Policy says how a throttle key slows down: Free failures cost nothing,
// then each further failure doubles the wait from Base up to Max.
type Policy struct {
	Free      int
	Base, Max time.Duration
}

// Key is one thing login attempts are counted against.
type Key struct {
	Name   string
	Policy Policy
}

// Login throttle policies: an address and account pair slows down first,
// an address guessing many accounts next, and an account guessed from
// many addresses last (so that an attacker cannot lock its owner out for
// long).
var (
	PairPolicy    = Policy{Free: 3, Base: time.Second, Max: 15 * time.Minute}
	AddrPolicy    = Policy{Free: 20, Base: time.Second, Max: 15 * time.Minute}
	AccountPolicy = Policy{Free: 50, Base: time.Second, Max: 5 * time.Minute}
)

// LoginKeys returns the keys a login attempt counts against, in the order
// pair, address, account.
func LoginKeys(account, addr string) []Key {
	return []Key{
		{Name: "pair\x00" + account + "\x00" + addr, Policy: PairPolicy},
		{Name: "addr\x00" + addr, Policy: AddrPolicy},
		{Name: "acct\x00" + account, Policy: AccountPolicy},
	}
}

// Counts is where a throttle keeps its failure counts: in this process
// (NewThrottle), or in storage every node of a cluster shares, so that N
// nodes give an attacker no more tries than one. Keys reach it hashed.
type Counts interface {
	// Failed counts a failure of key at now, after forgetting failures
	// whose last was more than forget ago, and returns the count.
	Failed(ctx context.Context, key string, now time.Time, forget time.Duration) (int, error)
	// Block makes key wait until until, never shortening a longer wait.
	Block(ctx context.Context, key string, until time.Time) error
	// Until returns the latest end of a wait among keys; zero for none.
	Until(ctx context.Context, keys []string) (time.Time, error)
	// Forget drops keys' counts.
	Forget(ctx context.Context, keys []string) error
}

// Throttle counts failures per key and answers how long a caller must
// wait. It is safe for concurrent use.
type Throttle struct {
	now    func() time.Time
	counts Counts
	// local counts in this process what the shared counts could not
	// take (storage unavailable), so that failures are never forgotten.
	local *memCounts
}

// NewThrottle returns a throttle that counts in memory, bounded in size,
// reading time from now (time.Now if nil).
func NewThrottle(now func() time.Time) *Throttle {
	return NewSharedThrottle(now, &memCounts{entries: map[string]*entry{}})
}

// NewSharedThrottle returns a throttle that keeps its counts in counts.
func NewSharedThrottle(now func() time.Time, counts Counts) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{now: now, counts: counts, local: &memCounts{entries: map[string]*entry{}}}
}

// failWait is how long a caller waits when the counts cannot be read:
// refusing is the safe answer.
const failWait = 5 * time.Second

// hashKey keeps names (email addresses, client addresses) out of the
// counts.
func hashKey(k Key) string {
	h := sha256.Sum256([]byte("camvault throttle\x00" + k.Name))
	return hex.EncodeToString(h[:16])
}

// Wait returns how long the caller must wait before another attempt
// against keys; zero means go ahead.
func (t *Throttle) Wait(ctx context.Context, keys ...Key) time.Duration {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = hashKey(k)
	}
	until, err := t.counts.Until(ctx, names)
	if err != nil {
		return failWait
	}
	if local, _ := t.local.Until(ctx, names); local.After(until) {
		until = local
	}
	return max(until.Sub(t.now()), 0)
}

// Fail records a failed attempt against each key.
func (t *Throttle) Fail(ctx context.Context, keys ...Key) {
	now := t.now()
	for _, k := range keys {
		name := hashKey(k)
		counts := t.counts
		fails, err := counts.Failed(ctx, name, now, 2*k.Policy.Max+time.Hour)
		if err != nil {
			counts = t.local
			fails, _ = counts.Failed(ctx, name, now, 2*k.Policy.Max+time.Hour)
		}
		if over := fails - k.Policy.Free; over > 0 {
			d := k.Policy.Base
			for i := 1; i < over && d < k.Policy.Max; i++ {
				d *= 2
			}
			if err := counts.Block(ctx, name, now.Add(min(d, k.Policy.Max))); err != nil {
				t.local.Failed(ctx, name, now, 2*k.Policy.Max+time.Hour)
				t.local.Block(ctx, name, now.Add(min(d, k.Policy.Max)))
			}
		}
	}
}

// Reset forgets the failures of keys, after a success.
func (t *Throttle) Reset(ctx context.Context, keys ...Key) {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = hashKey(k)
	}
	t.counts.Forget(ctx, names)
	t.local.Forget(ctx, names)
}

type entry struct {
	fails int
	last  time.Time
	until time.Time
}

// memCounts keeps counts in memory, bounded in size.
type memCounts struct {
	mu      sync.Mutex // guards entries
	entries map[string]*entry
}

// maxEntries bounds the throttle's memory; beyond it, expired entries are
// dropped, and if none are, the oldest half is.
const maxEntries = 100_000

func (m *memCounts) Failed(_ context.Context, key string, now time.Time, forget time.Duration) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.entries) >= maxEntries {
		m.prune(now)
	}
	e, ok := m.entries[key]
	if !ok || now.Sub(e.last) > forget {
		e = &entry{}
		m.entries[key] = e
	}
	e.fails++
	e.last = now
	return e.fails, nil
}

func (m *memCounts) Block(_ context.Context, key string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[key]; ok && until.After(e.until) {
		e.until = until
	}
	return nil
}

func (m *memCounts) Until(_ context.Context, keys []string) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var until time.Time
	for _, k := range keys {
		if e, ok := m.entries[k]; ok && e.until.After(until) {
			until = e.until
		}
	}
	return until, nil
}

func (m *memCounts) Forget(_ context.Context, keys []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.entries, k)
	}
	return nil
}

func (m *memCounts) prune(now time.Time) {
	for name, e := range m.entries {
		if now.Sub(e.last) > time.Hour && !e.until.After(now) {
			delete(m.entries, name)
		}
	}
	if len(m.entries) < maxEntries {
		return
	}
	// Under a flood of distinct keys, keep those with the most failures.
	for name, e := range m.entries {
		if len(m.entries) < maxEntries/2 {
			break
		}
		if !e.until.After(now) {
			delete(m.entries, name)
		}
	}
	for name := range m.entries {
		if len(m.entries) < maxEntries/2 {
			break
		}
		delete(m.entries, name)
	}
}
