package service_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/events/outbox"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
	"github.com/camvault/camvault/internal/store/sqlite"
)

// flakyLog is the store's outbox, which fails while fail is set.
type flakyLog struct {
	store.Store
	fail atomic.Bool
}

func (l *flakyLog) AppendOutbox(ctx context.Context, e store.OutboxEntry) (int64, error) {
	if l.fail.Load() {
		return 0, errors.New("outbox unavailable")
	}
	return l.Store.AppendOutbox(ctx, e)
}

// TestWithdrawalKeptWithItsChange: a change that takes live access away
// is kept together with its outbox entry or not at all. While the outbox
// cannot be written, removing a camera fails and the camera stays (a
// node that misses the bus would otherwise never hear that its streams
// must end); once it can, the camera goes and the entry is there,
// numbered as the event every node hears.
func TestWithdrawalKeptWithItsChange(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "camvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := &flakyLog{Store: st}
	bus := outbox.New(outbox.Config{Inner: &events.Local{}, Log: log})
	t.Cleanup(bus.Close)
	var mu sync.Mutex
	var heard []events.Event
	t.Cleanup(bus.Subscribe(func(e events.Event) {
		mu.Lock()
		heard = append(heard, e)
		mu.Unlock()
	}))
	svc, err := service.New(service.Config{Store: st, SecretKey: bytes.Repeat([]byte{7}, 32),
		Password: authn.Params{Memory: 1024, Time: 1, Threads: 1}, Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	owner, cam := ownerWithCamera(t, svc)
	head, err := st.OutboxHead(ctx)
	if err != nil {
		t.Fatal(err)
	}

	log.fail.Store(true)
	if err := svc.DeleteCamera(ctx, owner, cam.ID); service.KindOf(err) != service.KindInternal {
		t.Fatalf("removing a camera while the outbox fails: %v, want an internal error", err)
	}
	if _, err := st.Camera(ctx, cam.ID); err != nil {
		t.Fatalf("the camera went without its withdrawal being kept: %v", err)
	}
	mu.Lock()
	if len(heard) != 0 {
		t.Fatalf("a withdrawal was published for a change that did not happen: %+v", heard)
	}
	mu.Unlock()

	log.fail.Store(false)
	if err := svc.DeleteCamera(ctx, owner, cam.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Camera(ctx, cam.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("camera after its removal: %v", err)
	}
	entries, err := st.OutboxAfter(ctx, head, 10)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(entries) != 1 || entries[0].Kind != string(events.CameraEnded) || entries[0].Camera != cam.ID {
		t.Fatalf("outbox after the removal: %+v, want the camera's end", entries)
	}
	if len(heard) != 1 || heard[0].Seq != entries[0].Seq {
		t.Fatalf("heard %+v, want the kept entry %d once", heard, entries[0].Seq)
	}
}
