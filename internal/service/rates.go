package service

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rates is a bounded set of rate limiters, one per key (a client address,
// an account, a home). When it holds more than max keys, those unused for
// idle are dropped, and if that is not enough, all are: a flood of keys
// cannot exhaust memory, at the price of forgetting. The zero value with
// max and idle set is ready to use.
type rates struct {
	max  int
	idle time.Duration
	make func(key string) *rate.Limiter

	mu sync.Mutex // guards m
	m  map[string]*limiter
}

type limiter struct {
	l    *rate.Limiter
	seen time.Time
}

// newRates returns a set whose keys get limiters from mk.
func newRates(max int, idle time.Duration, mk func(key string) *rate.Limiter) *rates {
	return &rates{max: max, idle: idle, make: mk}
}

// allow spends one event of every key at now and reports true, or spends
// nothing and reports false when any key has none left.
func (r *rates) allow(now time.Time, keys ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]*limiter{}
	}
	if len(r.m) > r.max {
		for k, l := range r.m {
			if now.Sub(l.seen) > r.idle {
				delete(r.m, k)
			}
		}
		if len(r.m) > r.max {
			clear(r.m)
		}
	}
	ls := make([]*rate.Limiter, len(keys))
	for i, k := range keys {
		l, ok := r.m[k]
		if !ok {
			l = &limiter{l: r.make(k)}
			r.m[k] = l
		}
		l.seen = now
		ls[i] = l.l
	}
	for _, l := range ls {
		if l.TokensAt(now) < 1 {
			return false
		}
	}
	for _, l := range ls {
		l.AllowN(now, 1)
	}
	return true
}
