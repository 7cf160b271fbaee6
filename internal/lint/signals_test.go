package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"testing"
)

// TestStoreTakesNoCallbacks enforces STYLE §2's rule that the store's
// goroutines never run upper-layer code: no exported method of the store
// package (the MessageStore interface and *Store alike) takes a function
// argument, so nothing above the store can hand it code to run on its writer,
// flusher or dispatcher goroutines. Completions and dispatch events are
// signals pushed to queues the caller drains (internal/store/signal.go).
// Together with the import rules (the store imports no broker, remoting or
// SDK package) this shows no store goroutine calls broker or remoting code.
func TestStoreTakesNoCallbacks(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("../store/*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if matched, _ := filepath.Match("*_test.go", filepath.Base(f)); matched {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			switch d := n.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && d.Recv != nil {
					checked++
					checkNoFuncParams(t, fset, d.Name.Name, d.Type)
				}
			case *ast.TypeSpec:
				if it, ok := d.Type.(*ast.InterfaceType); ok && d.Name.IsExported() {
					for _, m := range it.Methods.List {
						if ft, ok := m.Type.(*ast.FuncType); ok && len(m.Names) > 0 {
							checked++
							checkNoFuncParams(t, fset, d.Name.Name+"."+m.Names[0].Name, ft)
						}
					}
				}
			}
			return true
		})
	}
	if checked < 20 {
		t.Fatalf("checked only %d methods: did the store move?", checked)
	}
}

func checkNoFuncParams(t *testing.T, fset *token.FileSet, name string, ft *ast.FuncType) {
	t.Helper()
	for _, p := range ft.Params.List {
		if _, isFunc := p.Type.(*ast.FuncType); isFunc {
			t.Errorf("%s: store method %s takes a function argument; the store must signal (Completions, "+
				"DispatchQueue), not call back", fset.Position(p.Pos()), name)
		}
	}
}
