package natsbus

import (
	"github.com/nats-io/nats.go"

	"github.com/camvault/camvault/internal/events"
)

// Deliver runs a message through a bus with one subscriber that checks
// what it is handed.
func Deliver(data []byte) {
	b := &Bus{log: nopLogger()}
	b.Subscribe(func(e events.Event) {
		if !e.Valid() {
			panic("an invalid event was delivered")
		}
	})
	b.deliver(&nats.Msg{Subject: "fuzz", Data: data})
}
