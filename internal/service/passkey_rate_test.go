package service_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store/sqlite"
)

// TestPasskeyLoginRate: passwordless sign-in is rate-limited per address,
// begin and finish alike; other addresses are not affected, and the
// allowance refills with time.
func TestPasskeyLoginRate(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "camvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	svc, err := service.New(service.Config{Store: st, SecretKey: bytes.Repeat([]byte{7}, 32), Now: func() time.Time { return now },
		WebAuthn: &service.WebAuthnConfig{RPID: "localhost", RPName: "camvault", Origins: []string{"http://localhost"}}})
	if err != nil {
		t.Fatal(err)
	}
	flood, other := service.Caller{Addr: "203.0.113.7"}, service.Caller{Addr: "198.51.100.7"}
	for i := range 15 {
		if _, _, err := svc.BeginPasskeyLogin(ctx, flood); err != nil {
			t.Fatalf("begin %d: %v", i, err)
		}
	}
	for i := range 5 {
		_, _, err := svc.FinishPasskeyLogin(ctx, flood, "no-such-ceremony", []byte("{}"))
		if service.KindOf(err) != service.KindUnauthenticated {
			t.Fatalf("finish %d: %v, want a failed login", i, err)
		}
	}
	if _, _, err := svc.BeginPasskeyLogin(ctx, flood); service.KindOf(err) != service.KindThrottled {
		t.Fatalf("begin past the burst: %v, want throttled", err)
	}
	if _, _, err := svc.FinishPasskeyLogin(ctx, flood, "no-such-ceremony", []byte("{}")); service.KindOf(err) != service.KindThrottled {
		t.Fatalf("finish past the burst: %v, want throttled", err)
	}
	if _, _, err := svc.BeginPasskeyLogin(ctx, other); err != nil {
		t.Fatalf("another address: %v", err)
	}
	now = now.Add(3 * time.Second)
	if _, _, err := svc.BeginPasskeyLogin(ctx, flood); err != nil {
		t.Fatalf("after the refill: %v", err)
	}
	if _, _, err := svc.BeginPasskeyLogin(ctx, flood); service.KindOf(err) != service.KindThrottled {
		t.Fatalf("second begin after one refill: %v, want throttled", err)
	}
}
