package record_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/record"
)

// grantAt mints, through the policy, the grant a member of role gets
// for playback of ref at now; mod edits the membership first. Only the
// policy makes grants, so the tests get theirs from it too.
func grantAt(t testing.TB, ref domain.CameraRef, role domain.Role, now time.Time, mod func(*domain.Membership)) authz.Grant {
	t.Helper()
	acct, h := domain.ID("acctrecordtestaaaaaaaaaaa"), domain.ID("homerecordtestaaaaaaaaaaa")
	c := domain.Camera{ID: ref.Camera, HomeID: h, Generation: ref.Generation, State: domain.CameraStateActive}
	m := &domain.Membership{HomeID: h, AccountID: acct, Role: role}
	if role == domain.RoleGuest {
		m.Cameras = []domain.CameraRef{ref}
		m.Actions = []domain.Action{domain.ActionLive, domain.ActionPlayback}
	}
	if mod != nil {
		mod(m)
	}
	g, d := authz.Authorize(authz.Principal{Account: acct}, domain.ActionPlayback, authz.Resource{Home: h, Camera: &c}, authz.Facts{Now: now, Membership: m})
	if !d.Allowed {
		t.Fatalf("the policy refused the test's grant: %+v", d)
	}
	return g
}

// owner is an owner's grant for ref, valid now.
func owner(t testing.TB, ref domain.CameraRef) authz.Grant {
	return grantAt(t, ref, domain.RoleOwner, time.Now(), nil)
}

