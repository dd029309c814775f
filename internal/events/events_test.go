package events_test

import (
	"testing"

	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/events/eventstest"
)

func TestLocal(t *testing.T) {
	eventstest.Run(t, func(*testing.T) events.Bus { return &events.Local{} }, true)
}
