package test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoTestPassesBySkipping keeps one rule for the whole suite: a missing
// tool is installed by `make test` (make tools, npm ci) or the test fails
// naming it. So no test file calls Skip, Skipf, SkipNow or testing.Short,
// and no TestMain exits 0 before running the tests.
func TestNoTestPassesBySkipping(t *testing.T) {
	root := repoRoot(t)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "cdk.out" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, _ := sel.X.(*ast.Ident)
			switch {
			case sel.Sel.Name == "Skip" || sel.Sel.Name == "Skipf" || sel.Sel.Name == "SkipNow":
				t.Errorf("%s: %s skips a test: install what it needs in `make tools` or fail naming it", fset.Position(call.Pos()), sel.Sel.Name)
			case pkg != nil && pkg.Name == "testing" && sel.Sel.Name == "Short":
				t.Errorf("%s: testing.Short lets a test pass unrun: drop it", fset.Position(call.Pos()))
			case pkg != nil && pkg.Name == "os" && sel.Sel.Name == "Exit" && len(call.Args) == 1 && isZero(call.Args[0]) && strings.HasSuffix(rel, "main_test.go"):
				t.Errorf("%s: os.Exit(0) in TestMain passes the package unrun: fail naming what is missing", fset.Position(call.Pos()))
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func isZero(e ast.Expr) bool {
	lit, ok := e.(*ast.BasicLit)
	return ok && lit.Kind == token.INT && lit.Value == "0"
}
