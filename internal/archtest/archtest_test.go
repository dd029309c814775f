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

// TestLayering enforces the design's import rules.
func TestLayering(t *testing.T) {
	pkgs := loadPackages(t)
	if len(pkgs) < 5 {
		t.Fatalf("found only %d packages; is the walk broken?", len(pkgs))
	}
	for _, p := range pkgs {
		for imp := range p.imports {
			internal := strings.TrimPrefix(imp, module+"/")
			isInternal := internal != imp
			// Adapters never reach storage: they go through the service,
			// which asks the policy first.
			if under(p.dir, "internal/api", "internal/webui", "internal/live", "internal/integrations", "internal/httpserver", "internal/devicehub", "internal/ingest", "internal/media") &&
				isInternal && under(internal, "internal/store", "internal/blob") {
				t.Errorf("%s imports %s: adapters must not import the store or blob storage", p.dir, imp)
			}
			// The agent runs on the camera: it speaks the protocol and
			// holds its key, and knows nothing of the server's insides.
			if under(p.dir, "internal/agent") && isInternal && !under(internal, "internal/authn", "internal/control", "internal/videosig", "internal/clips", "internal/domain", "internal/ffmpeg") {
				t.Errorf("%s imports %s: the agent may use only authn, control, videosig, clips, domain and ffmpeg", p.dir, imp)
			}
			// The ffmpeg runner is shared by the agent and the server, so it
			// stands alone.
			if under(p.dir, "internal/ffmpeg") && isInternal {
				t.Errorf("%s imports %s: the ffmpeg runner depends on nothing of camvault", p.dir, imp)
			}
			// The control protocol is shared by both ends and stays small.
			if under(p.dir, "internal/control") && isInternal {
				t.Errorf("%s imports %s: the control protocol depends on nothing of camvault", p.dir, imp)
			}
			// The domain and the policy are pure.
			if under(p.dir, "internal/domain", "internal/authz") {
				if isInternal && internal != "internal/domain" {
					t.Errorf("%s imports %s: only internal/domain is allowed", p.dir, imp)
				}
				if !isInternal && (strings.Contains(imp, ".") || forbiddenIO[imp]) {
					t.Errorf("%s imports %s: no I/O or third-party packages allowed", p.dir, imp)
				}
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

func TestMain(m *testing.M) {
	if _, err := os.Stat("../../go.mod"); err != nil {
		panic("archtest must run from its own directory")
	}
	os.Exit(m.Run())
}
