package authn

import (
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

type entry struct {
	fails int
	last  time.Time
	until time.Time
}

// Throttle counts failures per key in memory and answers how long a caller
// must wait. It is safe for concurrent use and bounded in size.
type Throttle struct {
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
}

// maxEntries bounds the throttle's memory; beyond it, expired entries are
// dropped, and if none are, the oldest half is.
const maxEntries = 100_000

// NewThrottle returns an empty throttle reading time from now (time.Now if
// nil).
func NewThrottle(now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{now: now, entries: make(map[string]*entry)}
}

// Wait returns how long the caller must wait before another attempt
// against keys; zero means go ahead.
func (t *Throttle) Wait(keys ...Key) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		if e, ok := t.entries[k.Name]; ok {
			if d := e.until.Sub(now); d > wait {
				wait = d
			}
		}
	}
	return wait
}

// Fail records a failed attempt against each key.
func (t *Throttle) Fail(keys ...Key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.entries) >= maxEntries {
		t.prune(now)
	}
	for _, k := range keys {
		e, ok := t.entries[k.Name]
		if !ok || now.Sub(e.last) > 2*k.Policy.Max+time.Hour {
			// Failures long ago are forgotten.
			e = &entry{}
			t.entries[k.Name] = e
		}
		e.fails++
		e.last = now
		if over := e.fails - k.Policy.Free; over > 0 {
			d := k.Policy.Base
			for i := 1; i < over && d < k.Policy.Max; i++ {
				d *= 2
			}
			e.until = now.Add(min(d, k.Policy.Max))
		}
	}
}

// Reset forgets the failures of keys, after a success.
func (t *Throttle) Reset(keys ...Key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		delete(t.entries, k.Name)
	}
}

func (t *Throttle) prune(now time.Time) {
	for name, e := range t.entries {
		if now.Sub(e.last) > time.Hour && !e.until.After(now) {
			delete(t.entries, name)
		}
	}
	if len(t.entries) < maxEntries {
		return
	}
	// Under a flood of distinct keys, keep those with the most failures.
	for name, e := range t.entries {
		if len(t.entries) < maxEntries/2 {
			break
		}
		if !e.until.After(now) {
			delete(t.entries, name)
		}
	}
	for name := range t.entries {
		if len(t.entries) < maxEntries/2 {
			break
		}
		delete(t.entries, name)
	}
}
