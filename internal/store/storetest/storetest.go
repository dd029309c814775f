// Package storetest is the conformance suite every store backend passes.
//
// A backend's test calls Run with a function that opens a fresh, empty store
// and registers its cleanup:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s := open(t)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite checks what package store documents. Listings whose order
// store does not document are compared as sets.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

// The audit limits every backend keeps.
const (
	DefaultAuditLimit = store.DefaultAuditLimit
	MaxAuditLimit     = store.MaxAuditLimit
)

// base is the suite's fixed clock, on a microsecond boundary.
var base = time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)

// at returns base+d.
func at(d time.Duration) time.Time { return base.Add(d) }

// Run runs the suite. open returns a fresh, empty store for the test it is
// given; it registers the store's cleanup (Close) itself.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"FirstAccount", testFirstAccount},
		{"FirstAccountAfterCreateAccount", testFirstAccountAfterCreateAccount},
		{"FirstAccountRace", testFirstAccountRace},
		{"Accounts", testAccounts},
		{"AccountTimes", testAccountTimes},
		{"RecoveryCodes", testRecoveryCodes},
		{"RecoveryCodeRace", testRecoveryCodeRace},
		{"TOTPSteps", testTOTPSteps},
		{"TOTPStepRace", testTOTPStepRace},
		{"Homes", testHomes},
		{"Memberships", testMemberships},
		{"LastOwner", testLastOwner},
		{"LastOwnerRace", testLastOwnerRace},
		{"Invites", testInvites},
		{"InviteLimits", testInviteLimits},
		{"InviteRace", testInviteRace},
		{"Cameras", testCameras},
		{"Sessions", testSessions},
		{"Credentials", testCredentials},
		{"Audit", testAudit},
		{"AuditLimits", testAuditLimits},
		{"Devices", testDevices},
		{"ClaimRace", testClaimRace},
		{"Release", testRelease},
		{"UnclaimedPurge", testUnclaimedPurge},
		{"PulledCamera", testPulledCamera},
		{"Integrations", testIntegrations},
		{"Links", testLinks},
		{"LinkRevokeRace", testLinkRevokeRace},
		{"OAuthTokens", testOAuthTokens},
		{"DataKeys", testDataKeys},
		{"Recordings", testRecordings},
		{"UploadState", testUploadState},
		{"Outbox", testOutbox},
		{"Atomically", testAtomically},
		{"Exports", testExports},
		{"ExportLimit", testExportLimit},
		{"Rekey", testRekey},
		{"RekeyBatches", testRekeyBatches},
		{"DeleteHomeAndAccount", testDeleteHomeAndAccount},
		{"ClusterIdentity", testClusterIdentity},
		{"ClusterIdentityFounders", testClusterIdentityFounders},
		{"Lead", testLead},
		{"Throttle", testThrottle},
		{"Once", testOnce},
		{"OnceRace", testOnceRace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			tc.fn(t, s)
		})
	}
}

var ctx = context.Background()

// ---------------------------------------------------------------------------
// Helpers

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func mustErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// equal compares got and want after normalising both (see norm), and checks
// that every time in got is in UTC.
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	checkUTC(t, what, reflect.ValueOf(got))
	g, w := norm(got), norm(want)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

var timeType = reflect.TypeFor[time.Time]()

// norm returns a deep copy of v in which every time is truncated to the
// microsecond and in UTC (zero times stay zero), and every empty slice is
// nil, so that values compare with reflect.DeepEqual the way the store
// contract defines equality.
func norm(v any) any {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	c := reflect.New(rv.Type()).Elem()
	c.Set(rv)
	normValue(c)
	return c.Interface()
}

func normValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			tm := v.Interface().(time.Time)
			if tm.IsZero() {
				v.Set(reflect.Zero(timeType))
			} else {
				v.Set(reflect.ValueOf(time.UnixMicro(tm.UnixMicro()).UTC()))
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				normValue(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		cp := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(cp, v)
		v.Set(cp)
		for i := range cp.Len() {
			normValue(cp.Index(i))
		}
	}
}

// checkUTC fails the test if any non-zero time in v is not in UTC.
func checkUTC(t *testing.T, what string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			tm := v.Interface().(time.Time)
			if !tm.IsZero() && tm.Location() != time.UTC {
				t.Fatalf("%s: time %v is in %v, want UTC", what, tm, tm.Location())
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				checkUTC(t, what, v.Field(i))
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			checkUTC(t, what, v.Index(i))
		}
	}
}

// sameTime checks a time round-tripped at microsecond precision, in UTC.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.IsZero() && got.Location() != time.UTC {
		t.Fatalf("%s: time %v is in %v, want UTC", what, got, got.Location())
	}
	if !got.Truncate(time.Microsecond).Equal(want.Truncate(time.Microsecond)) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// sorted returns a copy of s sorted by key, for listings whose order the
