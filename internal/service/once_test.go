package service_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/deviceca"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
	"github.com/camvault/camvault/internal/store/postgres"
	"github.com/camvault/camvault/internal/store/postgres/pgtest"
	"github.com/camvault/camvault/internal/store/sqlite"
)

// TestSingleUseAcrossNodes: two nodes, each with its own connections to
// one database, share single-use secrets. A setup link, a device
// challenge and a login link made at A work at B, once; a stream
// credential made at A and redeemed at A and B at the same time works for
// exactly one of them.
func TestSingleUseAcrossNodes(t *testing.T) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "camvault.db")
		testSingleUseAcrossNodes(t, func() store.Store {
			st, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			return st
		})
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.SchemaURL(t)
		testSingleUseAcrossNodes(t, func() store.Store {
			st, err := postgres.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			return st
		})
	})
}

func testSingleUseAcrossNodes(t *testing.T, open func() store.Store) {
	ctx := context.Background()
	ca, err := deviceca.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var st store.Store
	node := func() *service.Service {
		st = open()
		t.Cleanup(func() { st.Close() })
		svc, err := service.New(service.Config{Store: st, SecretKey: bytes.Repeat([]byte{7}, 32),
			Password: authn.Params{Memory: 1024, Time: 1, Threads: 1},
			Video:    true, Live: service.LiveConfig{WHEPURL: "https://cams.example.org/whep"},
			Devices: service.DeviceConfig{CA: ca, URL: "wss://cams.example.org:8443"}})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	a, b := node(), node()
	anon := service.Caller{Addr: "192.0.2.1"}

	// The setup link.
	setupURL, ok, err := a.PrepareSetup(ctx)
	if err != nil || !ok {
		t.Fatalf("prepare setup: %v %v", ok, err)
	}
	setup := service.SetupRequest{Token: fragment(t, setupURL, "#"), Email: "ana@example.org", Password: "correct horse battery staple", HomeName: "Casa"}
	acct, home, err := b.Setup(ctx, anon, setup)
	if err != nil {
		t.Fatalf("setup at B with A's link: %v", err)
	}
	setup.Email = "eve@example.org"
	if _, _, err := a.Setup(ctx, anon, setup); service.KindOf(err) != service.KindNotFound {
		t.Fatalf("the setup link again at A: %v, want not found", err)
	}

	// A device challenge.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := a.DeviceChallenge(ctx, anon.Addr)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := authn.SignProof(key, authn.ProofEnroll, nonce)
	if err != nil {
		t.Fatal(err)
	}
	proof := service.DeviceProof{PublicKey: der, Nonce: nonce, Signature: sig}
	if _, err := b.Enroll(ctx, anon.Addr, proof); err != nil {
		t.Fatalf("enrol at B with A's challenge: %v", err)
	}
	for name, n := range map[string]*service.Service{"A": a, "B": b} {
		if _, err := n.Enroll(ctx, anon.Addr, proof); service.KindOf(err) != service.KindInvalid {
			t.Fatalf("the challenge again at %s: %v, want invalid", name, err)
		}
	}

	// A login link.
	link, err := a.CreateLoginLink(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, got, err := b.RedeemLoginLink(ctx, anon, fragment(t, link, "#")); err != nil || got.ID != acct.ID {
		t.Fatalf("login link at B: %v %v", got.ID, err)
	}
	for name, n := range map[string]*service.Service{"A": a, "B": b} {
		if _, _, err := n.RedeemLoginLink(ctx, anon, fragment(t, link, "#")); service.KindOf(err) != service.KindNotFound {
			t.Fatalf("the login link again at %s: %v, want not found", name, err)
		}
	}

	// Stream credentials, redeemed at both nodes at once.
	now := time.Now().UTC()
	cam := domain.Camera{ID: domain.NewID(), HomeID: home.ID, Name: "Porch", Generation: 1, State: domain.CameraStatePulled, CreatedAt: now, PullSource: "x"}
	if err := st.CreateCamera(ctx, cam); err != nil {
		t.Fatal(err)
	}
	owner := service.Caller{Account: acct, Addr: anon.Addr}
	for round := range 10 {
		tk, err := a.CreateStream(ctx, owner, cam.ID, service.ProtoWebRTC)
		if err != nil {
			t.Fatal(err)
		}
		token := fragment(t, tk.URL, "?token=")
		errs := make([]error, 2)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, n := range []*service.Service{a, b} {
			wg.Go(func() {
				<-start
				_, _, err := n.RedeemStream(ctx, token, cam.ID, service.ProtoWebRTC, anon.Addr)
				errs[i] = err
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case service.KindOf(err) != service.KindUnauthenticated:
				t.Fatalf("round %d: node %d: %v, want success or unauthenticated", round, i, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d nodes redeemed one stream credential: %v", round, won, errs)
		}
	}
}

// fragment returns what follows sep in s.
func fragment(t *testing.T, s, sep string) string {
	t.Helper()
	_, after, ok := strings.Cut(s, sep)
	if !ok {
		t.Fatalf("%q holds no %q", s, sep)
	}
	return after
}

// ownerWithCamera makes the first account, its home and a camera in it
// through svc, and returns the owner as a caller and the camera.
func ownerWithCamera(t *testing.T, svc *service.Service) (service.Caller, service.CameraView) {
	t.Helper()
	ctx := context.Background()
	anon := service.Caller{Addr: "192.0.2.1"}
	setupURL, _, err := svc.PrepareSetup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acct, home, err := svc.Setup(ctx, anon, service.SetupRequest{Token: fragment(t, setupURL, "#"), Email: "ana@example.org",
		Password: "correct horse battery staple", HomeName: "Casa"})
	if err != nil {
		t.Fatal(err)
	}
	owner := service.Caller{Account: acct, Addr: anon.Addr}
	cam, err := svc.CreateCamera(ctx, owner, home.ID, "Porch")
	if err != nil {
		t.Fatal(err)
	}
	return owner, cam
}
