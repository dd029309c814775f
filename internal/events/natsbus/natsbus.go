// Package natsbus is the events.Bus over NATS, for several camvault
// servers sharing one store: a withdrawal of live access published on any
// of them ends the streams on all of them.
package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/camvault/camvault/internal/events"
)

// DefaultSubject is where events travel.
const DefaultSubject = "camvault.live.withdrawals"

// maxEvent bounds an event message; anything larger is not one of ours.
const maxEvent = 4096

// Bus publishes and subscribes on one NATS subject.
type Bus struct {
	nc      *nats.Conn
	subject string
	log     *slog.Logger

	local events.Local // this process's subscribers
	sub   *nats.Subscription
}

// Open connects to the NATS server at url and listens on subject
// (DefaultSubject when empty). Credentials, when needed, go in the URL or
// in opts; they are never logged.
func Open(url, subject string, log *slog.Logger, opts ...nats.Option) (*Bus, error) {
	if subject == "" {
		subject = DefaultSubject
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts = append([]nats.Option{nats.Name("camvault"), nats.MaxReconnects(-1)}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("events: connect to NATS: %w", redact(err))
	}
	b := &Bus{nc: nc, subject: subject, log: log}
	b.sub, err = nc.Subscribe(subject, b.deliver)
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("events: subscribe: %w", err)
	}
	return b, nil
}

// redact keeps a connection error's kind without the URL it may quote.
func redact(err error) error {
	for _, known := range []error{nats.ErrNoServers, nats.ErrAuthorization, nats.ErrTimeout} {
		if errors.Is(err, known) {
			return known
		}
	}
	return errors.New("connection failed")
}

// wire is an event on the wire.
type wire struct {
	Kind       events.Kind `json:"kind"`
	Account    string      `json:"account,omitempty"`
	Camera     string      `json:"camera,omitempty"`
	Generation int64       `json:"generation,omitempty"`
	Link       string      `json:"link,omitempty"`
	// Since and Until are microseconds since the Unix epoch; 0 is the
	// zero time.
	Since int64 `json:"since,omitempty"`
	Until int64 `json:"until,omitempty"`
	Seq   int64 `json:"seq,omitempty"`
}

// Publish sends e and waits until the server has it.
func (b *Bus) Publish(ctx context.Context, e events.Event) error {
	if !e.Valid() {
		return events.ErrInvalid
	}
	data, err := json.Marshal(wire{Kind: e.Kind, Account: string(e.Account), Camera: string(e.Camera), Generation: e.Generation, Link: string(e.Link),
		Since: toMicros(e.Since), Until: toMicros(e.Until), Seq: e.Seq})
	if err != nil {
		return err
	}
	if err := b.nc.Publish(b.subject, data); err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	return b.nc.FlushWithContext(ctx)
}

// deliver hands a message from NATS to the subscribers; anything that is
// not a valid event is dropped and logged.
func (b *Bus) deliver(m *nats.Msg) {
	var w wire
	if len(m.Data) > maxEvent || decode(m.Data, &w) != nil {
		b.log.Warn("dropped a malformed event", "subject", m.Subject, "bytes", len(m.Data))
		return
	}
	e := events.Event{Kind: w.Kind, Account: domainID(w.Account), Camera: domainID(w.Camera), Generation: w.Generation, Link: domainID(w.Link),
		Since: fromMicros(w.Since), Until: fromMicros(w.Until), Seq: w.Seq}
	if !e.Valid() {
		b.log.Warn("dropped an invalid event", "kind", string(w.Kind))
		return
	}
	b.local.Publish(context.Background(), e)
}

// Subscribe adds fn.
func (b *Bus) Subscribe(fn func(events.Event)) func() { return b.local.Subscribe(fn) }

// Close ends the connection.
func (b *Bus) Close() {
	b.sub.Unsubscribe()
	b.nc.Close()
}

// Ready reports an error while the connection to NATS is down.
func (b *Bus) Ready() error {
	if !b.nc.IsConnected() {
		return errors.New("events: not connected to NATS")
	}
	return nil
}