// store does not document.
func sorted[T any](s []T, key func(T) string) []T {
	c := slices.Clone(s)
	slices.SortFunc(c, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	return c
}

func account(email string) domain.Account {
	return domain.Account{ID: domain.NewID(), Email: email, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", CreatedAt: at(0)}
}

func mustAccount(t *testing.T, s store.Store, email string) domain.Account {
	t.Helper()
	a := account(email)
	must(t, "create account "+email, s.CreateAccount(ctx, a))
	return a
}

// accountHome creates an account owning a new home.
func accountHome(t *testing.T, s store.Store, email string) (domain.Account, domain.Home) {
	t.Helper()
	a := mustAccount(t, s, email)
	h := domain.Home{ID: domain.NewID(), Name: "Home of " + email, CreatedAt: at(time.Minute)}
	must(t, "create home", s.CreateHome(ctx, h, a.ID))
	return a, h
}

// invite creates an invitation into home with the given role.
func invite(t *testing.T, s store.Store, home, by domain.ID, role domain.Role) domain.Invite {
	t.Helper()
	inv := domain.Invite{ID: domain.NewID(), TokenHash: []byte("token-" + string(domain.NewID())), HomeID: home, Role: role,
		ExpiresAt: at(24 * time.Hour), CreatedBy: by, CreatedAt: at(0)}
	must(t, "create invite", s.CreateInvite(ctx, inv))
	return inv
}

// join makes account a member of home with role, through an invitation.
func join(t *testing.T, s store.Store, home, by, account domain.ID, role domain.Role) domain.Membership {
	t.Helper()
	inv := invite(t, s, home, by, role)
	m, err := s.AcceptInvite(ctx, inv.TokenHash, account, at(time.Hour))
	must(t, "accept invite", err)
	return m
}

func owners(t *testing.T, s store.Store, home domain.ID) int {
	t.Helper()
	members, err := s.Members(ctx, home)
	must(t, "members", err)
	n := 0
	for _, m := range members {
		if m.Role == domain.RoleOwner {
			n++
		}
	}
	return n
}

// race runs fn(i) for i in [0, n) concurrently, released together, and
// returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one of errs is nil and all others are want.
func oneWinner(t *testing.T, what string, errs []error, want error) int {
	t.Helper()
	winner, ok := -1, 0
	for i, err := range errs {
		switch {
		case err == nil:
			winner = i
			ok++
		case !errors.Is(err, want):
			t.Errorf("%s: racer %d: err = %v, want nil or %v", what, i, err, want)
		}
	}
	if ok != 1 {
		t.Fatalf("%s: %d of %d racers succeeded, want exactly 1", what, ok, len(errs))
	}
	return winner
}

// ---------------------------------------------------------------------------
// Accounts

func testFirstAccount(t *testing.T, s store.Store) {
	n, err := s.CountAccounts(ctx)
	must(t, "count", err)
	equal(t, "accounts in an empty store", n, 0)

	a := account("first@example.org")
	a.InstanceAdmin = true
	h := domain.Home{ID: domain.NewID(), Name: "First home", CreatedAt: at(time.Second)}
	must(t, "first account", s.CreateFirstAccount(ctx, a, h))

	got, err := s.Account(ctx, a.ID)
	must(t, "account", err)
	equal(t, "account", got, a)
	gotHome, err := s.Home(ctx, h.ID)
	must(t, "home", err)
	equal(t, "home", gotHome, h)
	m, err := s.Membership(ctx, h.ID, a.ID)
	must(t, "membership", err)
	equal(t, "role", m.Role, domain.RoleOwner)
	homes, err := s.Homes(ctx, a.ID)
	must(t, "homes", err)
	equal(t, "homes of the first account", homes, []domain.HomeView{{Home: h, Role: domain.RoleOwner}})
	n, err = s.CountAccounts(ctx)
	must(t, "count", err)
	equal(t, "accounts", n, 1)

	// A second setup is refused and leaves nothing behind.
	b := account("second@example.org")
	h2 := domain.Home{ID: domain.NewID(), Name: "Second", CreatedAt: at(0)}
	mustErr(t, "second first account", s.CreateFirstAccount(ctx, b, h2), store.ErrNotEmpty)
	_, err = s.Account(ctx, b.ID)
	mustErr(t, "account of a refused setup", err, store.ErrNotFound)
	_, err = s.AccountByEmail(ctx, b.Email)
	mustErr(t, "account of a refused setup by email", err, store.ErrNotFound)
	_, err = s.Home(ctx, h2.ID)
	mustErr(t, "home of a refused setup", err, store.ErrNotFound)
	n, _ = s.CountAccounts(ctx)
	equal(t, "accounts after a refused setup", n, 1)
}

func testFirstAccountAfterCreateAccount(t *testing.T, s store.Store) {
	mustAccount(t, s, "early@example.org")
	h := domain.Home{ID: domain.NewID(), Name: "x", CreatedAt: at(0)}
	mustErr(t, "setup with an account present", s.CreateFirstAccount(ctx, account("late@example.org"), h), store.ErrNotEmpty)
	_, err := s.Home(ctx, h.ID)
	mustErr(t, "home of a refused setup", err, store.ErrNotFound)
}

func testFirstAccountRace(t *testing.T, s store.Store) {
	const n = 8
	accounts := make([]domain.Account, n)
	homes := make([]domain.Home, n)
	for i := range n {
		accounts[i] = account(fmt.Sprintf("racer%d@example.org", i))
		homes[i] = domain.Home{ID: domain.NewID(), Name: fmt.Sprintf("home %d", i), CreatedAt: at(0)}
	}
	errs := race(n, func(i int) error { return s.CreateFirstAccount(ctx, accounts[i], homes[i]) })
	w := oneWinner(t, "racing setups", errs, store.ErrNotEmpty)
	c, err := s.CountAccounts(ctx)
	must(t, "count", err)
	equal(t, "accounts after the race", c, 1)
	for i := range n {
		_, errA := s.Account(ctx, accounts[i].ID)
		_, errH := s.Home(ctx, homes[i].ID)
		if i == w {
			must(t, "winner's account", errA)
			must(t, "winner's home", errH)
			m, err := s.Membership(ctx, homes[i].ID, accounts[i].ID)
			must(t, "winner's membership", err)
			equal(t, "winner's role", m.Role, domain.RoleOwner)
		} else {
			mustErr(t, "loser's account", errA, store.ErrNotFound)
			mustErr(t, "loser's home", errH, store.ErrNotFound)
		}
	}
}

func testAccounts(t *testing.T, s store.Store) {
	a := account(domain.NormalizeEmail(" Ana@Example.ORG "))
	must(t, "create", s.CreateAccount(ctx, a))
	b := mustAccount(t, s, "bob@example.org")

	dup := account(domain.NormalizeEmail("ANA@example.org"))
	mustErr(t, "same email again", s.CreateAccount(ctx, dup), store.ErrConflict)
	_, err := s.Account(ctx, dup.ID)
	mustErr(t, "refused account", err, store.ErrNotFound)
	mustErr(t, "same id again", s.CreateAccount(ctx, domain.Account{ID: a.ID, Email: "other@example.org", CreatedAt: at(0)}), store.ErrConflict)

	got, err := s.Account(ctx, a.ID)
	must(t, "by id", err)
	equal(t, "account by id", got, a)
	got, err = s.AccountByEmail(ctx, "ana@example.org")
	must(t, "by email", err)
	equal(t, "account by email", got, a)

	_, err = s.Account(ctx, domain.NewID())
	mustErr(t, "unknown id", err, store.ErrNotFound)
	_, err = s.AccountByEmail(ctx, "nobody@example.org")
	mustErr(t, "unknown email", err, store.ErrNotFound)

	n, err := s.CountAccounts(ctx)
	must(t, "count", err)
	equal(t, "count", n, 2)

	// Every mutable field round-trips, one way and back.
	u := got
	u.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$bmV3$bmV3"
	u.InstanceAdmin, u.Disabled = true, true
	u.TOTPSecret, u.TOTPEnabled = "JBSWY3DPEHPK3PXP", true
	must(t, "update", s.UpdateAccount(ctx, u))
	got, err = s.Account(ctx, a.ID)
	must(t, "reload", err)
	equal(t, "updated account", got, u)
	got, err = s.AccountByEmail(ctx, a.Email)
	must(t, "reload by email", err)
	equal(t, "updated account by email", got, u)

	u.PasswordHash = "" // passkey-only
	u.InstanceAdmin, u.Disabled = false, false
	u.TOTPSecret, u.TOTPEnabled = "", false
	must(t, "update back", s.UpdateAccount(ctx, u))
	got, err = s.Account(ctx, a.ID)
	must(t, "reload", err)
	equal(t, "account updated back", got, u)

	// Other accounts are untouched.
	got, err = s.Account(ctx, b.ID)
	must(t, "bob", err)
	equal(t, "bob after ana's updates", got, b)

	mustErr(t, "update unknown", s.UpdateAccount(ctx, account("ghost@example.org")), store.ErrNotFound)
	n, _ = s.CountAccounts(ctx)
	equal(t, "count after updates", n, 2)
}

func testAccountTimes(t *testing.T, s store.Store) {
	// Sub-microsecond digits and a non-UTC zone on the way in; microsecond
	// precision and UTC on the way out.
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	in := time.Date(2026, 7, 8, 9, 10, 11, 123456000, zone)
	a := account("times@example.org")
	a.CreatedAt = in.Add(234 * time.Nanosecond)
	must(t, "create", s.CreateAccount(ctx, a))
	got, err := s.Account(ctx, a.ID)
	must(t, "account", err)
	sameTime(t, "created at", got.CreatedAt, in)
	if got.CreatedAt.Location() != time.UTC {
		t.Fatalf("created at in %v, want UTC", got.CreatedAt.Location())
	}
}

// ---------------------------------------------------------------------------
// Recovery codes

func testRecoveryCodes(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "codes@example.org")
	other := mustAccount(t, s, "other@example.org")

	n, err := s.CountRecoveryCodes(ctx, a.ID)
	must(t, "count", err)
	equal(t, "codes before any were set", n, 0)
	mustErr(t, "use with none set", s.UseRecoveryCode(ctx, a.ID, []byte("x")), store.ErrNotFound)

	codes := [][]byte{[]byte("code-1"), []byte("code-2"), []byte("code-3"), {0, 1, 2, 255}}
	must(t, "set", s.SetRecoveryCodes(ctx, a.ID, codes))
	must(t, "set other", s.SetRecoveryCodes(ctx, other.ID, [][]byte{[]byte("other-1")}))
	n, err = s.CountRecoveryCodes(ctx, a.ID)
	must(t, "count", err)
	equal(t, "codes", n, 4)

	mustErr(t, "someone else's code", s.UseRecoveryCode(ctx, other.ID, codes[0]), store.ErrNotFound)
	mustErr(t, "code of another account", s.UseRecoveryCode(ctx, a.ID, []byte("other-1")), store.ErrNotFound)
	must(t, "use", s.UseRecoveryCode(ctx, a.ID, codes[0]))
	mustErr(t, "use twice", s.UseRecoveryCode(ctx, a.ID, codes[0]), store.ErrNotFound)
	mustErr(t, "wrong code", s.UseRecoveryCode(ctx, a.ID, []byte("nope")), store.ErrNotFound)
	must(t, "use binary code", s.UseRecoveryCode(ctx, a.ID, codes[3]))
	n, _ = s.CountRecoveryCodes(ctx, a.ID)
	equal(t, "codes left", n, 2)
	n, _ = s.CountRecoveryCodes(ctx, other.ID)
	equal(t, "other's codes", n, 1)

	// Setting replaces the whole set, used and unused.
	fresh := [][]byte{[]byte("fresh-1"), []byte("fresh-2")}
	must(t, "replace", s.SetRecoveryCodes(ctx, a.ID, fresh))
	n, _ = s.CountRecoveryCodes(ctx, a.ID)
	equal(t, "codes after replace", n, 2)
	mustErr(t, "old unused code after replace", s.UseRecoveryCode(ctx, a.ID, codes[1]), store.ErrNotFound)
	mustErr(t, "old used code after replace", s.UseRecoveryCode(ctx, a.ID, codes[0]), store.ErrNotFound)
	must(t, "new code", s.UseRecoveryCode(ctx, a.ID, fresh[1]))
	n, _ = s.CountRecoveryCodes(ctx, other.ID)
	equal(t, "other's codes after replace", n, 1)

	// An empty set removes them all.
	must(t, "clear", s.SetRecoveryCodes(ctx, a.ID, nil))
	n, _ = s.CountRecoveryCodes(ctx, a.ID)
	equal(t, "codes after clear", n, 0)
	mustErr(t, "code after clear", s.UseRecoveryCode(ctx, a.ID, fresh[0]), store.ErrNotFound)
}

func testRecoveryCodeRace(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "codes@example.org")
	code := []byte("the-code")
	must(t, "set", s.SetRecoveryCodes(ctx, a.ID, [][]byte{code, []byte("spare")}))
	errs := race(8, func(int) error { return s.UseRecoveryCode(ctx, a.ID, code) })
	oneWinner(t, "racing uses of one code", errs, store.ErrNotFound)
	n, err := s.CountRecoveryCodes(ctx, a.ID)
	must(t, "count", err)
	equal(t, "codes after the race", n, 1)
}

