//go:build !unix

package app

import "context"

// onDrainSignal does nothing where there is no SIGUSR1.
func onDrainSignal(ctx context.Context, drain func()) { <-ctx.Done() }
