package service

import (
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

// pullLimits are the per-account and per-home limiters of pulled-camera
// additions.
func pullLimits() *rates {
	return newRates(maxPullLimiters, PullAddBurst*PullAddEvery, func(string) *rate.Limiter {
		return rate.NewLimiter(rate.Every(PullAddEvery), PullAddBurst)
	})
}

// pullAttempt spends one attempt of account and one of home, or refuses
// (spending nothing) when either has none left.
func (s *Service) pullAttempt(account, home domain.ID) error {
	if !s.pull.allow(s.now(), "account:"+string(account), "home:"+string(home)) {
		return &Error{Kind: KindThrottled, Code: "throttled", RetryAfter: PullAddEvery,
			Message: "too many pulled cameras added; try again in a minute"}
	}
	return nil
}
