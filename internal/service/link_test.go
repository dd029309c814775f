package service_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/live"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
	"github.com/camvault/camvault/internal/store/sqlite"
)

// liveEnv is a service with a hub, the viewers of the hub (subscribed
// to the service's bus) and its store, one owner and one camera.
func liveEnv(t *testing.T) (*service.Service, store.Store, *media.Hub, *live.Viewers, domain.Account, domain.Camera) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "camvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hub := media.New(media.Config{})
	bus := &events.Local{}
	viewers := live.New(live.Config{Hub: hub, Bus: bus})
	t.Cleanup(viewers.Close)
	svc, err := service.New(service.Config{Store: st, SecretKey: bytes.Repeat([]byte{7}, 32), Video: true, Bus: bus, Withdrawn: viewers.Apply})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	acct := domain.Account{ID: domain.NewID(), Email: "ana@example.org", CreatedAt: now}
	home := domain.Home{ID: domain.NewID(), Name: "Casa", CreatedAt: now}
	if err := st.CreateFirstAccount(ctx, acct, home); err != nil {
		t.Fatal(err)
	}
	cam := domain.Camera{ID: domain.NewID(), HomeID: home.ID, Name: "Porch", Generation: 1, State: domain.CameraStatePulled, CreatedAt: now, PullSource: "x"}
	if err := st.CreateCamera(ctx, cam); err != nil {
		t.Fatal(err)
	}
	return svc, st, hub, viewers, acct, cam
}

// openLive opens c's live view of camera the way a viewer adapter does:
// the service grants, live opens the reader and asks the service again
// when the grant ends.
func openLive(ctx context.Context, svc *service.Service, v *live.Viewers, c service.Caller, camera domain.ID) (*live.Session, error) {
	var ref domain.CameraRef
	return v.Open(ctx, func(ctx context.Context) (authz.Grant, error) {
		g, err := svc.LiveGrant(ctx, c, camera)
		ref = g.Camera()
		return g, err
	}, func(ctx context.Context) (authz.Grant, error) { return svc.Regrant(ctx, c, ref) })
}

