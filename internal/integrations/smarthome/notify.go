package smarthome

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
)

// Notifier tells a platform that a linked account's devices changed, the
// way the public smart-home APIs take request-sync and report-state
// calls. The agent user ID is the link's ID, as SYNC gives it.
type Notifier interface {
	// RequestSync asks the platform to SYNC again: the link's cameras
	// changed (one left the home, was reset, or lost an action).
	RequestSync(ctx context.Context, in domain.Integration, agentUserID string) error
	// ReportState tells the platform cameras' new states.
	ReportState(ctx context.Context, in domain.Integration, agentUserID string, states map[string]DeviceState) error
}

// HTTPNotifier posts notifications as JSON to the integration's notify
// URL: {url}/requestSync with {"agentUserId"}, and {url}/reportState with
// {"requestId","agentUserId","payload":{"devices":{"states":{id:{"online"}}}}}.
type HTTPNotifier struct {
	Client *http.Client
}

// ReportStateRequest is the report-state body.
type ReportStateRequest struct {
	RequestID   string `json:"requestId"`
	AgentUserID string `json:"agentUserId"`
	Payload     struct {
		Devices struct {
			States map[string]DeviceState `json:"states"`
		} `json:"devices"`
	} `json:"payload"`
}

// RequestSyncRequest is the request-sync body.
type RequestSyncRequest struct {
	AgentUserID string `json:"agentUserId"`
}

func (n HTTPNotifier) post(ctx context.Context, url string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	c := n.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the platform answered %d", resp.StatusCode)
	}
	return nil
}

// RequestSync implements Notifier.
func (n HTTPNotifier) RequestSync(ctx context.Context, in domain.Integration, agentUserID string) error {
	return n.post(ctx, strings.TrimRight(in.NotifyURL, "/")+"/requestSync", RequestSyncRequest{AgentUserID: agentUserID})
}

// ReportState implements Notifier.
func (n HTTPNotifier) ReportState(ctx context.Context, in domain.Integration, agentUserID string, states map[string]DeviceState) error {
	r := ReportStateRequest{RequestID: string(domain.NewID()), AgentUserID: agentUserID}
	r.Payload.Devices.States = states
	return n.post(ctx, strings.TrimRight(in.NotifyURL, "/")+"/reportState", r)
}

// Reporter watches the links of integrations that take notifications and
// tells their platforms what changed: the cameras a link may use (request
// sync) and whether they are online (report state). A link's first
// sighting only sets its baseline: the platform has just run SYNC.
type Reporter struct {
	svc      Targets
	notifier Notifier
	every    time.Duration
	log      *slog.Logger

	known map[domain.ID]linkState // by link; only Run's goroutine touches it
}

type linkState struct {
	cameras []string
	online  map[string]bool
}

// Targets lists the links to report on; *service.Service implements it.
type Targets interface {
	NotifyTargets(ctx context.Context) ([]service.NotifyTarget, error)
}

// NewReporter returns a reporter that looks every interval.
func NewReporter(svc Targets, n Notifier, every time.Duration, log *slog.Logger) *Reporter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if every <= 0 {
		every = 5 * time.Second
	}
	return &Reporter{svc: svc, notifier: n, every: every, log: log, known: map[domain.ID]linkState{}}
}

// Run reports until ctx ends.
func (r *Reporter) Run(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.Check(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("integration notifications", "err", err)
		}
	}
}

// Check looks once and sends what changed since the last look.
func (r *Reporter) Check(ctx context.Context) error {
	targets, err := r.svc.NotifyTargets(ctx)
	if err != nil {
		return err
	}
	seen := map[domain.ID]bool{}
	for _, tg := range targets {
		seen[tg.Link.ID] = true
		now := linkState{online: map[string]bool{}}
		for _, c := range tg.Cameras {
			now.cameras = append(now.cameras, string(c.ID))
			now.online[string(c.ID)] = online(c)
		}
		slices.Sort(now.cameras)
		before, ok := r.known[tg.Link.ID]
		r.known[tg.Link.ID] = now
		if !ok {
			continue
		}
		user := string(tg.Link.ID)
		if !slices.Equal(before.cameras, now.cameras) {
			if err := r.notifier.RequestSync(ctx, tg.Integration, user); err != nil {
				r.log.Warn("request sync", "integration", tg.Integration.Name, "err", err)
			}
		}
		changed := map[string]DeviceState{}
		for id, on := range now.online {
			if was, ok := before.online[id]; ok && was != on {
				changed[id] = DeviceState{Online: on, Status: "SUCCESS"}
			}
		}
		if len(changed) > 0 {
			if err := r.notifier.ReportState(ctx, tg.Integration, user, changed); err != nil {
				r.log.Warn("report state", "integration", tg.Integration.Name, "err", err)
			}
		}
	}
	for id := range r.known {
		if !seen[id] {
			delete(r.known, id)
		}
	}
	return nil
}
