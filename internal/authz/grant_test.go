package authz_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
)

// TestGrantSealed: code outside authz can make only the zero Grant, and
// it allows nothing. Every field is unexported; no method changes a
// Grant or hands out another; only the policy's two functions return
// one. The readers that take a Grant (media's hub, record's archive)
// rely on this.
func TestGrantSealed(t *testing.T) {
	typ := reflect.TypeFor[authz.Grant]()
	for i := range typ.NumField() {
		if f := typ.Field(i); f.IsExported() {
			t.Errorf("Grant.%s is exported: code outside authz could fill it in", f.Name)
		}
	}
	if n, m := reflect.PointerTo(typ).NumMethod(), typ.NumMethod(); n != m {
		t.Errorf("Grant has %d pointer-receiver methods: a Grant must not change once minted", n-m)
	}
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		for j := range m.Type.NumOut() {
			if m.Type.Out(j) == typ {
				t.Errorf("Grant.%s returns a Grant: only the policy mints them", m.Name)
			}
		}
	}
	var zero authz.Grant
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for _, a := range append(slices.Clone(domain.CameraActions), domain.HomeActions...) {
		for _, ref := range []domain.CameraRef{{}, {Camera: "camaaaaaaaaaaaaaaaaaaaaaaa", Generation: 1}} {
			if zero.Allows(a, ref, at) || zero.Allows(a, ref, time.Time{}) {
				t.Errorf("the zero Grant allows %s on %v", a, ref)
			}
		}
	}
	// What a Grant hands out is a copy.
	acct, home := domain.ID("acctaaaaaaaaaaaaaaaaaaaaaa"), domain.ID("homeaaaaaaaaaaaaaaaaaaaaaa")
	cam := domain.Camera{ID: "camaaaaaaaaaaaaaaaaaaaaaaa", HomeID: home, Generation: 1}
	m := &domain.Membership{HomeID: home, AccountID: acct, Role: domain.RoleGuest, Cameras: []domain.CameraRef{cam.Ref()}}
	g, d := authz.Authorize(authz.Principal{Account: acct}, domain.ActionLive, authz.Resource{Home: home, Camera: &cam}, authz.Facts{Now: at, Membership: m})
	if !d.Allowed {
		t.Fatalf("denied: %+v", d)
	}
	acts := g.Actions()
	for i := range acts {
		acts[i] = domain.ActionExport
	}
	if g.Allows(domain.ActionExport, cam.Ref(), at) {
		t.Error("editing Actions' result changed the Grant")
	}
	if got := exportedMinters(t); !slices.Equal(got, []string{"Authorize", "AuthorizeRecording"}) {
		t.Errorf("functions returning a Grant: %v, want only Authorize and AuthorizeRecording", got)
	}
}

// exportedMinters lists the package's exported functions that return a
// Grant.
func exportedMinters(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var out []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !fn.Name.IsExported() || fn.Type.Results == nil {
				continue
			}
			for _, r := range fn.Type.Results.List {
				if id, ok := r.Type.(*ast.Ident); ok && id.Name == "Grant" {
					out = append(out, fn.Name.Name)
					break
				}
			}
		}
	}
	slices.Sort(out)
	return out
}