func testTOTPSteps(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "steps@example.org")
	b := mustAccount(t, s, "other@example.org")
	step := at(0).Unix() / 30
	must(t, "first use", s.UseTOTPStep(ctx, a.ID, step))
	mustErr(t, "same step again", s.UseTOTPStep(ctx, a.ID, step), store.ErrConflict)
	mustErr(t, "earlier step", s.UseTOTPStep(ctx, a.ID, step-1), store.ErrConflict)
	must(t, "same step, other account", s.UseTOTPStep(ctx, b.ID, step))
	must(t, "later step", s.UseTOTPStep(ctx, a.ID, step+1))
	mustErr(t, "the step before the latest", s.UseTOTPStep(ctx, a.ID, step), store.ErrConflict)
	mustErr(t, "unknown account", s.UseTOTPStep(ctx, domain.NewID(), step), store.ErrNotFound)
	// Updating the account (as enrolment does) keeps the last step.
	got, err := s.Account(ctx, a.ID)
	must(t, "load", err)
	must(t, "update", s.UpdateAccount(ctx, got))
	mustErr(t, "step after update", s.UseTOTPStep(ctx, a.ID, step+1), store.ErrConflict)
}

func testTOTPStepRace(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "steprace@example.org")
	errs := race(8, func(int) error { return s.UseTOTPStep(ctx, a.ID, 1000) })
	oneWinner(t, "racing uses of one step", errs, store.ErrConflict)
}

// ---------------------------------------------------------------------------
// Homes and memberships

func testHomes(t *testing.T, s store.Store) {
	ana, home := accountHome(t, s, "ana@example.org")
	bob, bobHome := accountHome(t, s, "bob@example.org")
	cleo := mustAccount(t, s, "cleo@example.org")

	got, err := s.Home(ctx, home.ID)
	must(t, "home", err)
	equal(t, "home", got, home)
	_, err = s.Home(ctx, domain.NewID())
	mustErr(t, "unknown home", err, store.ErrNotFound)
	mustErr(t, "same home id", s.CreateHome(ctx, domain.Home{ID: home.ID, Name: "again", CreatedAt: at(0)}, cleo.ID), store.ErrConflict)
	homes, _ := s.Homes(ctx, cleo.ID)
	equal(t, "cleo's homes after a refused create", len(homes), 0)

	m, err := s.Membership(ctx, home.ID, ana.ID)
	must(t, "owner membership", err)
	equal(t, "owner role", m.Role, domain.RoleOwner)
	if len(m.Cameras) != 0 || len(m.Actions) != 0 || !m.Until.IsZero() || !m.HistoryFrom.IsZero() {
		t.Fatalf("a new home's owner has limits: %+v", m)
	}

	homes, err = s.Homes(ctx, ana.ID)
	must(t, "homes", err)
	equal(t, "ana's homes", homes, []domain.HomeView{{Home: home, Role: domain.RoleOwner}})

	// Ana creates a second home; bob joins hers as a guest.
	second := domain.Home{ID: domain.NewID(), Name: "Cabin", CreatedAt: at(2 * time.Minute)}
	must(t, "second home", s.CreateHome(ctx, second, ana.ID))
	join(t, s, home.ID, ana.ID, bob.ID, domain.RoleGuest)

	homes, err = s.Homes(ctx, ana.ID)
	must(t, "homes", err)
	key := func(v domain.HomeView) string { return string(v.ID) }
	equal(t, "ana's homes", sorted(homes, key), sorted([]domain.HomeView{
		{Home: home, Role: domain.RoleOwner}, {Home: second, Role: domain.RoleOwner}}, key))
	homes, err = s.Homes(ctx, bob.ID)
	must(t, "homes", err)
	equal(t, "bob's homes", sorted(homes, key), sorted([]domain.HomeView{
		{Home: home, Role: domain.RoleGuest}, {Home: bobHome, Role: domain.RoleOwner}}, key))
	homes, err = s.Homes(ctx, cleo.ID)
	must(t, "homes", err)
	equal(t, "cleo's homes", len(homes), 0)
}

