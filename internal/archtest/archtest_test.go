package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/camvault/camvault"

// pkg is one package directory's non-test imports and doc comments.
type pkg struct {
	dir     string // relative to the module root, slash-separated
	imports map[string]bool
	docs    []string // files carrying a package doc comment
}

func loadPackages(t *testing.T) map[string]*pkg {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string]*pkg{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || strings.HasPrefix(name, ".") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		p := pkgs[rel]
		if p == nil {
			p = &pkg{dir: rel, imports: map[string]bool{}}
			pkgs[rel] = p
		}
		for _, imp := range f.Imports {
			s, _ := strconv.Unquote(imp.Path.Value)
			p.imports[s] = true
		}
		if f.Doc != nil {
			p.docs = append(p.docs, filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func under(dir string, prefixes ...string) bool {
	for _, p := range prefixes {
		if dir == p || strings.HasPrefix(dir, p+"/") {
			return true
		}
	}
	return false
}

// adapters speak protocols and call the service.
var adapters = []string{"internal/api", "internal/webui", "internal/live", "internal/integrations", "internal/oauth",
	"internal/devicehub", "internal/ingest", "internal/httpserver"}

// rule is one layering rule: packages under from may not import packages
// under any of banned (or, with only, anything of camvault but those).
type rule struct {
	why    string
	from   []string
	banned []string
	only   []string // when set: the camvault packages allowed, besides from's own
}

var rules = []rule{
	{why: "adapters go through the service, which asks the policy first: never the store, blob storage or the archive",
		from: adapters, banned: []string{"internal/store", "internal/blob", "internal/record"}},
	{why: "the hub delivers frames by Grant and knows nothing of use cases or storage",
		from: []string{"internal/media"}, banned: []string{"internal/service", "internal/store", "internal/blob", "internal/record"}},
	{why: "live turns Grants into viewer sessions and stills: the hub, the policy's types, the bus, error kinds, the HTTP plumbing and ffmpeg, nothing else",
		from: []string{"internal/live"}, only: []string{"internal/media", "internal/authz", "internal/domain", "internal/events", "internal/fault", "internal/httpserver", "internal/ffmpeg"}},
	{why: "viewer adapters get grants through live.Redeemer, never from the service itself",
		from: []string{"internal/live"}, banned: []string{"internal/service", "internal/store", "internal/blob", "internal/record"}},
	{why: "the use cases know no adapter or wiring",
		from: []string{"internal/service"}, banned: append([]string{"internal/app"}, adapters...)},
	{why: "the use cases hand out Grants; frames flow from the hub to live viewers and the recorder, never through the service",
		from: []string{"internal/service"}, banned: []string{"internal/media"}},
	{why: "the agent runs on the camera and knows nothing of the server's insides",
		from: []string{"internal/agent"}, only: []string{"internal/authn", "internal/bitstream", "internal/control", "internal/videosig", "internal/clips", "internal/domain", "internal/ffmpeg", "internal/pki"}},
	{why: "placement knows cameras by ID and nodes by name, nothing of what they serve",
		from: []string{"internal/placement"}, only: []string{"internal/domain", "internal/placement"}},
	{why: "the domain and the policy are pure", from: []string{"internal/domain", "internal/authz"}, only: []string{"internal/domain"}},
	{why: "leaves shared by both ends depend on nothing of camvault",
		from: []string{"internal/bitstream", "internal/ffmpeg", "internal/control", "internal/pki", "internal/authn", "internal/fault", "internal/serverkey"}, only: []string{}},
}

// TestLayering enforces the layering of the package doc.
func TestLayering(t *testing.T) {
	pkgs := loadPackages(t)
	if len(pkgs) < 5 {
		t.Fatalf("found only %d packages; is the walk broken?", len(pkgs))
	}
	for _, p := range pkgs {
		for imp := range p.imports {
			internal := strings.TrimPrefix(imp, module+"/")
			isInternal := internal != imp
			for _, r := range rules {
				if !under(p.dir, r.from...) || !isInternal || under(internal, r.from...) {
					continue
				}
				if under(internal, r.banned...) || r.only != nil && !under(internal, r.only...) {
					t.Errorf("%s imports %s: %s", p.dir, imp, r.why)
				}
			}
			// The domain and the policy do no I/O.
			if under(p.dir, "internal/domain", "internal/authz") && !isInternal && (strings.Contains(imp, ".") || forbiddenIO[imp]) {
				t.Errorf("%s imports %s: no I/O or third-party packages allowed", p.dir, imp)
			}
			// Only the wiring picks concrete store backends.
			if under(internal, "internal/store/sqlite", "internal/store/postgres", "internal/store/sqlstore") &&
				!under(p.dir, "internal/app", "internal/store") {
				t.Errorf("%s imports %s: only internal/app opens store backends", p.dir, imp)
			}
		}
	}
}

var forbiddenIO = map[string]bool{
	"os": true, "os/exec": true, "net": true, "net/http": true, "database/sql": true,
	"io/fs": true, "io/ioutil": true, "syscall": true, "log": true, "log/slog": true, "unsafe": true,
}

// TestPackageDocs: every package has exactly one package doc comment.
func TestPackageDocs(t *testing.T) {
	pkgs := loadPackages(t)
	var dirs []string
	for d := range pkgs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		if d == "." {
			continue
		}
		if n := len(pkgs[d].docs); n != 1 {
			t.Errorf("%s: %d files with a package doc comment %v, want exactly 1", d, n, pkgs[d].docs)
		}
	}
}

// TestEndToEndTests: the tests that start the whole system (they import
// internal/app) live in internal/e2e, and the agent's own tests keep to
// what the agent may import, so its folder holds agent tests only.
func TestEndToEndTests(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var agentRule rule
	for _, r := range rules {
		if len(r.from) == 1 && r.from[0] == "internal/agent" {
			agentRule = r
		}
	}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || strings.HasPrefix(name, ".") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		dir := filepath.ToSlash(filepath.Dir(rel))
		for _, imp := range f.Imports {
			s, _ := strconv.Unquote(imp.Path.Value)
			internal, ok := strings.CutPrefix(s, module+"/")
			if !ok {
				continue
			}
			if internal == "internal/app" && !under(dir, "internal/e2e", "internal/app") {
				t.Errorf("%s imports %s: tests that run the whole system belong in internal/e2e", rel, s)
			}
			if under(dir, "internal/agent") && !under(internal, "internal/agent") && !under(internal, agentRule.only...) {
				t.Errorf("%s imports %s: %s; its tests test the agent alone (end-to-end tests go in internal/e2e)", rel, s, agentRule.why)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMain(m *testing.M) {
	if _, err := os.Stat("../../go.mod"); err != nil {
		panic("archtest must run from its own directory")
	}
	os.Exit(m.Run())
}
