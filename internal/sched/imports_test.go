package sched

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCoreIsPure keeps the core free of I/O, clocks and global randomness:
// the same snapshot must always give the same plan, in the controller and in
// the twin.
func TestCoreIsPure(t *testing.T) {
	forbiddenImports := map[string]bool{
		"net/http": true, "net": true, "database/sql": true, "os": true, "os/exec": true,
		"math/rand": true, "math/rand/v2": true, "sync": true, "io": true, "syscall": true,
	}
	forbiddenCalls := map[string]bool{
		"time.Now": true, "time.Since": true, "time.Until": true, "time.Sleep": true,
		"time.After": true, "time.Tick": true, "time.NewTimer": true, "time.NewTicker": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range file.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if forbiddenImports[p] {
				t.Errorf("%s imports %s; the scheduling core does no I/O and has no hidden inputs", f, p)
			}
			if strings.HasPrefix(p, "github.com/gefion-hpc/gefion/") &&
				p != "github.com/gefion-hpc/gefion/internal/cluster" && p != "github.com/gefion-hpc/gefion/internal/job" {
				t.Errorf("%s imports %s; the core may import only cluster and job", f, p)
			}
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if go_, ok := n.(*ast.GoStmt); ok {
				t.Errorf("%s: a go statement at %v; the core starts no goroutines", f, fset.Position(go_.Pos()))
			}
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && forbiddenCalls[id.Name+"."+sel.Sel.Name] {
				t.Errorf("%s: %s.%s at %v; time is a parameter (Snapshot.Now)", f, id.Name, sel.Sel.Name, fset.Position(sel.Pos()))
			}
			return true
		})
	}
	if checked < 5 {
		t.Fatalf("checked only %d files; is the test running in the package directory?", checked)
	}
}