func testMemberships(t *testing.T, s store.Store) {
	ana, home := accountHome(t, s, "ana@example.org")
	bob, bobHome := accountHome(t, s, "bob@example.org")
	cleo := mustAccount(t, s, "cleo@example.org")

	_, err := s.Membership(ctx, home.ID, bob.ID)
	mustErr(t, "bob in ana's home", err, store.ErrNotFound)
	_, err = s.Membership(ctx, domain.NewID(), ana.ID)
	mustErr(t, "unknown home", err, store.ErrNotFound)
	_, err = s.Membership(ctx, home.ID, domain.NewID())
	mustErr(t, "unknown account", err, store.ErrNotFound)

	join(t, s, home.ID, ana.ID, bob.ID, domain.RoleMember)
	join(t, s, home.ID, ana.ID, cleo.ID, domain.RoleGuest)

	members, err := s.Members(ctx, home.ID)
	must(t, "members", err)
	if len(members) != 3 {
		t.Fatalf("members: %+v", members)
	}
	want := map[domain.ID]struct {
		email string
		role  domain.Role
	}{ana.ID: {ana.Email, domain.RoleOwner}, bob.ID: {bob.Email, domain.RoleMember}, cleo.ID: {cleo.Email, domain.RoleGuest}}
	for _, mv := range members {
		w, ok := want[mv.AccountID]
		if !ok || mv.HomeID != home.ID || mv.Email != w.email || mv.Role != w.role {
			t.Fatalf("member %+v, want %+v", mv, w)
		}
		delete(want, mv.AccountID)
		m, err := s.Membership(ctx, home.ID, mv.AccountID)
		must(t, "membership", err)
		equal(t, "member view's membership", mv.Membership, m)
	}
	members, err = s.Members(ctx, bobHome.ID)
	must(t, "members", err)
	if len(members) != 1 || members[0].AccountID != bob.ID || members[0].Email != bob.Email || members[0].Role != domain.RoleOwner {
		t.Fatalf("bob's home members: %+v", members)
	}

	// Limits round-trip, set and cleared.
	m, err := s.Membership(ctx, home.ID, cleo.ID)
	must(t, "cleo", err)
	m.Role = domain.RoleGuest
	m.Cameras = []domain.CameraRef{{Camera: domain.NewID(), Generation: 1}, {Camera: domain.NewID(), Generation: 1 << 40}}
	m.Actions = []domain.Action{domain.ActionLive, domain.ActionPlayback, domain.ActionPTZ}
	m.Until = at(72 * time.Hour)
	m.HistoryFrom = at(-48 * time.Hour)
	must(t, "update", s.UpdateMembership(ctx, m))
	got, err := s.Membership(ctx, home.ID, cleo.ID)
	must(t, "reload", err)
	equal(t, "limited membership", got, m)
	sameTime(t, "until", got.Until, m.Until)
	sameTime(t, "history from", got.HistoryFrom, m.HistoryFrom)

	m.Role, m.Cameras, m.Actions, m.Until, m.HistoryFrom = domain.RoleAdmin, nil, nil, time.Time{}, time.Time{}
	must(t, "clear limits", s.UpdateMembership(ctx, m))
	got, err = s.Membership(ctx, home.ID, cleo.ID)
	must(t, "reload", err)
	equal(t, "membership without limits", got, m)
	if !got.Until.IsZero() || !got.HistoryFrom.IsZero() {
		t.Fatalf("cleared times are not zero: until %v, history from %v", got.Until, got.HistoryFrom)
	}

	// Promotion to owner and back.
	m.Role = domain.RoleOwner
	must(t, "promote", s.UpdateMembership(ctx, m))
	equal(t, "owners", owners(t, s, home.ID), 2)
	m.Role = domain.RoleMember
	must(t, "demote one of two owners", s.UpdateMembership(ctx, m))
	equal(t, "owners", owners(t, s, home.ID), 1)

	mustErr(t, "update a non-member", s.UpdateMembership(ctx, domain.Membership{HomeID: bobHome.ID, AccountID: ana.ID, Role: domain.RoleGuest}), store.ErrNotFound)
	_, err = s.Membership(ctx, bobHome.ID, ana.ID)
	mustErr(t, "update did not create a membership", err, store.ErrNotFound)

	must(t, "remove bob", s.DeleteMembership(ctx, home.ID, bob.ID))
	_, err = s.Membership(ctx, home.ID, bob.ID)
	mustErr(t, "removed membership", err, store.ErrNotFound)
	mustErr(t, "remove again", s.DeleteMembership(ctx, home.ID, bob.ID), store.ErrNotFound)
	mustErr(t, "remove from unknown home", s.DeleteMembership(ctx, domain.NewID(), bob.ID), store.ErrNotFound)
	_, err = s.Membership(ctx, bobHome.ID, bob.ID)
	must(t, "bob's own home survives", err)
	homes, _ := s.Homes(ctx, bob.ID)
	equal(t, "bob's homes after removal", len(homes), 1)
}

func testLastOwner(t *testing.T, s store.Store) {
	ana, home := accountHome(t, s, "ana@example.org")
	m, err := s.Membership(ctx, home.ID, ana.ID)
	must(t, "membership", err)
	for _, r := range []domain.Role{domain.RoleAdmin, domain.RoleMember, domain.RoleGuest} {
		d := m
		d.Role = r
		mustErr(t, "demote the last owner to "+string(r), s.UpdateMembership(ctx, d), store.ErrLastOwner)
	}
	mustErr(t, "remove the last owner", s.DeleteMembership(ctx, home.ID, ana.ID), store.ErrLastOwner)
	got, err := s.Membership(ctx, home.ID, ana.ID)
	must(t, "membership after refusals", err)
	equal(t, "role after refusals", got.Role, domain.RoleOwner)

	// An owner may keep being an owner while other fields change.
	m.Until = at(time.Hour)
	must(t, "update the last owner without demoting", s.UpdateMembership(ctx, m))

	// Owners of other homes do not count.
	bob, _ := accountHome(t, s, "bob@example.org")
	join(t, s, home.ID, ana.ID, bob.ID, domain.RoleAdmin)
	m.Role = domain.RoleAdmin
	mustErr(t, "demote with only an admin left", s.UpdateMembership(ctx, m), store.ErrLastOwner)

	// With a second owner, one may go.
	cleo := mustAccount(t, s, "cleo@example.org")
	join(t, s, home.ID, ana.ID, cleo.ID, domain.RoleOwner)
	must(t, "demote one of two owners", s.UpdateMembership(ctx, m))
	mustErr(t, "remove the remaining owner", s.DeleteMembership(ctx, home.ID, cleo.ID), store.ErrLastOwner)
	cm, _ := s.Membership(ctx, home.ID, cleo.ID)
	cm.Role = domain.RoleMember
	mustErr(t, "demote the remaining owner", s.UpdateMembership(ctx, cm), store.ErrLastOwner)
	// Non-owners may leave freely.
	must(t, "remove the demoted owner", s.DeleteMembership(ctx, home.ID, ana.ID))
	must(t, "remove the admin", s.DeleteMembership(ctx, home.ID, bob.ID))
	equal(t, "owners", owners(t, s, home.ID), 1)
}

func testLastOwnerRace(t *testing.T, s store.Store) {
	type leave func(home, account domain.ID) error
	remove := func(home, account domain.ID) error { return s.DeleteMembership(ctx, home, account) }
	demote := func(home, account domain.ID) error {
		m, err := s.Membership(ctx, home, account)
		if err != nil {
			return err
		}
		m.Role = domain.RoleMember
		return s.UpdateMembership(ctx, m)
	}
	for round, ways := range [][2]leave{{remove, remove}, {remove, demote}, {demote, demote}, {remove, remove}, {demote, remove}} {
		ana, home := accountHome(t, s, fmt.Sprintf("ana%d@example.org", round))
		bob := mustAccount(t, s, fmt.Sprintf("bob%d@example.org", round))
		join(t, s, home.ID, ana.ID, bob.ID, domain.RoleOwner)
		ids := [2]domain.ID{ana.ID, bob.ID}
		errs := race(2, func(i int) error { return ways[i](home.ID, ids[i]) })
		what := fmt.Sprintf("round %d: two owners leaving at once", round)
		oneWinner(t, what, errs, store.ErrLastOwner)
		if n := owners(t, s, home.ID); n != 1 {
			t.Fatalf("%s: %d owners left, want 1", what, n)
		}
	}
}

// ---------------------------------------------------------------------------
// Invitations

