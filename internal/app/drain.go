//go:build unix

package app

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// onDrainSignal calls drain when the process gets SIGUSR1, until ctx
// ends: an operator (or an orchestrator's pre-stop hook) drains a node
// before taking it down, without a route that would need its own
// credentials.
func onDrainSignal(ctx context.Context, drain func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			drain()
		}
	}
}