// TestLinkRevocationEndsStreams: a stream an integration opened under a
// link ends within a second of the integration being disabled, and does
// not come back under the account's own rights, which still stand.
func TestLinkRevocationEndsStreams(t *testing.T) {
	ctx := context.Background()
	svc, st, hub, viewers, acct, cam := liveEnv(t)
	home := domain.Home{ID: cam.HomeID}
	now := time.Now().UTC()
	in, _, err := svc.RegisterIntegration(ctx, service.IntegrationSpec{Name: "Kitchen display", RedirectURIs: []string{"https://display.example.com/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	link := domain.Link{ID: domain.NewID(), IntegrationID: in.ID, HomeID: home.ID, AccountID: acct.ID, Cameras: []domain.CameraRef{cam.Ref()},
		Actions: []domain.Action{domain.ActionLive}, CreatedAt: now}
	if err := st.CreateLink(ctx, link); err != nil {
		t.Fatal(err)
	}
	pub := hub.Publish(cam.Ref(), media.Track{Codec: media.H264})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			pub.Write(&media.AccessUnit{Origin: cam.Ref(), Key: i%10 == 0, NALUs: [][]byte{{0x65, 1}}})
		}
	}()

	display := service.Caller{Account: acct, Link: link.ID}
	r, err := openLive(ctx, svc, viewers, display, cam.ID)
	if err != nil {
		t.Fatalf("open through the link: %v", err)
	}
	if got := r.Grant().Link(); got != link.ID {
		t.Fatalf("the stream's grant names link %q", got)
	}
	frames := make(chan struct{}, 100)
	ended := make(chan error, 1)
	go func() {
		ended <- r.Watch(ctx, func(*media.AccessUnit) error {
			select {
			case frames <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	select {
	case <-frames:
	case <-time.After(5 * time.Second):
		t.Fatal("no frames through the link")
	}
	// A link that does not exist opens nothing.
	if _, err := openLive(ctx, svc, viewers, service.Caller{Account: acct, Link: domain.NewID()}, cam.ID); err == nil {
		t.Fatal("an unknown link opened a stream")
	}

	at := time.Now()
	n, err := svc.SetIntegrationEnabled(ctx, "Kitchen display", false)
	if err != nil || n != 1 {
		t.Fatalf("disable: %d, %v", n, err)
	}
	select {
	case err := <-ended:
		var se *service.Error
		if !errors.As(err, &se) {
			t.Fatalf("the stream ended with %v, want a denial", err)
		}
		t.Logf("stream through the link ended %v after the integration was disabled", time.Since(at).Round(time.Millisecond))
	case <-time.After(time.Second):
		t.Fatal("the stream through a disabled integration still runs after 1 s")
	}
	if _, err := openLive(ctx, svc, viewers, display, cam.ID); err == nil {
		t.Fatal("a revoked link opened a stream")
	}
	// The account itself still may watch.
	own, err := openLive(ctx, svc, viewers, service.Caller{Account: acct}, cam.ID)
	if err != nil {
		t.Fatalf("the owner lost her own access: %v", err)
	}
	own.Close()
}

// TestLiveStreamCap: an account holds at most live.MaxStreams live streams
// at once; the next is refused until one closes.
func TestLiveStreamCap(t *testing.T) {
	ctx := context.Background()
	svc, _, _, viewers, acct, cam := liveEnv(t)
	owner := service.Caller{Account: acct}
	var open []*live.Session
	for i := range live.MaxStreams {
		r, err := openLive(ctx, svc, viewers, owner, cam.ID)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		open = append(open, r)
	}
	if _, err := openLive(ctx, svc, viewers, owner, cam.ID); service.KindOf(err) != service.KindThrottled {
		t.Fatalf("stream over the cap: %v", err)
	}
	open[0].Close()
	r, err := openLive(ctx, svc, viewers, owner, cam.ID)
	if err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	r.Close()
	for _, r := range open[1:] {
		r.Close()
	}
}

// TestLinkCallerIsNotTheAccount: an integration acting under a link can
// use linked cameras and nothing of the account that linked it.
func TestLinkCallerIsNotTheAccount(t *testing.T) {
	ctx := context.Background()
	svc, st, _, _, acct, cam := liveEnv(t)
	in, _, err := svc.RegisterIntegration(ctx, service.IntegrationSpec{Name: "Kitchen display", RedirectURIs: []string{"https://display.example.com/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	link := domain.Link{ID: domain.NewID(), IntegrationID: in.ID, HomeID: cam.HomeID, AccountID: acct.ID, Cameras: []domain.CameraRef{cam.Ref()},
		Actions: []domain.Action{domain.ActionLive}, CreatedAt: time.Now().UTC()}
	if err := st.CreateLink(ctx, link); err != nil {
		t.Fatal(err)
	}
	display, err := svc.LinkCaller(ctx, link.ID, acct.ID, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if cams, err := svc.LinkedCameras(ctx, display); err != nil || len(cams) != 1 {
		t.Fatalf("linked cameras: %v %v", cams, err)
	}
	for name, call := range map[string]func() error{
		"me":        func() error { _, err := svc.Me(ctx, display); return err },
		"sessions":  func() error { _, err := svc.Sessions(ctx, display); return err },
		"api token": func() error { _, _, err := svc.CreateAPIToken(ctx, display, "x"); return err },
		"homes":     func() error { _, err := svc.Homes(ctx, display); return err },
		"cameras":   func() error { _, err := svc.Cameras(ctx, display, cam.HomeID); return err },
		"links":     func() error { _, err := svc.Links(ctx, display); return err },
		"consent":   func() error { _, err := svc.ConsentChoices(ctx, display); return err },
		"link create": func() error {
			_, err := svc.CreateLink(ctx, display, in.ID, cam.HomeID, []domain.ID{cam.ID}, []domain.Action{domain.ActionLive})
			return err
		},
		"snapshot (not in the link)": func() error { _, _, err := svc.Snapshot(ctx, display, cam.ID); return err },
		"other link":                 func() error { return svc.RevokeLink(ctx, display, domain.NewID()) },
	} {
		if err := call(); err == nil {
			t.Errorf("%s: an integration did it", name)
		}
	}
	// Its own link it may revoke (DISCONNECT).
	if err := svc.RevokeLink(ctx, display, link.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.LinkCaller(ctx, link.ID, acct.ID, "127.0.0.1"); err == nil {
		t.Fatal("a revoked link still acts")
	}
}