// TestReadsNeedGrant: every read of video or stills is refused without
// a grant for exactly that camera generation, valid now, carrying the
// action and reaching back far enough; writes and deletes need none.
func TestReadsNeedGrant(t *testing.T) {
	r := newRig(t)
	start := time.Now().Add(-time.Hour)
	segs := r.write(t, start, 8*time.Second)
	seg := segs[1]
	if err := r.ar.WriteThumbnail(ctx, cam, seg.Start, []byte("jpeg")); err != nil {
		t.Fatal(err)
	}
	size, keyID, err := r.ar.WriteExport(ctx, "exportrecordtestaaaaaaaaa", cam, func(w io.Writer) error {
		_, err := w.Write([]byte("mp4"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	thumb := record.Thumbnail{Camera: cam, At: seg.Start}
	otherCam := domain.CameraRef{Camera: domain.NewID(), Generation: cam.Generation}
	nextGen := domain.CameraRef{Camera: cam.Camera, Generation: cam.Generation + 1}
	reads := map[string]func(authz.Grant) error{
		"open": func(g authz.Grant) error {
			rd, err := r.ar.Open(ctx, g, seg)
			if err == nil {
				rd.Close()
			}
			return err
		},
		"read all": func(g authz.Grant) error { _, err := r.ar.ReadAll(ctx, g, seg); return err },
		"export":   func(g authz.Grant) error { return r.ar.Export(ctx, g, segs, io.Discard, nil) },
		"thumbnails": func(g authz.Grant) error {
			_, err := r.ar.Thumbnails(ctx, g, cam, start, start.Add(time.Minute))
			return err
		},
		"thumbnail": func(g authz.Grant) error { _, err := r.ar.ReadThumbnail(ctx, g, thumb); return err },
		"open export": func(g authz.Grant) error {
			rd, err := r.ar.OpenExport(ctx, g, "exportrecordtestaaaaaaaaa", cam, keyID, size)
			if err == nil {
				rd.Close()
			}
			return err
		},
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			if err := read(owner(t, cam)); err != nil {
				t.Fatalf("with the owner's grant: %v", err)
			}
			refused := map[string]authz.Grant{
				"no grant":           {},
				"another camera":     owner(t, otherCam),
				"another generation": owner(t, nextGen),
				"expired":            grantAt(t, cam, domain.RoleOwner, time.Now().Add(-time.Hour), nil),
				"membership ended": grantAt(t, cam, domain.RoleOwner, time.Now().Add(-time.Minute), func(m *domain.Membership) {
					m.Until = time.Now().Add(-time.Second)
				}),
			}
			for why, g := range refused {
				if err := read(g); !errors.Is(err, record.ErrNotAllowed) {
					t.Errorf("%s: %v, want ErrNotAllowed", why, err)
				}
			}
		})
	}
	// A guest may play back but not export, and not before its history
	// limit.
	guest := grantAt(t, cam, domain.RoleGuest, time.Now(), nil)
	if _, err := r.ar.ReadAll(ctx, guest, seg); err != nil {
		t.Fatalf("a guest's playback: %v", err)
	}
	var buf bytes.Buffer
	if err := r.ar.Export(ctx, guest, segs, &buf, nil); !errors.Is(err, record.ErrNotAllowed) || buf.Len() != 0 {
		t.Fatalf("a guest's export: %v, %d bytes written", err, buf.Len())
	}
	limited := grantAt(t, cam, domain.RoleGuest, time.Now(), func(m *domain.Membership) { m.HistoryFrom = seg.Start })
	if _, err := r.ar.ReadAll(ctx, limited, seg); err != nil {
		t.Fatalf("a segment at the history limit: %v", err)
	}
	if _, err := r.ar.ReadAll(ctx, limited, segs[0]); !errors.Is(err, record.ErrNotAllowed) {
		t.Fatalf("a segment before the history limit: %v", err)
	}
	if _, err := r.ar.Thumbnails(ctx, limited, cam, start, start.Add(time.Minute)); !errors.Is(err, record.ErrNotAllowed) {
		t.Fatalf("thumbnails from before the history limit: %v", err)
	}
	if list, err := r.ar.Thumbnails(ctx, limited, cam, seg.Start, start.Add(time.Minute)); err != nil || len(list) != 1 {
		t.Fatalf("thumbnails from the history limit: %v %v", list, err)
	}
	if _, err := r.ar.ReadThumbnail(ctx, limited, record.Thumbnail{Camera: cam, At: segs[0].Start}); !errors.Is(err, record.ErrNotAllowed) {
		t.Fatalf("a still before the history limit: %v", err)
	}
	// Writes and deletes need no grant.
	if err := r.ar.Delete(ctx, segs[0]); err != nil {
		t.Fatal(err)
	}
	if n, err := r.ar.DeleteThumbnails(ctx, cam, time.Time{}, time.Time{}); err != nil || n != 1 {
		t.Fatalf("delete thumbnails: %d %v", n, err)
	}
}

// TestArchiveReadsTakeGrant: every Archive method that hands out
// recorded video or stills — a Reader, bytes, a thumbnail list, or
// writing into an io.Writer — takes a Grant right after its context, so
// a new read cannot forget the check. Code outside authz can make only
// the zero Grant (authz's TestGrantSealed), which the archive refuses.
func TestArchiveReadsTakeGrant(t *testing.T) {
	typ := reflect.TypeFor[*record.Archive]()
	plain := []reflect.Type{reflect.TypeFor[*record.Reader](), reflect.TypeFor[[]byte](), reflect.TypeFor[[]record.Thumbnail]()}
	writer := reflect.TypeFor[io.Writer]()
	grant := reflect.TypeFor[authz.Grant]()
	reads := 0
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		read := false
		for j := range m.Type.NumOut() {
			read = read || slices.Contains(plain, m.Type.Out(j))
		}
		for j := range m.Type.NumIn() {
			read = read || m.Type.In(j) == writer
		}
		if !read {
			continue
		}
		reads++
		// In(0) is the receiver, In(1) the context.
		if m.Type.NumIn() < 3 || m.Type.In(2) != grant {
			t.Errorf("Archive.%s reads recordings without taking an authz.Grant", m.Name)
		}
	}
	if reads < 6 {
		t.Fatalf("found %d reads; Open, ReadAll, Export, Thumbnails, ReadThumbnail and OpenExport at least", reads)
	}
}