func testInvites(t *testing.T, s store.Store) {
	ana, home := accountHome(t, s, "ana@example.org")
	bob := mustAccount(t, s, "bob@example.org")
	cleo := mustAccount(t, s, "cleo@example.org")

	cams := []domain.CameraRef{{Camera: domain.NewID(), Generation: 3}, {Camera: domain.NewID(), Generation: 1}}
	inv := domain.Invite{ID: domain.NewID(), TokenHash: []byte{0xde, 0xad, 0, 0xbe, 0xef}, HomeID: home.ID, Role: domain.RoleGuest,
		Cameras: cams, Actions: []domain.Action{domain.ActionLive, domain.ActionPlayback}, AccessUntil: at(48 * time.Hour),
		NoHistory: true, ExpiresAt: at(24 * time.Hour), CreatedBy: ana.ID, CreatedAt: at(0)}
	must(t, "create", s.CreateInvite(ctx, inv))
	mustErr(t, "same token hash", s.CreateInvite(ctx, domain.Invite{ID: domain.NewID(), TokenHash: inv.TokenHash, HomeID: home.ID,
		Role: domain.RoleMember, ExpiresAt: at(time.Hour), CreatedBy: ana.ID, CreatedAt: at(0)}), store.ErrConflict)
	mustErr(t, "same id", s.CreateInvite(ctx, domain.Invite{ID: inv.ID, TokenHash: []byte("other"), HomeID: home.ID,
		Role: domain.RoleMember, ExpiresAt: at(time.Hour), CreatedBy: ana.ID, CreatedAt: at(0)}), store.ErrConflict)

	got, err := s.InviteByTokenHash(ctx, inv.TokenHash)
	must(t, "lookup", err)
	equal(t, "invite", got, inv)
	_, err = s.InviteByTokenHash(ctx, []byte("unknown"))
	mustErr(t, "unknown invite", err, store.ErrNotFound)

	_, err = s.AcceptInvite(ctx, []byte("unknown"), bob.ID, at(time.Minute))
	mustErr(t, "accept unknown", err, store.ErrNotFound)
	_, err = s.AcceptInvite(ctx, inv.TokenHash, bob.ID, at(24*time.Hour))
	mustErr(t, "accept at expiry", err, store.ErrNotFound)
	_, err = s.AcceptInvite(ctx, inv.TokenHash, bob.ID, at(25*time.Hour))
	mustErr(t, "accept after expiry", err, store.ErrNotFound)
	_, err = s.AcceptInvite(ctx, inv.TokenHash, ana.ID, at(time.Minute))
	mustErr(t, "accept as an existing member", err, store.ErrConflict)

	// Refused accepts did not use the invitation or create memberships.
	got, err = s.InviteByTokenHash(ctx, inv.TokenHash)
	must(t, "lookup", err)
	equal(t, "invite after refused accepts", got, inv)
	_, err = s.Membership(ctx, home.ID, bob.ID)
	mustErr(t, "membership after refused accepts", err, store.ErrNotFound)
	m, err := s.Membership(ctx, home.ID, ana.ID)
	must(t, "ana", err)
	equal(t, "ana's role after her refused accept", m.Role, domain.RoleOwner)

	now := at(time.Hour)
	m, err = s.AcceptInvite(ctx, inv.TokenHash, bob.ID, now)
	must(t, "accept", err)
	want := domain.Membership{HomeID: home.ID, AccountID: bob.ID, Role: domain.RoleGuest, Cameras: cams,
		Actions: inv.Actions, Until: inv.AccessUntil, HistoryFrom: now, CreatedAt: m.CreatedAt}
	equal(t, "accepted membership", m, want)
	sameTime(t, "history from", m.HistoryFrom, now)
	stored, err := s.Membership(ctx, home.ID, bob.ID)
	must(t, "membership", err)
	equal(t, "stored membership", stored, m)

	_, err = s.AcceptInvite(ctx, inv.TokenHash, cleo.ID, at(2*time.Hour))
	mustErr(t, "accept a used invite", err, store.ErrConflict)
	_, err = s.AcceptInvite(ctx, inv.TokenHash, bob.ID, at(2*time.Hour))
	mustErr(t, "accept a used invite again", err, store.ErrConflict)
	_, err = s.Membership(ctx, home.ID, cleo.ID)
	mustErr(t, "membership from a used invite", err, store.ErrNotFound)

	got, err = s.InviteByTokenHash(ctx, inv.TokenHash)
	must(t, "lookup used invite", err)
	used := inv
	used.UsedAt, used.UsedBy = now, bob.ID
	equal(t, "used invite", got, used)
}

func testInviteLimits(t *testing.T, s store.Store) {
	ana, home := accountHome(t, s, "ana@example.org")
	bob := mustAccount(t, s, "bob@example.org")

	// Without limits or NoHistory, the membership has none.
	inv := domain.Invite{ID: domain.NewID(), TokenHash: []byte("plain"), HomeID: home.ID, Role: domain.RoleMember,
		ExpiresAt: at(time.Hour), CreatedBy: ana.ID, CreatedAt: at(0)}
	must(t, "create", s.CreateInvite(ctx, inv))
	got, err := s.InviteByTokenHash(ctx, inv.TokenHash)
	must(t, "lookup", err)
	equal(t, "invite without limits", got, inv)
	if !got.AccessUntil.IsZero() || !got.UsedAt.IsZero() || got.UsedBy != "" || got.NoHistory {
		t.Fatalf("unset invite fields came back set: %+v", got)
	}
	m, err := s.AcceptInvite(ctx, inv.TokenHash, bob.ID, at(time.Minute))
	must(t, "accept", err)
	if m.Role != domain.RoleMember || len(m.Cameras) != 0 || len(m.Actions) != 0 || !m.Until.IsZero() || !m.HistoryFrom.IsZero() {
		t.Fatalf("membership from an unlimited invite: %+v", m)
	}
	if m.HomeID != home.ID || m.AccountID != bob.ID {
		t.Fatalf("membership from an invite names the wrong home or account: %+v", m)
	}
}

func testInviteRace(t *testing.T, s store.Store) {
	ana, home := accountHome(t, s, "ana@example.org")

	// Several accounts race for one invitation.
	inv := invite(t, s, home.ID, ana.ID, domain.RoleGuest)
	const n = 6
	accounts := make([]domain.Account, n)
	for i := range accounts {
		accounts[i] = mustAccount(t, s, fmt.Sprintf("guest%d@example.org", i))
	}
	errs := race(n, func(i int) error {
		_, err := s.AcceptInvite(ctx, inv.TokenHash, accounts[i].ID, at(time.Minute))
		return err
	})
	w := oneWinner(t, "racing accepts", errs, store.ErrConflict)
	members, err := s.Members(ctx, home.ID)
	must(t, "members", err)
	equal(t, "members after the race", len(members), 2)
	got, err := s.InviteByTokenHash(ctx, inv.TokenHash)
	must(t, "invite", err)
	equal(t, "used by", got.UsedBy, accounts[w].ID)

	// Two invitations race for one account: it joins once.
	bob := mustAccount(t, s, "bob@example.org")
	invs := [2]domain.Invite{invite(t, s, home.ID, ana.ID, domain.RoleMember), invite(t, s, home.ID, ana.ID, domain.RoleGuest)}
	errs = race(2, func(i int) error {
		_, err := s.AcceptInvite(ctx, invs[i].TokenHash, bob.ID, at(time.Minute))
		return err
	})
	w = oneWinner(t, "one account accepting two invites", errs, store.ErrConflict)
	m, err := s.Membership(ctx, home.ID, bob.ID)
	must(t, "bob's membership", err)
	equal(t, "bob's role", m.Role, invs[w].Role)
	loser, err := s.InviteByTokenHash(ctx, invs[1-w].TokenHash)
	must(t, "losing invite", err)
	if !loser.UsedAt.IsZero() || loser.UsedBy != "" {
		t.Fatalf("the refused invite was used up: %+v", loser)
	}
}

