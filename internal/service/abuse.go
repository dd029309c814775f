package service

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/camvault/camvault/internal/domain"
)

// AuditLimit bounds the audit rows that anonymous callers — no account,
// no home — cause, so that a flood of unauthenticated requests cannot fill
// the audit log. Events over the limit are counted (the
// EventAuditSuppressed event, for metrics) and summed up in one row per
// FlushAuditSummary instead of a row each.
type AuditLimit struct {
	// PerAddr and PerAddrBurst bound rows per client address; zero means
	// one every 5 s after a burst of 30.
	PerAddr      rate.Limit
	PerAddrBurst int
	// Global and GlobalBurst bound rows over all anonymous callers; zero
	// means 20 a second after a burst of 600.
	Global      rate.Limit
	GlobalBurst int
}

// EventAuditSuppressed is the Events name of an anonymous audit event
// that went over the limit and was only counted.
const EventAuditSuppressed = "audit.suppressed"

// Unclaimed devices: how long a camera that no home claimed lives, and how
// many may wait for a claim.
const (
	// UnclaimedLifetime is how long after enrolment a camera that no home
	// ever claimed is purged; its device then enrols afresh.
	UnclaimedLifetime          = 24 * time.Hour
	defaultMaxUnclaimed        = 10_000
	defaultMaxUnclaimedPerAddr = 50
	maxSuppressedAddrs         = 1000
)

// auditLimits is the state of the anonymous audit limit.
type auditLimits struct {
	mu         sync.Mutex // guards the fields below
	global     *rate.Limiter
	perAddr    *rates
	suppressed map[string]int // by action, since the last summary
	addrs      map[string]int // by client address, since the last summary
	total      int
	since      time.Time
}

// anonymousAuditAllowed reports whether an anonymous event from addr may
// have its own audit row; if not, it is counted for the next summary.
func (s *Service) anonymousAuditAllowed(addr, action string) bool {
	cfg := s.cfg.AnonymousAudit
	a := &s.auditLim
	a.mu.Lock()
	defer a.mu.Unlock()
	now := s.now()
	if a.global == nil {
		perSecond, burst := cfg.Global, cfg.GlobalBurst
		if perSecond <= 0 {
			perSecond = 20
		}
		if burst <= 0 {
			burst = 600
		}
		a.global = rate.NewLimiter(perSecond, burst)
		perAddr, addrBurst := cfg.PerAddr, cfg.PerAddrBurst
		if perAddr <= 0 {
			perAddr = rate.Every(5 * time.Second)
		}
		if addrBurst <= 0 {
			addrBurst = 30
		}
		a.perAddr = newRates(maxNonces, time.Hour, func(string) *rate.Limiter { return rate.NewLimiter(perAddr, addrBurst) })
	}
	// The address's own limit first, so that one noisy address does not
	// spend the global allowance.
	if a.perAddr.allow(now, addr) && a.global.AllowN(now, 1) {
		return true
	}
	if a.total == 0 {
		a.since = now
		a.suppressed, a.addrs = map[string]int{}, map[string]int{}
	}
	a.total++
	a.suppressed[action]++
	if _, ok := a.addrs[addr]; ok || len(a.addrs) < maxSuppressedAddrs {
		a.addrs[addr]++
	} else {
		a.addrs["(other addresses)"]++
	}
	return false
}

// FlushAuditSummary writes one audit row that sums up the anonymous events
// that went over the limit since the last summary, if any, and returns
// how many it counted. RunMaintenance calls it.
func (s *Service) FlushAuditSummary(ctx context.Context) int {
	a := &s.auditLim
	a.mu.Lock()
	total, since, byAction, byAddr := a.total, a.since, a.suppressed, a.addrs
	a.total, a.suppressed, a.addrs = 0, nil, nil
	a.mu.Unlock()
	if total == 0 {
		return 0
	}
	detail := fmt.Sprintf("%s over the anonymous audit limit since %s, not written one by one: %s; from %s",
		plural(total, "event"), since.UTC().Format(time.RFC3339), top(byAction, 10), top(byAddr, 5))
	e := domain.AuditEvent{ID: domain.NewID(), Time: s.now(), Action: EventAuditSuppressed, Result: domain.ResultDenied, Detail: detail}
	if err := s.st.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("audit write failed", "action", e.Action, "err", err)
	}
	return total
}

// top lists the n largest counts, largest first, and how many others.
func top(counts map[string]int, n int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var b strings.Builder
	for i, k := range keys {
		if i == n {
			fmt.Fprintf(&b, " and %d more", len(keys)-n)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s ×%d", k, counts[k])
	}
	return b.String()
}

// unclaimedCap refuses the enrolment of a new camera from addr when too
// many cameras wait for a claim: from addr (per day), or in total.
func (s *Service) unclaimedCap(ctx context.Context, addr string) error {
	full := &Error{Kind: KindThrottled, Code: "too_many_unclaimed",
		Message: "too many cameras wait for a claim; claim them, or try again later", RetryAfter: time.Hour}
	max := s.dev.cfg.MaxUnclaimed
	if max <= 0 {
		max = defaultMaxUnclaimed
	}
	n, err := s.st.CountUnclaimedCameras(ctx)
	if err != nil {
		return internal("count unclaimed cameras", err)
	}
	if n >= max {
		s.log.Warn("enrolment refused: too many unclaimed cameras", "unclaimed", n)
		return full
	}
	if !s.dev.enrols.allow(s.now(), addr) {
		return full
	}
	return nil
}

// PurgeUnclaimed deletes the cameras that no home claimed within
// UnclaimedLifetime of their enrolment, and returns how many. A device
// still running enrols again and shows a new code. RunMaintenance calls
// it.
func (s *Service) PurgeUnclaimed(ctx context.Context) (int, error) {
	n, err := s.st.PurgeUnclaimedCameras(ctx, s.now().Add(-UnclaimedLifetime))
	if err != nil {
		return 0, internal("purge unclaimed cameras", err)
	}
	if n > 0 {
		s.log.Info("purged cameras no home claimed within a day of enrolment", "cameras", n)
	}
	return n, nil
}

// RunMaintenance purges unclaimed cameras and writes the anonymous audit
// summary every interval until ctx ends.
func (s *Service) RunMaintenance(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.FlushAuditSummary(ctx)
			return
		case <-t.C:
		}
		if _, err := s.PurgeUnclaimed(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("purge unclaimed cameras", "err", err)
		}
		s.FlushAuditSummary(ctx)
	}
}
