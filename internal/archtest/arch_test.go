// Package archtest holds the repository-wide checks of the code's shape:
// what may import what, which package starts processes, where a driver's
// name may appear, and what the root holds.
package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers/all"
)

// module is this repository's module path, the prefix of its own imports.
const module = "github.com/alexandria-backup/alexandria-backup"

// repoRoot is the repository's root, seen from this package's directory,
// where go test runs its tests.
const repoRoot = "../.."

// testenvDir holds the servers and fixtures tests run against (real
// PostgreSQL, sshd, rclone serve, restic locks, a generated library). They
// import "testing" and start processes, so they stay out of production code.
const testenvDir = "internal/testenv"

// demoDir and benchDir are the programs outside internal/testenv allowed
// to use it: the demo builds a sandbox with the same fixtures the tests
// use, the benchmark its data and a throw-away PostgreSQL.
const (
	demoDir  = "tools/demo"
	benchDir = "tools/bench"
)

// nonTestFiles parses every non-test Go file under root with mode and
// calls visit with its slash-separated path from root. Every .go file is
// read whatever its build tags, so a tag cannot hide an import; the
// directories the go tool ignores are skipped.
func nonTestFiles(root string, mode parser.Mode, visit func(rel string, f *ast.File) error) error {
	fset := token.NewFileSet()
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, mode)
		if err != nil {
			return err
		}
		return visit(rel, f)
	})
}

// importPath is spec's import path.
func importPath(spec *ast.ImportSpec) string {
	imp, err := strconv.Unquote(spec.Path.Value)
	if err != nil {
		panic(err) // the parser accepted it, so it is a valid string literal
	}
	return imp
}