// ---------------------------------------------------------------------------
// Cameras

func testCameras(t *testing.T, s store.Store) {
	_, home := accountHome(t, s, "ana@example.org")
	_, other := accountHome(t, s, "bob@example.org")
	c1 := domain.Camera{ID: domain.NewID(), HomeID: home.ID, Name: "Porch", Generation: 1, State: domain.CameraStateRegistered, CreatedAt: at(0)}
	c2 := domain.Camera{ID: domain.NewID(), HomeID: home.ID, Name: "Garden", Generation: 7, State: domain.CameraStateActive, CreatedAt: at(time.Second)}
	c3 := domain.Camera{ID: domain.NewID(), HomeID: other.ID, Name: "Bob's", Generation: 1 << 40, State: domain.CameraStateDisabled, CreatedAt: at(0)}
	for _, c := range []domain.Camera{c1, c2, c3} {
		must(t, "create camera", s.CreateCamera(ctx, c))
	}
	mustErr(t, "same id", s.CreateCamera(ctx, c1), store.ErrConflict)

	got, err := s.Camera(ctx, c2.ID)
	must(t, "camera", err)
	equal(t, "camera", got, c2)
	got, err = s.Camera(ctx, c3.ID)
	must(t, "camera", err)
	equal(t, "camera with a large generation", got, c3)
	_, err = s.Camera(ctx, domain.NewID())
	mustErr(t, "unknown camera", err, store.ErrNotFound)

	key := func(c domain.Camera) string { return string(c.ID) }
	list, err := s.Cameras(ctx, home.ID)
	must(t, "cameras", err)
	equal(t, "cameras of the home", sorted(list, key), sorted([]domain.Camera{c1, c2}, key))
	list, err = s.Cameras(ctx, other.ID)
	must(t, "cameras", err)
	equal(t, "cameras of the other home", list, []domain.Camera{c3})
	list, err = s.Cameras(ctx, domain.NewID())
	must(t, "cameras of an unknown home", err)
	equal(t, "cameras of an unknown home", len(list), 0)

	must(t, "rename", s.RenameCamera(ctx, c1.ID, "Front door"))
	got, err = s.Camera(ctx, c1.ID)
	must(t, "camera", err)
	c1.Name = "Front door"
	equal(t, "renamed camera", got, c1)
	mustErr(t, "rename unknown", s.RenameCamera(ctx, domain.NewID(), "x"), store.ErrNotFound)

	must(t, "delete", s.DeleteCamera(ctx, c1.ID))
	_, err = s.Camera(ctx, c1.ID)
	mustErr(t, "deleted camera", err, store.ErrNotFound)
	mustErr(t, "delete again", s.DeleteCamera(ctx, c1.ID), store.ErrNotFound)
	mustErr(t, "delete unknown", s.DeleteCamera(ctx, domain.NewID()), store.ErrNotFound)
	mustErr(t, "rename deleted", s.RenameCamera(ctx, c1.ID, "y"), store.ErrNotFound)
	list, _ = s.Cameras(ctx, home.ID)
	equal(t, "cameras after delete", list, []domain.Camera{c2})
	list, _ = s.Cameras(ctx, other.ID)
	equal(t, "other home's cameras after delete", list, []domain.Camera{c3})
}

// ---------------------------------------------------------------------------
// Sessions

func testSessions(t *testing.T, s store.Store) {
	ana := mustAccount(t, s, "ana@example.org")
	bob := mustAccount(t, s, "bob@example.org")
	mk := func(a domain.ID, hash string, kind domain.SessionKind, created time.Duration) domain.Session {
		t.Helper()
		x := domain.Session{ID: domain.NewID(), TokenHash: []byte(hash), AccountID: a, Kind: kind, Name: "label " + hash,
			CreatedAt: at(created), LastSeen: at(created), ExpiresAt: at(created + 24*time.Hour), Client: "192.0.2.1", UserAgent: "test/1"}
		must(t, "create session", s.CreateSession(ctx, x))
		return x
	}
	s1 := mk(ana.ID, "h1", domain.SessionBrowser, 0)
	s2 := mk(ana.ID, "h2", domain.SessionAPIToken, time.Minute)
	s3 := mk(ana.ID, "h3", domain.SessionBrowser, 2*time.Minute)
	s4 := mk(ana.ID, "h4", domain.SessionAPIToken, 3*time.Minute)
	b1 := mk(bob.ID, "hb", domain.SessionBrowser, 0)
	mustErr(t, "same token hash", s.CreateSession(ctx, domain.Session{ID: domain.NewID(), TokenHash: []byte("h1"), AccountID: bob.ID,
		Kind: domain.SessionBrowser, CreatedAt: at(0), LastSeen: at(0), ExpiresAt: at(time.Hour)}), store.ErrConflict)
	mustErr(t, "same id", s.CreateSession(ctx, domain.Session{ID: s1.ID, TokenHash: []byte("fresh"), AccountID: ana.ID,
		Kind: domain.SessionBrowser, CreatedAt: at(0), LastSeen: at(0), ExpiresAt: at(time.Hour)}), store.ErrConflict)

	for _, x := range []domain.Session{s1, s2, s3, s4, b1} {
		got, err := s.SessionByTokenHash(ctx, x.TokenHash)
		must(t, "by hash", err)
		equal(t, "session", got, x)
	}
	_, err := s.SessionByTokenHash(ctx, []byte("nope"))
	mustErr(t, "unknown hash", err, store.ErrNotFound)

	must(t, "touch", s.TouchSession(ctx, s1.ID, at(time.Hour+time.Microsecond)))
	got, err := s.SessionByTokenHash(ctx, s1.TokenHash)
	must(t, "by hash", err)
	s1.LastSeen = at(time.Hour + time.Microsecond)
	equal(t, "touched session", got, s1)
	sameTime(t, "last seen", got.LastSeen, s1.LastSeen)
	mustErr(t, "touch unknown", s.TouchSession(ctx, domain.NewID(), at(time.Hour)), store.ErrNotFound)

	if !got.ReauthAt.IsZero() {
		t.Fatalf("new session has a re-authentication time %v", got.ReauthAt)
	}
	must(t, "mark reauth", s.MarkReauth(ctx, ana.ID, s1.ID, at(time.Hour+2*time.Microsecond)))
	got, err = s.SessionByTokenHash(ctx, s1.TokenHash)
	must(t, "by hash", err)
	s1.ReauthAt = at(time.Hour + 2*time.Microsecond)
	equal(t, "re-authenticated session", got, s1)
	sameTime(t, "reauth at", got.ReauthAt, s1.ReauthAt)
	must(t, "touch after reauth", s.TouchSession(ctx, s1.ID, at(2*time.Hour)))
	got, _ = s.SessionByTokenHash(ctx, s1.TokenHash)
	s1.LastSeen = at(2 * time.Hour)
	equal(t, "touch keeps the reauth time", got, s1)
	mustErr(t, "mark another account's session", s.MarkReauth(ctx, bob.ID, s1.ID, at(time.Hour)), store.ErrNotFound)
	mustErr(t, "mark unknown session", s.MarkReauth(ctx, ana.ID, domain.NewID(), at(time.Hour)), store.ErrNotFound)
	got, _ = s.SessionByTokenHash(ctx, b1.TokenHash)
	equal(t, "bob's session is not marked", got, b1)
	x := domain.Session{ID: domain.NewID(), TokenHash: []byte("h6"), AccountID: ana.ID, Kind: domain.SessionBrowser,
		CreatedAt: at(0), LastSeen: at(0), ExpiresAt: at(time.Hour), ReauthAt: at(time.Second)}
	must(t, "create re-authenticated session", s.CreateSession(ctx, x))
	got, err = s.SessionByTokenHash(ctx, x.TokenHash)
	must(t, "by hash", err)
	equal(t, "session created re-authenticated", got, x)
	must(t, "delete", s.DeleteSession(ctx, ana.ID, x.ID))

	key := func(x domain.Session) string { return string(x.ID) }
	list, err := s.Sessions(ctx, ana.ID)
	must(t, "sessions", err)
	equal(t, "ana's sessions", sorted(list, key), sorted([]domain.Session{s1, s2, s3, s4}, key))
	list, err = s.Sessions(ctx, bob.ID)
	must(t, "sessions", err)
	equal(t, "bob's sessions", list, []domain.Session{b1})

	mustErr(t, "delete another account's session", s.DeleteSession(ctx, ana.ID, b1.ID), store.ErrNotFound)
	_, err = s.SessionByTokenHash(ctx, b1.TokenHash)
	must(t, "bob's session survives ana's delete", err)
	mustErr(t, "delete unknown session", s.DeleteSession(ctx, ana.ID, domain.NewID()), store.ErrNotFound)

	must(t, "delete own", s.DeleteSession(ctx, ana.ID, s2.ID))
	_, err = s.SessionByTokenHash(ctx, s2.TokenHash)
	mustErr(t, "deleted session", err, store.ErrNotFound)
	mustErr(t, "delete again", s.DeleteSession(ctx, ana.ID, s2.ID), store.ErrNotFound)

	// Browser sessions and API tokens alike go; keep and other accounts stay.
	n, err := s.DeleteOtherSessions(ctx, ana.ID, s3.ID)
	must(t, "delete others", err)
	equal(t, "sessions removed", n, 2)
	list, err = s.Sessions(ctx, ana.ID)
	must(t, "sessions", err)
	equal(t, "ana's sessions after delete others", list, []domain.Session{s3})
	list, _ = s.Sessions(ctx, bob.ID)
	equal(t, "bob's sessions after ana's delete others", list, []domain.Session{b1})
	n, err = s.DeleteOtherSessions(ctx, ana.ID, s3.ID)
	must(t, "delete others again", err)
	equal(t, "sessions removed the second time", n, 0)

	// keep that is not the account's own session protects nothing.
	n, err = s.DeleteOtherSessions(ctx, ana.ID, b1.ID)
	must(t, "delete others keeping a foreign id", err)
	equal(t, "sessions removed keeping a foreign id", n, 1)
	_, err = s.SessionByTokenHash(ctx, b1.TokenHash)
	must(t, "bob's session survives", err)
	list, _ = s.Sessions(ctx, ana.ID)
	equal(t, "ana's sessions at the end", len(list), 0)
}

