package ingest

import (
	"context"
	"log/slog"
	"sync"

	"github.com/camvault/camvault/internal/control"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/netguard"
)

// Sources is what on-demand pulling needs of the use cases: the source
// of a pulled camera at a generation, and where the server may dial.
type Sources interface {
	// PullSource returns the rtsp(s) URL of a pulled camera at ref's
	// generation; ok is false for any other camera.
	PullSource(ctx context.Context, ref domain.CameraRef) (source string, ok bool)
	// PullNetworks are the networks the server may connect to.
	PullNetworks() netguard.Policy
}

// Devices reaches connected devices' control sessions; the device hub
// does.
type Devices interface {
	// Send queues a message for the camera's device; false if it is not
	// connected.
	Send(camera domain.ID, m control.Message) bool
}

// DemandParts are what a Demand acts on. The stream hub is built with the
// Demand, and the service with the stream hub, so they come after it.
type DemandParts struct {
	Media   *media.Hub
	Sources Sources
	// Devices and URL, when the server takes pushed video, are the
	// device hub and the ingest server's URL agents push to.
	Devices Devices
	URL     string
}

// Demand starts and stops cameras' streams as viewers come and go: it
// asks a connected device to push to the ingest server, or pulls an IP
// camera the server reads itself. It implements media.Demand.
type Demand struct {
	log *slog.Logger

	mu    sync.Mutex // guards the fields below
	parts DemandParts
	pulls map[domain.CameraRef]context.CancelFunc
	wg    sync.WaitGroup // running pullers
}

var _ media.Demand = (*Demand)(nil)

// NewDemand returns a Demand that does nothing until Connect.
func NewDemand(log *slog.Logger) *Demand {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Demand{log: log, pulls: map[domain.CameraRef]context.CancelFunc{}}
}

// Connect gives d the parts it acts on. Call it once, before serving.
func (d *Demand) Connect(p DemandParts) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.parts = p
}

func (d *Demand) current() DemandParts {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.parts
}

// startPull starts pulling ref if it is a pulled camera; it reports
// whether it is.
func (d *Demand) startPull(ref domain.CameraRef) bool {
	p := d.current()
	if p.Sources == nil {
		return false
	}
	source, ok := p.Sources.PullSource(context.Background(), ref)
	if !ok {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, running := d.pulls[ref]; running {
		return true
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.pulls[ref] = cancel
	current := func() bool { _, ok := p.Sources.PullSource(ctx, ref); return ok }
	d.wg.Go(func() {
		Pull(ctx, p.Media, ref, source, p.Sources.PullNetworks(), d.log, current)
		d.stopPull(ref)
	})
	return true
}

func (d *Demand) stopPull(ref domain.CameraRef) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	cancel, ok := d.pulls[ref]
	if ok {
		cancel()
		delete(d.pulls, ref)
	}
	return ok
}

// Close stops every puller and waits.
func (d *Demand) Close() {
	d.mu.Lock()
	for ref, cancel := range d.pulls {
		cancel()
		delete(d.pulls, ref)
	}
	d.mu.Unlock()
	d.wg.Wait()
}

// Want implements media.Demand.
func (d *Demand) Want(ref domain.CameraRef) {
	if d.startPull(ref) {
		return
	}
	if p := d.current(); p.Devices != nil {
		p.Devices.Send(ref.Camera, control.Message{Type: control.TypeStartStream,
			Stream: &control.Stream{Profile: "main", URL: p.URL + "/cameras/" + string(ref.Camera)}})
	}
}

// Release implements media.Demand. The hub decides to release and calls
// Release outside its lock, so a viewer may have arrived in between (and
// Want been sent already): then the stream stays.
func (d *Demand) Release(ref domain.CameraRef) {
	p := d.current()
	if p.Media != nil && p.Media.Wanted(ref) {
		return
	}
	if d.stopPull(ref) {
		return
	}
	if p.Devices != nil {
		p.Devices.Send(ref.Camera, control.Message{Type: control.TypeStopStream})
	}
}

// Hello asks a device that just connected to stream if its camera has
// viewers waiting.
func (d *Demand) Hello(cam domain.Camera) {
	if p := d.current(); p.Media != nil && p.Media.Wanted(cam.Ref()) {
		d.Want(cam.Ref())
	}
}
