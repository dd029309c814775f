package ingest

import (
	"context"
	"testing"

	"github.com/camvault/camvault/internal/control"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/netguard"
)

// fakeSources is a Sources of function fields.
type fakeSources struct {
	source func(ref domain.CameraRef) (string, bool)
}

func (f fakeSources) PullSource(_ context.Context, ref domain.CameraRef) (string, bool) {
	return f.source(ref)
}

// PullNetworks allows no network: a puller's every dial is refused.
func (f fakeSources) PullNetworks() netguard.Policy { return netguard.Policy{} }

// fakeDevices records what it is asked to send.
type fakeDevices struct {
	sent chan control.Message
}

func (f fakeDevices) Send(camera domain.ID, m control.Message) bool {
	f.sent <- m
	return true
}

func TestDemand(t *testing.T) {
	pulled := domain.CameraRef{Camera: "pulled", Generation: 2}
	pushed := domain.CameraRef{Camera: "pushed", Generation: 1}
	src := fakeSources{source: func(ref domain.CameraRef) (string, bool) {
		return "rtsp://192.0.2.1/stream", ref == pulled
	}}
	dev := fakeDevices{sent: make(chan control.Message, 8)}
	d := NewDemand(nil)
	defer d.Close()
	d.Want(pushed) // before Connect: nothing to ask
	if len(dev.sent) != 0 {
		t.Fatal("sent before Connect")
	}
	hub := media.New(media.Config{Demand: d})
	d.Connect(DemandParts{Media: hub, Sources: src, Devices: dev, URL: "rtsps://ingest.test:8554"})

	d.Want(pushed)
	if m := <-dev.sent; m.Type != control.TypeStartStream || m.Stream.URL != "rtsps://ingest.test:8554/cameras/pushed" {
		t.Fatalf("Want sent %+v", m)
	}
	d.Release(pushed)
	if m := <-dev.sent; m.Type != control.TypeStopStream {
		t.Fatalf("Release sent %+v", m)
	}
	d.Hello(domain.Camera{ID: "pushed", Generation: 1})
	if len(dev.sent) != 0 {
		t.Fatal("Hello asked a camera nobody watches to stream")
	}

	// A pulled camera is pulled, never asked of a device.
	d.Want(pulled)
	d.Want(pulled)
	d.mu.Lock()
	running := len(d.pulls)
	d.mu.Unlock()
	if running != 1 {
		t.Fatalf("%d pullers, want 1", running)
	}
	d.Release(pulled)
	d.mu.Lock()
	running = len(d.pulls)
	d.mu.Unlock()
	if running != 0 || len(dev.sent) != 0 {
		t.Fatalf("after Release: %d pullers, %d messages", running, len(dev.sent))
	}
}