// ---------------------------------------------------------------------------
// Credentials

// testCredentialsAddedSince: a password change's sweep removes exactly
// the account's passkeys added since a time by sessions other than keep.
func testCredentialsAddedSince(t *testing.T, s store.Store, ana, bob domain.ID) {
	t.Helper()
	keep, other := domain.NewID(), domain.NewID()
	mk := func(id string, acct, by domain.ID, created time.Duration) domain.Credential {
		c := domain.Credential{ID: []byte(id), AccountID: acct, Name: id, Data: []byte("d"), CreatedAt: at(created), AddedBy: by}
		must(t, "add "+id, s.AddCredential(ctx, c))
		return c
	}
	old := mk("sweep-old", ana, other, 10*time.Hour)
	mine := mk("sweep-mine", ana, keep, 20*time.Hour)
	theirs := mk("sweep-theirs", ana, other, 20*time.Hour)
	unknown := mk("sweep-unknown", ana, "", 21*time.Hour)
	bobs := mk("sweep-bob", bob, other, 20*time.Hour)
	got, err := s.CredentialByID(ctx, theirs.ID)
	must(t, "by id", err)
	equal(t, "credential with its session", got, theirs)

	gone, err := s.DeleteCredentialsAddedSince(ctx, ana, keep, at(20*time.Hour))
	must(t, "sweep", err)
	key := func(x domain.Credential) string { return string(x.ID) }
	equal(t, "swept", sorted(gone, key), sorted([]domain.Credential{theirs, unknown}, key))
	for _, c := range []domain.Credential{theirs, unknown} {
		_, err := s.CredentialByID(ctx, c.ID)
		mustErr(t, "swept "+c.Name, err, store.ErrNotFound)
	}
	for _, c := range []domain.Credential{old, mine, bobs} {
		_, err := s.CredentialByID(ctx, c.ID)
		must(t, "kept "+c.Name, err)
	}
	gone, err = s.DeleteCredentialsAddedSince(ctx, ana, keep, at(20*time.Hour))
	must(t, "sweep again", err)
	equal(t, "swept the second time", len(gone), 0)
	for _, c := range []domain.Credential{old, mine, bobs} {
		must(t, "clean up", s.DeleteCredential(ctx, c.AccountID, c.ID))
	}
}

func testCredentials(t *testing.T, s store.Store) {
	ana := mustAccount(t, s, "ana@example.org")
	bob := mustAccount(t, s, "bob@example.org")
	c := domain.Credential{ID: []byte{1, 2, 3, 0, 255}, AccountID: ana.ID, Name: "laptop", Data: []byte(`{"k":1}`), CreatedAt: at(0)}
	c2 := domain.Credential{ID: []byte{1, 2, 3, 0}, AccountID: ana.ID, Name: "phone", Data: []byte{0, 1, 2}, CreatedAt: at(time.Minute), LastUsed: at(2 * time.Minute)}
	cb := domain.Credential{ID: []byte("bob-key"), AccountID: bob.ID, Name: "key", Data: []byte("x"), CreatedAt: at(0)}
	for _, x := range []domain.Credential{c, c2, cb} {
		must(t, "add", s.AddCredential(ctx, x))
	}
	mustErr(t, "same id", s.AddCredential(ctx, domain.Credential{ID: c.ID, AccountID: bob.ID, Name: "x", Data: []byte("x"), CreatedAt: at(0)}), store.ErrConflict)
	testCredentialsAddedSince(t, s, ana.ID, bob.ID)

	got, err := s.CredentialByID(ctx, c.ID)
	must(t, "by id", err)
	equal(t, "credential", got, c)
	if !got.LastUsed.IsZero() {
		t.Fatalf("never used credential has last use %v", got.LastUsed)
	}
	got, err = s.CredentialByID(ctx, c2.ID)
	must(t, "by id (a prefix of another id)", err)
	equal(t, "credential", got, c2)
	_, err = s.CredentialByID(ctx, []byte{9})
	mustErr(t, "unknown", err, store.ErrNotFound)

	c.Data, c.LastUsed = []byte(`{"k":2}`), at(time.Hour)
	must(t, "update", s.UpdateCredential(ctx, c))
	got, err = s.CredentialByID(ctx, c.ID)
	must(t, "by id", err)
	equal(t, "updated credential", got, c)
	mustErr(t, "update unknown", s.UpdateCredential(ctx, domain.Credential{ID: []byte("ghost"), AccountID: ana.ID, Data: []byte("x"), LastUsed: at(0)}), store.ErrNotFound)

	key := func(x domain.Credential) string { return string(x.ID) }
	list, err := s.Credentials(ctx, ana.ID)
	must(t, "list", err)
	equal(t, "ana's credentials", sorted(list, key), sorted([]domain.Credential{c, c2}, key))
	list, err = s.Credentials(ctx, bob.ID)
	must(t, "list", err)
	equal(t, "bob's credentials", list, []domain.Credential{cb})

	mustErr(t, "bob deletes ana's passkey", s.DeleteCredential(ctx, bob.ID, c.ID), store.ErrNotFound)
	got, err = s.CredentialByID(ctx, c.ID)
	must(t, "ana's passkey survives bob's delete", err)
	equal(t, "ana's passkey after bob's delete", got, c)
	mustErr(t, "delete unknown", s.DeleteCredential(ctx, ana.ID, []byte("ghost")), store.ErrNotFound)

	must(t, "delete", s.DeleteCredential(ctx, ana.ID, c.ID))
	_, err = s.CredentialByID(ctx, c.ID)
	mustErr(t, "deleted", err, store.ErrNotFound)
	mustErr(t, "delete again", s.DeleteCredential(ctx, ana.ID, c.ID), store.ErrNotFound)
	list, _ = s.Credentials(ctx, ana.ID)
	equal(t, "ana's credentials after delete", list, []domain.Credential{c2})
	if !bytes.Equal(list[0].ID, c2.ID) {
		t.Fatalf("wrong credential survived: %x", list[0].ID)
	}
}

