package ktstr_test

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr"
)

const module = "github.com/ktstr-go/ktstr"

// TestPublicAPI checks the boundary between what users call and what they
// cannot: no exported function, method, field or type of a public package
// takes, returns or holds a type of an internal package, which no one
// outside this module could name. Every public package has a package
// comment.
func TestPublicAPI(t *testing.T) {
	if ktstr.InGuest() {
		t.Skip("host-only")
	}
	t.Parallel()
	// Type information from the compiler's export data (go list -export
	// builds it, from the build cache when nothing changed): much cheaper
	// than type-checking every dependency from source while VM tests
	// measure scheduling on the same host.
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}\t{{.Dir}}\t{{.Module}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list -export: %v", err)
	}
	exports := map[string]string{}
	var public [][2]string // import path, directory
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			continue
		}
		exports[f[0]] = f[1]
		if f[3] == module && !strings.Contains(f[0], "/internal/") && !strings.Contains(f[0], "/cmd/") && !strings.HasSuffix(f[0], "/examples") {
			public = append(public, [2]string{f[0], f[2]})
		}
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		if e := exports[path]; e != "" {
			return os.Open(e)
		}
		return nil, fmt.Errorf("no export data for %s", path)
	})
	for _, pd := range public {
		path, dir := pd[0], pd[1]
		pkg, err := imp.Import(path)
		if err != nil {
			t.Fatalf("import %s: %v", path, err)
		}
		checkDoc(t, dir, path)
		scope := pkg.Scope()
		for _, name := range scope.Names() {
			obj := scope.Lookup(name)
			if !obj.Exported() {
				continue
			}
			where := path + "." + name
			if tn, ok := obj.(*types.TypeName); ok {
				if tn.IsAlias() {
					checkType(t, where, tn.Type())
					continue
				}
				checkType(t, where, tn.Type().Underlying())
				if named, ok := tn.Type().(*types.Named); ok {
					for i := 0; i < named.NumMethods(); i++ {
						if m := named.Method(i); m.Exported() {
							checkType(t, where+"."+m.Name(), m.Type())
						}
					}
				}
				continue
			}
			checkType(t, where, obj.Type())
		}
	}
}

// checkType reports an internal named type reachable from typ through
// exported parts.
func checkType(t *testing.T, where string, typ types.Type) {
	t.Helper()
	seen := map[types.Type]bool{}
	var walk func(types.Type)
	walk = func(typ types.Type) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		switch x := typ.(type) {
		case *types.Named:
			if p := x.Obj().Pkg(); p != nil && strings.Contains(p.Path(), "/internal/") {
				t.Errorf("%s exposes %s.%s from an internal package", where, p.Path(), x.Obj().Name())
			}
			for i := 0; i < x.TypeArgs().Len(); i++ {
				walk(x.TypeArgs().At(i))
			}
		case *types.Pointer:
			walk(x.Elem())
		case *types.Slice:
			walk(x.Elem())
		case *types.Array:
			walk(x.Elem())
		case *types.Map:
			walk(x.Key())
			walk(x.Elem())
		case *types.Chan:
			walk(x.Elem())
		case *types.Signature:
			for i := 0; i < x.Params().Len(); i++ {
				walk(x.Params().At(i).Type())
			}
			for i := 0; i < x.Results().Len(); i++ {
				walk(x.Results().At(i).Type())
			}
		case *types.Struct:
			for i := 0; i < x.NumFields(); i++ {
				if f := x.Field(i); f.Exported() {
					walk(f.Type())
				}
			}
		case *types.Interface:
			for i := 0; i < x.NumMethods(); i++ {
				walk(x.Method(i).Type())
			}
		}
	}
	walk(typ)
}

// checkDoc fails when the package in dir has no package comment.
func checkDoc(t *testing.T, dir, path string) {
	t.Helper()
	pkgs, err := parser.ParseDir(token.NewFileSet(), dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		documented := false
		ast.Inspect(p, func(n ast.Node) bool {
			if f, ok := n.(*ast.File); ok && f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package ") {
				documented = true
			}
			return !documented
		})
		if !documented {
			t.Errorf("package %s has no package comment", path)
		}
	}
}
