package service

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/camvault/camvault/internal/domain"
)

// Adding a pulled camera makes the server connect to an address the user
// chose. So that nobody scans a network through the server, each account
// and each home may add PullAddBurst pulled cameras at once, then one per
// PullAddEvery; attempts refused for their URL count too.
const (
	PullAddBurst = 20
	PullAddEvery = time.Minute
	// maxPullLimiters bounds the limiters kept; idle ones are dropped.
	maxPullLimiters = 10_000
)

// pullLimits holds the per-account and per-home limiters of pulled-camera
// additions.
type pullLimits struct {
	mu       sync.Mutex // guards limiters
	limiters map[string]*limiter
}

// pullAttempt spends one attempt of account and one of home, or refuses
// (spending nothing) when either has none left.
func (s *Service) pullAttempt(account, home domain.ID) error {
	s.pull.mu.Lock()
	defer s.pull.mu.Unlock()
	now := s.now()
	if s.pull.limiters == nil {
		s.pull.limiters = map[string]*limiter{}
	}
	if len(s.pull.limiters) > maxPullLimiters {
		for k, l := range s.pull.limiters {
			if now.Sub(l.seen) > PullAddBurst*PullAddEvery {
				delete(s.pull.limiters, k)
			}
		}
	}
	keys := []string{"account:" + string(account), "home:" + string(home)}
	var wait time.Duration
	for _, k := range keys {
		l, ok := s.pull.limiters[k]
		if !ok {
			l = &limiter{l: rate.NewLimiter(rate.Every(PullAddEvery), PullAddBurst)}
			s.pull.limiters[k] = l
		}
		l.seen = now
		if l.l.TokensAt(now) < 1 {
			wait = max(wait, PullAddEvery)
		}
	}
	if wait > 0 {
		return &Error{Kind: KindThrottled, Code: "throttled", RetryAfter: wait,
			Message: "too many pulled cameras added; try again in a minute"}
	}
	for _, k := range keys {
		s.pull.limiters[k].l.AllowN(now, 1)
	}
	return nil
}
