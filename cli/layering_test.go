package cli

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestImportsFollowDesign reads the package table of docs/DESIGN.md and
// checks every package's non-test imports against its row: a package may
// import only the project packages its row names ("any" for cli), and every
// package of the project has a row. So the table and the code cannot drift
// apart, and imports keep pointing one way.
func TestImportsFollowDesign(t *testing.T) {
	const module = "mergescale"
	design, err := os.ReadFile(filepath.Join("..", "docs", "DESIGN.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `([a-z/]+)`(?: \\(root\\))? \\|.*\\| ([^|]*) \\|$")
	name := regexp.MustCompile("`([a-z/]+)`")
	allowed := map[string][]string{} // package dir ("" for the root) → allowed dirs; nil slice with "any"
	anyOK := map[string]bool{}
	for _, line := range strings.Split(string(design), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		dir := m[1]
		if dir == "main" {
			dir = ""
		}
		if strings.TrimSpace(m[2]) == "any" {
			anyOK[dir] = true
		}
		var deps []string
		for _, d := range name.FindAllStringSubmatch(m[2], -1) {
			deps = append(deps, d[1])
		}
		allowed[dir] = deps
	}
	if len(allowed) < 10 {
		t.Fatalf("found %d rows in DESIGN.md's package table; has its format changed?", len(allowed))
	}

	root := ".."
	seen := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			base := d.Name()
			if path != root && (strings.HasPrefix(base, ".") || base == "testdata" || base == "results" || base == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		dir := filepath.ToSlash(rel)
		if dir == "." {
			dir = ""
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" && dir != "" {
			return nil // a generator behind a build tag, not part of the graph
		}
		seen[dir] = true
		deps, ok := allowed[dir]
		if !ok {
			t.Errorf("package %q has no row in docs/DESIGN.md's package table", dir)
			return nil
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p != module && !strings.HasPrefix(p, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(strings.TrimPrefix(p, module), "/")
			if !anyOK[dir] && !slices.Contains(deps, dep) {
				t.Errorf("%s imports %s, which its row in docs/DESIGN.md does not allow", path, dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir := range allowed {
		if !seen[dir] {
			t.Errorf("docs/DESIGN.md lists package %q, which has no Go files", dir)
		}
	}
}
