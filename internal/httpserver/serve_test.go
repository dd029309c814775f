package httpserver

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestShutdownCutsBusyRequests: a request still running when the grace
// period ends is cut, and stopping is not an error.
func TestShutdownCutsBusyRequests(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, h, nil, slog.New(slog.DiscardHandler), 100*time.Millisecond) }()
	go http.Get("http://" + l.Addr().String() + "/slow")
	<-started
	at := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v after the grace period", err)
		}
		if d := time.Since(at); d > 2*time.Second {
			t.Fatalf("stopping took %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}
