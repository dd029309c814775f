package natsbus_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/events/eventstest"
	"github.com/camvault/camvault/internal/events/natsbus"
)

func natsURL(t *testing.T) string {
	url := os.Getenv("CAMVAULT_TEST_NATS")
	if url == "" {
		t.Skip("set CAMVAULT_TEST_NATS (e.g. nats://127.0.0.1:4222) to test the NATS bus")
	}
	return url
}

// TestConformance: the NATS bus passes the suite every bus passes, each
// subtest on its own subject.
func TestConformance(t *testing.T) {
	url := natsURL(t)
	eventstest.Run(t, func(t *testing.T) events.Bus {
		b, err := natsbus.Open(url, "camvault.test."+string(domain.NewID()), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		return b
	}, false)
}

// TestAcrossServers: a withdrawal published by one server reaches another,
// and malformed messages on the subject are dropped.
func TestAcrossServers(t *testing.T) {
	url := natsURL(t)
	subject := "camvault.test." + string(domain.NewID())
	a, err := natsbus.Open(url, subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := natsbus.Open(url, subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := make(chan events.Event, 10)
	defer b.Subscribe(func(e events.Event) { got <- e })()

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, junk := range []string{"", "{", `{"kind":"access.revoked"}`, `{"kind":"access.revoked","account":"../x"}`, `{"kind":"access.revoked","account":"abcdefghijklmnopqrstuvwxyz","extra":1}`,
		`{"kind":"recordings.deleted","camera":"abcdefghijklmnopqrstuvwxyz","generation":1,"since":-1}`,
		`{"kind":"recordings.deleted","camera":"abcdefghijklmnopqrstuvwxyz","generation":1,"since":20,"until":10}`, string(make([]byte, 10000))} {
		nc.Publish(subject, []byte(junk))
	}
	nc.Flush()
	want := events.Event{Kind: events.CameraEnded, Camera: domain.NewID(), Generation: 2}
	start := time.Now()
	if err := a.Publish(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if e != want {
			t.Fatalf("got %+v, want %+v (a malformed message got through?)", e, want)
		}
		t.Logf("delivered across servers in %v", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("the other server heard nothing")
	}
}

// TestRefusedServer: a NATS URL nobody answers is a clear error without
// the URL's credentials.
func TestRefusedServer(t *testing.T) {
	_, err := natsbus.Open("nats://user:s3cret@127.0.0.1:1", "", nil, nats.Timeout(500*time.Millisecond))
	if err == nil {
		t.Fatal("connected to nothing")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("the error quotes the password: %v", err)
	}
}

// FuzzDecode: no message on the subject crashes a server.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"kind":"camera.ended","camera":"abcdefghijklmnopqrstuvwxyz","generation":3}`))
	f.Add([]byte(`{"kind":"access.revoked","account":"abcdefghijklmnopqrstuvwxyz"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		natsbus.Deliver(data)
	})
}