// ---------------------------------------------------------------------------
// Audit

func testAudit(t *testing.T, s store.Store) {
	homeA, homeB, cam, who := domain.NewID(), domain.NewID(), domain.NewID(), domain.NewID()
	var all []domain.AuditEvent // home A, oldest first
	for i := range 12 {
		e := domain.AuditEvent{ID: domain.NewID(), Time: at(time.Duration(i) * time.Second), HomeID: homeA,
			Principal: who, Action: "camera.view", Result: domain.ResultAllowed, Client: "192.0.2.9", Detail: fmt.Sprint("event ", i)}
		if i%2 == 0 {
			e.CameraID = cam
		}
		if i%3 == 0 {
			e.Action, e.Result, e.Principal = "live", domain.ResultDenied, ""
		}
		all = append(all, e)
	}
	// Append out of order: the listing orders by time, not by insertion.
	for _, i := range []int{5, 0, 11, 3, 1, 2, 10, 4, 6, 9, 8, 7} {
		must(t, "append", s.AppendAudit(ctx, all[i]))
	}
	eb := domain.AuditEvent{ID: domain.NewID(), Time: at(3 * time.Second), HomeID: homeB, CameraID: cam, Principal: who, Action: "live", Result: domain.ResultOK}
	must(t, "other home", s.AppendAudit(ctx, eb))
	login := domain.AuditEvent{ID: domain.NewID(), Time: at(4 * time.Second), Principal: who, Action: "login", Result: domain.ResultFailed, Client: "198.51.100.7", Detail: "bad password"}
	must(t, "no home", s.AppendAudit(ctx, login))

	// want returns home A's events matching keep, newest first.
	want := func(keep func(domain.AuditEvent) bool) []domain.AuditEvent {
		var w []domain.AuditEvent
		for i := len(all) - 1; i >= 0; i-- {
			if keep(all[i]) {
				w = append(w, all[i])
			}
		}
		return w
	}
	check := func(what string, f domain.AuditFilter, w []domain.AuditEvent) {
		t.Helper()
		got, err := s.Audit(ctx, f)
		must(t, what, err)
		equal(t, what, got, w)
	}

	check("home A, newest first", domain.AuditFilter{HomeID: homeA}, want(func(domain.AuditEvent) bool { return true }))
	check("camera", domain.AuditFilter{HomeID: homeA, CameraID: cam}, want(func(e domain.AuditEvent) bool { return e.CameraID == cam }))
	check("principal", domain.AuditFilter{HomeID: homeA, Principal: who}, want(func(e domain.AuditEvent) bool { return e.Principal == who }))
	check("action", domain.AuditFilter{HomeID: homeA, Action: "live"}, want(func(e domain.AuditEvent) bool { return e.Action == "live" }))
	check("since (inclusive)", domain.AuditFilter{HomeID: homeA, Since: at(9 * time.Second)},
		want(func(e domain.AuditEvent) bool { return !e.Time.Before(at(9 * time.Second)) }))
	check("until (exclusive)", domain.AuditFilter{HomeID: homeA, Until: at(3 * time.Second)},
		want(func(e domain.AuditEvent) bool { return e.Time.Before(at(3 * time.Second)) }))
	check("since and until", domain.AuditFilter{HomeID: homeA, Since: at(4 * time.Second), Until: at(8 * time.Second)},
		want(func(e domain.AuditEvent) bool {
			return !e.Time.Before(at(4*time.Second)) && e.Time.Before(at(8*time.Second))
		}))
	check("since a microsecond after an event", domain.AuditFilter{HomeID: homeA, Since: at(10*time.Second + time.Microsecond)},
		want(func(e domain.AuditEvent) bool { return e.Time.After(at(10 * time.Second)) }))
	check("until a microsecond after an event", domain.AuditFilter{HomeID: homeA, Until: at(time.Microsecond)},
		want(func(e domain.AuditEvent) bool { return !e.Time.After(at(0)) }))
	check("every filter at once", domain.AuditFilter{HomeID: homeA, CameraID: cam, Principal: who, Action: "camera.view", Since: at(time.Second), Until: at(11 * time.Second)},
		want(func(e domain.AuditEvent) bool {
			return e.CameraID == cam && e.Principal == who && e.Action == "camera.view" &&
				!e.Time.Before(at(time.Second)) && e.Time.Before(at(11*time.Second))
		}))
	check("limit keeps the newest", domain.AuditFilter{HomeID: homeA, Limit: 5}, want(func(domain.AuditEvent) bool { return true })[:5])
	check("limit with a filter", domain.AuditFilter{HomeID: homeA, CameraID: cam, Limit: 2}, want(func(e domain.AuditEvent) bool { return e.CameraID == cam })[:2])
	check("no match", domain.AuditFilter{HomeID: homeA, Action: "nothing"}, nil)

	// Homes are separate, and events of no home are asked for with HomeID "".
	check("home B", domain.AuditFilter{HomeID: homeB}, []domain.AuditEvent{eb})
	check("home B by camera", domain.AuditFilter{HomeID: homeB, CameraID: cam}, []domain.AuditEvent{eb})
	check("no home", domain.AuditFilter{}, []domain.AuditEvent{login})
	check("no home by principal", domain.AuditFilter{Principal: who}, []domain.AuditEvent{login})
	check("unknown home", domain.AuditFilter{HomeID: domain.NewID()}, nil)
}

func testAuditLimits(t *testing.T, s store.Store) {
	home := domain.NewID()
	const n = MaxAuditLimit + 5
	for i := range n {
		must(t, "append", s.AppendAudit(ctx, domain.AuditEvent{ID: domain.NewID(), Time: at(time.Duration(i) * time.Millisecond),
			HomeID: home, Action: "bulk", Result: domain.ResultOK, Detail: fmt.Sprint(i)}))
	}
	check := func(what string, limit, want int) {
		t.Helper()
		got, err := s.Audit(ctx, domain.AuditFilter{HomeID: home, Limit: limit})
		must(t, what, err)
		if len(got) != want {
			t.Fatalf("%s: %d events, want %d", what, len(got), want)
		}
		for i, e := range got {
			if e.Detail != fmt.Sprint(n-1-i) {
				t.Fatalf("%s: event %d is %q, want the newest first (%d)", what, i, e.Detail, n-1-i)
			}
		}
	}
	check("default limit", 0, DefaultAuditLimit)
	check("explicit limit", 7, 7)
	check("limit at the maximum", MaxAuditLimit, MaxAuditLimit)
	check("limit above the maximum", MaxAuditLimit+1, MaxAuditLimit)
	check("huge limit", 1<<30, MaxAuditLimit)
}
