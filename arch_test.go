package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// module is this repository's module path, the prefix of its own imports.
const module = "github.com/alexandria-backup/alexandria-backup"

// testenvDir holds the servers and fixtures tests run against (real
// PostgreSQL, sshd, rclone serve, restic locks, a generated library). They
// import "testing" and start processes, so they stay out of production code.
const testenvDir = "internal/testenv"

// demoDir is the one program outside internal/testenv allowed to use it:
// the demo builds a sandbox with the same fixtures the tests use.
const demoDir = "tools/demo"

// testCodeLeaks walks the Go files under root and names every non-test
// file that brings test code into a program: one importing "testing" (or a
// testing/... package) outside internal/testenv, and one importing
// internal/testenv outside internal/testenv and tools/demo. Every .go file
// is read whatever its build tags, so a tag cannot hide an import.
func testCodeLeaks(root string) ([]string, error) {
	var leaks []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			// The go tool ignores these directories; so may we.
			name := d.Name()
			if rel != "." && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		inTestenv := under(rel, testenvDir)
		for _, spec := range f.Imports {
			imp, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			switch {
			case (imp == "testing" || strings.HasPrefix(imp, "testing/")) && !inTestenv:
				leaks = append(leaks, rel+" imports "+imp)
			case under(imp, module+"/"+testenvDir) && !inTestenv && !under(rel, demoDir):
				leaks = append(leaks, rel+" imports "+imp)
			}
		}
		return nil
	})
	return leaks, err
}

// under reports whether the slash-separated path p is dir or lies inside it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// TestNoTestCodeOutsideTestenv keeps test code out of production: no
// non-test file outside internal/testenv imports "testing", and nothing but
// tests and the demo imports internal/testenv.
func TestNoTestCodeOutsideTestenv(t *testing.T) {
	// The guard itself, against a tree holding each shape it must refuse
	// and each it must let through.
	files := map[string]struct {
		src  string
		leak bool
	}{
		"main.go":                         {`import "testing"`, true},
		"drivers/helper.go":               {`import "testing"`, true},
		"drivers/fs.go":                   {`import "testing/fstest"`, true},
		"drivers/tagged.go":               {"//go:build ignore\n\npackage x\nimport \"testing\"", true},
		"internal/pgserver/fortest.go":    {`import "testing"`, true},
		"internal/testenvx/fake.go":       {`import "testing"`, true},
		"tools/demo/main.go":              {`import t "testing"`, true},
		"tools/demo/sandbox.go":           {`import "` + module + `/internal/testenv/sandbox"`, false},
		"tools/testreport/main.go":        {`import "` + module + `/internal/testenv/pgserver"`, true},
		"plan/plan.go":                    {`import "` + module + `/internal/testenv"`, true},
		"ops.go":                          {`import _ "` + module + `/internal/testenv/sshtest"`, true},
		"internal/doctor/doctor.go":       {`import "` + module + `/internal/testenvx"`, false},
		"drivers/rsync_test.go":           {`import ("testing"; "` + module + `/internal/testenv/sshtest")`, false},
		"internal/testenv/doc.go":         {`import "os"`, false},
		"internal/testenv/pgserver/ft.go": {`import "testing"`, false},
		"internal/testenv/sandbox/lib.go": {`import "` + module + `/internal/testenv/pgserver"`, false},
		"drivers/testdata/x/main.go":      {`import "testing"`, false},
		".ci/tool.go":                     {`import "testing"`, false},
	}
	root := t.TempDir()
	var want []string
	for name, f := range files {
		src := f.src
		if !strings.HasPrefix(src, "//go:build") {
			src = "package x\n" + src
		}
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if f.leak {
			want = append(want, name)
		}
	}
	leaks, err := testCodeLeaks(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range leaks {
		got = append(got, strings.Fields(l)[0])
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("on a fabricated tree the guard flagged\n  %v\nwant\n  %v", got, want)
	}

	// This repository.
	leaks, err = testCodeLeaks(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leaks {
		t.Errorf("%s: test code belongs in %s/, and only tests and %s may import it", l, testenvDir, demoDir)
	}
}

// TestBinaryLinksNoTestCode checks the same thing on what ships: the
// alexandria-backup binary's whole dependency graph, third-party modules
// included, holds neither "testing" nor internal/testenv.
func TestBinaryLinksNoTestCode(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" || strings.HasPrefix(pkg, "testing/") || under(pkg, module+"/"+testenvDir) {
			t.Errorf("the alexandria-backup binary links %s", pkg)
		}
	}
}
