package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store/postgres"
	"github.com/camvault/camvault/internal/store/postgres/pgtest"
)

// TestChoreOneNodeAtATime: two nodes on one PostgreSQL database run a chore
// one at a time; when the holder dies (its connections end), the other
// takes the chore over within the retry period.
func TestChoreOneNodeAtATime(t *testing.T) {
	url := pgtest.SchemaURL(t)
	ctx := context.Background()
	nodeA := "camvault_test_" + string(domain.NewID())
	a, err := postgres.Open(ctx, url+"&application_name="+nodeA)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var running, ranA, ranB, overlap atomic.Int32 // overlap: fn entered while another ran
	work := func(ran *atomic.Int32) func(context.Context) {
		return func(ctx context.Context) {
			if running.Add(1) > 1 {
				overlap.Add(1)
			}
			ran.Add(1)
			<-ctx.Done()
			running.Add(-1)
		}
	}
	log := slog.New(slog.DiscardHandler)
	const retry = 50 * time.Millisecond
	actx, stopA := context.WithCancel(ctx)
	doneA := make(chan struct{})
	go func() { chore(actx, a, "test", retry, log, work(&ranA)); close(doneA) }()
	waitUntil(t, "node A to run the chore", func() bool { return ranA.Load() == 1 })
	bctx, stopB := context.WithCancel(ctx)
	doneB := make(chan struct{})
	go func() { chore(bctx, b, "test", retry, log, work(&ranB)); close(doneB) }()
	defer func() { stopB(); <-doneB }()
	// While A holds the chore, B asks again and again and is refused.
	time.Sleep(10 * retry)
	if ranB.Load() != 0 || overlap.Load() != 0 {
		t.Fatal("node B ran the chore while node A held it")
	}

	// Node A dies the hard way: its database connections are cut, and
	// with them the lock; its chore loop notices on its next check.
	if _, err := b.DB().ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, nodeA); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "node B to take the chore over", func() bool { return ranB.Load() == 1 })
	stopA()
	<-doneA
	if ranA.Load() != 1 {
		t.Fatalf("node A ran the chore %d times", ranA.Load())
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReadyzNamesFailingParts: /readyz names each part that does not answer
// and nothing of why.
func TestReadyzNamesFailingParts(t *testing.T) {
	ok := func(context.Context) error { return nil }
	broken := func(context.Context) error { return errors.New("dial tcp 10.0.0.7:4222: secret detail") }
	for _, tc := range []struct {
		name   string
		checks []readiness
		code   int
		body   string
	}{
		{"all answer", []readiness{{"store", ok}, {"bus", ok}, {"blob", ok}}, 200, `{"status":"ready"}`},
		{"bus down", []readiness{{"store", ok}, {"bus", broken}, {"blob", ok}}, 503, `{"failing":["bus"],"status":"unavailable"}`},
		{"store and blob down", []readiness{{"store", broken}, {"blob", broken}}, 503, `{"failing":["store","blob"],"status":"unavailable"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h httpserver.Route
			for _, r := range opsRoutes(httpserver.NewMetrics(), tc.checks) {
				if r.Pattern == "GET /readyz" {
					h = r
				}
			}
			rec := httptest.NewRecorder()
			h.Handler(rec, httptest.NewRequest("GET", "/readyz", nil), service.Caller{})
			if rec.Code != tc.code || strings.TrimSpace(rec.Body.String()) != tc.body {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		})
	}
}