// testCodeLeaks walks the Go files under root and names every non-test
// file that brings test code into a program: one importing "testing" (or a
// testing/... package) outside internal/testenv, and one importing
// internal/testenv outside internal/testenv, tools/demo and tools/bench.
func testCodeLeaks(root string) ([]string, error) {
	var leaks []string
	err := nonTestFiles(root, parser.ImportsOnly, func(rel string, f *ast.File) error {
		inTestenv := under(rel, testenvDir)
		for _, spec := range f.Imports {
			switch imp := importPath(spec); {
			case (imp == "testing" || strings.HasPrefix(imp, "testing/")) && !inTestenv:
				leaks = append(leaks, rel+" imports "+imp)
			case under(imp, module+"/"+testenvDir) && !inTestenv && !under(rel, demoDir) && !under(rel, benchDir):
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
// tests, the demo and the benchmark import internal/testenv.
func TestNoTestCodeOutsideTestenv(t *testing.T) {
	// The guard itself, against a tree holding each shape it must refuse
	// and each it must let through.
	files := map[string]fabricated{
		"main.go":                         {`import "testing"`, true},
		"drivers/helper.go":               {`import "testing"`, true},
		"drivers/fs.go":                   {`import "testing/fstest"`, true},
		"drivers/tagged.go":               {"//go:build ignore\n\npackage x\nimport \"testing\"", true},
		"internal/pgserver/fortest.go":    {`import "testing"`, true},
		"internal/testenvx/fake.go":       {`import "testing"`, true},
		"tools/demo/main.go":              {`import t "testing"`, true},
		"tools/demo/sandbox.go":           {`import "` + module + `/internal/testenv/sandbox"`, false},
		"tools/bench/main.go":             {`import "` + module + `/internal/testenv/pgserver"`, false},
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
	checkGuard(t, files, testCodeLeaks)

	// This repository.
	leaks, err := testCodeLeaks(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leaks {
		t.Errorf("%s: test code belongs in %s/, and only tests, %s and %s may import it", l, testenvDir, demoDir, benchDir)
	}
}

// TestBinaryLinksNoTestCode checks the same thing on what ships: the
// alexandria-backup binary's whole dependency graph, third-party modules
// included, holds neither "testing" nor internal/testenv.
func TestBinaryLinksNoTestCode(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping go list")
	}
	out, err := exec.Command("go", "list", "-deps", module).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" || strings.HasPrefix(pkg, "testing/") || under(pkg, module+"/"+testenvDir) {
			t.Errorf("the alexandria-backup binary links %s", pkg)
		}
	}
}

// procDir is the one package that starts processes: process groups, stop
// signals, pipes and output tails live there, and nowhere else.
const procDir = "internal/proc"

// toolsDir holds developer programs (the demo, the test report), which
// start test servers and the binary itself; they never ship.
const toolsDir = "tools"

// processStarters are the ways to start a process other than importing
// os/exec: each package's functions that fork or exec.
var processStarters = map[string][]string{
	"os":      {"StartProcess"},
	"syscall": {"ForkExec", "StartProcess", "Exec"},
}

// processStarts walks the Go files under root and names every non-test
// file outside internal/proc, internal/testenv and tools/ that can start a
// process: one importing "os/exec" (under any name), or calling
// os.StartProcess, syscall.ForkExec, syscall.StartProcess or syscall.Exec.
func processStarts(root string) ([]string, error) {
	var found []string
	err := nonTestFiles(root, parser.SkipObjectResolution, func(rel string, f *ast.File) error {
		if under(rel, procDir) || under(rel, testenvDir) || under(rel, toolsDir) {
			return nil
		}
		// The name each package of processStarters goes by in this file.
		names := map[string]string{}
		for _, spec := range f.Imports {
			imp := importPath(spec)
			if imp == "os/exec" {
				found = append(found, rel+" imports os/exec")
			}
			if _, ok := processStarters[imp]; ok {
				name := imp
				if spec.Name != nil {
					name = spec.Name.Name
				}
				names[name] = imp
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && slices.Contains(processStarters[names[x.Name]], sel.Sel.Name) {
				found = append(found, rel+" calls "+names[x.Name]+"."+sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	return found, err
}

// TestOnlyProcStartsProcesses keeps process handling in one package: no
// non-test file outside internal/proc (and the test servers and developer
// tools) imports os/exec or forks by another road, so every tool, hook and
// notification runs through the same process groups, stop signals, bounded
// tails and secret masking.
func TestOnlyProcStartsProcesses(t *testing.T) {
	// The guard itself, against a tree holding each shape it must refuse
	// and each it must let through.
	files := map[string]fabricated{
		"main.go":                        {`import "os/exec"`, true},
		"drivers/restic.go":              {`import x "os/exec"`, true},
		"internal/notify/hook.go":        {`import _ "os/exec"`, true},
		"drivers/tagged.go":              {"//go:build ignore\n\npackage x\nimport \"os/exec\"", true},
		"internal/procx/run.go":          {`import "os/exec"`, true},
		"plan/fork.go":                   {"import \"os\"\nvar _, _ = os.StartProcess(\"/bin/true\", nil, nil)", true},
		"plan/fork2.go":                  {"import sc \"syscall\"\nfunc f() { sc.Exec(\"/bin/true\", nil, nil) }", true},
		"plan/fork3.go":                  {"import \"syscall\"\nvar _, _ = syscall.ForkExec(\"/bin/true\", nil, nil)", true},
		"plan/kill.go":                   {"import \"syscall\"\nvar _ = syscall.Kill(1, 0)", false},
		"plan/other.go":                  {"import \"os\"\nvar _ = os.Getpid()", false},
		"plan/shadow.go":                 {"func f(os struct{ StartProcess int }) int { return os.StartProcess }", false},
		"internal/proc/exec.go":          {`import "os/exec"`, false},
		"internal/proc/group/group.go":   {`import "syscall"` + "\nvar _, _ = syscall.ForkExec(\"/bin/true\", nil, nil)", false},
		"internal/testenv/pgserver/x.go": {`import "os/exec"`, false},
		"tools/demo/main.go":             {`import "os/exec"`, false},
		"drivers/restic_test.go":         {`import "os/exec"`, false},
		"drivers/testdata/x/main.go":     {`import "os/exec"`, false},
	}
	checkGuard(t, files, processStarts)

	// This repository.
	found, err := processStarts(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range found {
		t.Errorf("%s: only %s/ starts processes; run them through it", l, procDir)
	}
}

// TestNoDriverNameSwitches keeps what is known about a tool in its driver:
// no non-test file outside a tool's own files compares a driver's name
// with a string literal (== or !=), switches on it (case "restic"), or
// keys a map with it ("restic": ..., m["restic"]). Such a switch compiles
// when a driver is added and silently falls to its default; other layers
// ask the driver instead (Facts, Resources, optional interfaces).
func TestNoDriverNameSwitches(t *testing.T) {
	names := all.Names()
	// The guard itself, against a tree holding each shape it must refuse
	// and each it must let through.
	files := map[string]fabricated{
		"lock.go":                    {`func f(d string) bool { return d == "pg_dump" }`, true},
		"plan/load.go":               {`func f(d string) bool { return "borg" != d }`, true},
		"internal/doctor/x.go":       {`func f(d string) { switch d { case "x", "rsync": } }`, true},
		"internal/schedule/x.go":     {`func f(d string) { switch { case d == "restic": } }`, true},
		"internal/doctor/pkg.go":     {`var m = map[string]string{"rclone": "rclone"}`, true},
		"internal/planpaths/x.go":    {`var m map[string]int; var _ = m["borg"]`, true},
		"drivers/secrets.go":         {`var m = map[string][]int{"restic": {11}}`, true},
		"drivers/restic.go":          {`func f(d string) bool { return d == "borg" }`, true},
		"drivers/restic_locks.go":    {`func f(d string) bool { return d == "restic" }`, true},
		"drivers/pgdump_scratch.go":  {`func f(d string) bool { return d == "pg_dump" }`, true},
		"drivers/pgdump/scratch.go":  {`func f(d string) bool { return d == "pg_dump" }`, false},
		"drivers/all/all.go":         {`func f(d string) bool { return d == "borg" }`, true},
		"drivers/borg/borg.go":       {`func f(d string) bool { return d == "borg" }`, false},
		"drivers/rsync/x.go":         {`func f(d string) bool { return d == "rclone" }`, true},
		"main.go":                    {`func f(d string) bool { return d == "postgres" }`, false},
		"plan/prog.go":               {`var c = struct{ Program string }{Program: "restic"}`, false},
		"drivers/restic_test.go":     {`func f(d string) bool { return d == "borg" }`, false},
		"drivers/testdata/x/main.go": {`func f(d string) bool { return d == "borg" }`, false},
		"internal/testenv/x/fix.go":  {`func f(d string) bool { return d == "borg" }`, false},
	}
	checkGuard(t, files, func(root string) ([]string, error) { return driverNameSwitches(root, names) })

	// This repository.
	found, err := driverNameSwitches(repoRoot, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range found {
		t.Errorf("%s: ask the driver (all.Lookup(t.Driver): Facts, Resources or an optional interface) instead of naming it", l)
	}
}

// driverNameSwitches lists, as "file:line: what", every place under root
// where a string literal naming a driver is compared, switched on or used
// as a map key outside that driver's own files.
func driverNameSwitches(root string, names []string) ([]string, error) {
	fset := token.NewFileSet()
	var out []string
	err := nonTestFiles(root, 0, func(rel string, f *ast.File) error {
		// nonTestFiles parses with its own file set: parse again for lines.
		f, err := parser.ParseFile(fset, filepath.Join(root, filepath.FromSlash(rel)), nil, 0)
		if err != nil {
			return err
		}
		check := func(e ast.Expr, how string) {
			lit, ok := e.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return
			}
			name, err := strconv.Unquote(lit.Value)
			if err != nil || !slices.Contains(names, name) || ownFile(rel, name) {
				return
			}
			out = append(out, rel+":"+strconv.Itoa(fset.Position(lit.Pos()).Line)+": "+how+" "+lit.Value)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BinaryExpr:
				if n.Op == token.EQL || n.Op == token.NEQ {
					check(n.X, "compares with")
					check(n.Y, "compares with")
				}
			case *ast.CaseClause:
				for _, e := range n.List {
					check(e, "switches on")
				}
			case *ast.CompositeLit:
				if _, ok := n.Type.(*ast.MapType); ok {
					for _, e := range n.Elts {
						if kv, ok := e.(*ast.KeyValueExpr); ok {
							check(kv.Key, "keys a map with")
						}
					}
				}
			case *ast.IndexExpr:
				check(n.Index, "looks up")
			}
			return true
		})
		return nil
	})
	return out, err
}

// ownFile reports whether rel is one of driver name's own files: a file
// of its own package drivers/<tool>/ (drivers/pgdump for pg_dump). Test
// support (internal/testenv, never linked into the binary) builds fixtures
// per tool and may name them.
func ownFile(rel, name string) bool {
	if strings.HasPrefix(rel, "internal/testenv/") {
		return true
	}
	tool := strings.ReplaceAll(name, "_", "")
	return strings.HasPrefix(rel, "drivers/"+tool+"/")
}

// strayRootFiles names the Go files in the directory root other than
// main.go, test files included: the root only wires up the command line,
// and everything else lives in a package of its own (internal/cli for the
// commands).
func strayRootFiles(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var stray []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") && e.Name() != "main.go" {
			stray = append(stray, e.Name())
		}
	}
	return stray, nil
}

// TestRootHoldsOnlyMainGo keeps the repository's root to main.go: the
// commands live in internal/cli, one file each.
func TestRootHoldsOnlyMainGo(t *testing.T) {
	// The guard itself, against a root holding each shape it must refuse
	// and each it must let through.
	root := t.TempDir()
	for _, name := range []string{"main.go", "lock.go", "main_test.go", "README.md", "go.mod", "sub/x.go"} {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("package main\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := strayRootFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"lock.go", "main_test.go"}; !slices.Equal(got, want) {
		t.Errorf("on a fabricated root the guard flagged %v, want %v", got, want)
	}

	// This repository.
	stray, err := strayRootFiles(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range stray {
		t.Errorf("%s: the repository's root holds only main.go, which wires up internal/cli; move it into the package that owns it", name)
	}
}

// fabricated is one file of a made-up tree a guard is tested on: its source
// (after "package x", unless it starts with a build tag) and whether the
// guard must flag it.
type fabricated struct {
	src  string
	flag bool
}

// checkGuard writes files under a temporary root, runs guard on it and
// fails unless it flags exactly the files marked. A guard reports each
// finding as a line starting with the file, followed by ":" or a space.
func checkGuard(t *testing.T, files map[string]fabricated, guard func(root string) ([]string, error)) {
	t.Helper()
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
		if f.flag {
			want = append(want, name)
		}
	}
	found, err := guard(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range found {
		file := l
		if i := strings.IndexAny(l, ": "); i >= 0 {
			file = l[:i]
		}
		if !slices.Contains(got, file) {
			got = append(got, file)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("on a fabricated tree the guard flagged\n  %v\nwant\n  %v", got, want)
	}
}

// TestOnePackagePerTool: every registered driver lives in its own package,
// drivers/<tool> (drivers/pgdump for pg_dump), which holds what is known
// about the tool; drivers/ itself holds only the contract.
func TestOnePackagePerTool(t *testing.T) {
	for _, d := range all.Drivers() {
		want := module + "/drivers/" + strings.ReplaceAll(d.Name(), "_", "")
		if got := reflect.TypeOf(d).PkgPath(); got != want {
			t.Errorf("driver %s is declared in %s, want its own package %s", d.Name(), got, want)
		}
	}
}

// TestOnlyTheRegistryImportsTools: outside drivers/ and test support, no
// non-test file imports a tool's package; other layers reach a driver
// through drivers/all and ask it (Facts, Resources, optional interfaces).
func TestOnlyTheRegistryImportsTools(t *testing.T) {
	files := map[string]fabricated{
		"plan/sweep.go":             {`import "` + module + `/drivers/pgdump"`, true},
		"internal/cli/run.go":       {`import "` + module + `/drivers/restic"`, true},
		"internal/doctor/doctor.go": {`import "` + module + `/drivers/all"`, false},
		"plan/load.go":              {`import "` + module + `/drivers"`, false},
		"drivers/all/all.go":        {`import "` + module + `/drivers/borg"`, false},
		"drivers/pgdump/stream.go":  {`import "` + module + `/drivers/internal/stamped"`, false},
		"internal/testenv/x/x.go":   {`import "` + module + `/drivers/rsync"`, false},
		"internal/cli/run_test.go":  {`import "` + module + `/drivers/rclone"`, false},
		"tools/demo/main.go":        {`import "` + module + `/drivers/command"`, true},
	}
	checkGuard(t, files, toolImports)

	found, err := toolImports(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range found {
		t.Errorf("%s: reach the driver through drivers/all instead", l)
	}
}

// toolImports lists, as "file: imports path", every non-test file outside
// drivers/ and internal/testenv/ that imports a package under drivers/
// other than the contract and the registry.
func toolImports(root string) ([]string, error) {
	var out []string
	err := nonTestFiles(root, parser.ImportsOnly, func(rel string, f *ast.File) error {
		if strings.HasPrefix(rel, "drivers/") || strings.HasPrefix(rel, "internal/testenv/") {
			return nil
		}
		for _, spec := range f.Imports {
			p := importPath(spec)
			if strings.HasPrefix(p, module+"/drivers/") && p != module+"/drivers/all" {
				out = append(out, rel+": imports "+p)
			}
		}
		return nil
	})
	return out, err
}
