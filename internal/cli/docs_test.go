package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/all"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

var update = flag.Bool("update", false, "rewrite generated documentation")

// repoRoot is the repository's root, seen from this package's directory,
// where go test runs its tests.
const repoRoot = "../.."

// The example plan loads, validates, dry-runs, and shows every key of
// every driver (set or commented out).
func TestExamplePlan(t *testing.T) {
	path := filepath.Join(repoRoot, "alexandria-backup.toml.example")
	p, err := plan.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// validate checks the secret files the plan names (as run would):
	// validate a copy whose /etc/alexandria-backup holds them.
	etc := t.TempDir()
	for _, name := range []string{"db.pass", "restic.pass", "restic-copy.pass", "borg.pass", "rclone.conf"} {
		os.WriteFile(filepath.Join(etc, name), []byte("secret\n"), 0o600)
	}
	example, _ := os.ReadFile(path)
	copied := filepath.Join(etc, "alexandria-backup.toml")
	os.WriteFile(copied, bytes.ReplaceAll(example, []byte("/etc/alexandria-backup/"), []byte(etc+"/")), 0o600)
	if code, _, stderr := runCLI(t, "validate", "--config", copied); code != 0 {
		t.Fatalf("validate: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, "run", "weekly", "--dry-run", "--config", path)
	if code != 0 || !strings.Contains(stdout, "pg_dump --format=custom --compress=6") || !strings.Contains(stdout, "restic backup") {
		t.Fatalf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	src, _ := os.ReadFile(path)
	opts := append([]drivers.Option{}, drivers.CommonOptions...)
	for _, d := range all.Drivers() {
		opts = append(opts, d.Options()...)
		found := false
		for _, t := range p.Targets {
			found = found || t.Driver == d.Name()
		}
		if !found {
			t.Errorf("the example has no %s target", d.Name())
		}
	}
	for _, o := range opts {
		if !regexp.MustCompile(`(?m)^#?\s*` + o.Name + `\s+=`).Match(src) {
			t.Errorf("the example does not show key %s", o.Name)
		}
	}
}

// README's option reference is generated from the drivers' declarations.
func TestReadmeOptionTables(t *testing.T) {
	const begin, end = "<!-- options:begin (generated: go test ./internal/cli -run TestReadmeOptionTables -update) -->\n", "<!-- options:end -->"
	readmePath := filepath.Join(repoRoot, "README.md")
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the markers %q … %q", begin, end)
	}
	want := s[:i+len(begin)] + drivers.OptionsMarkdown(all.Drivers()) + s[j:]
	if *update {
		os.WriteFile(readmePath, []byte(want), 0o644)
		return
	}
	if s != want {
		t.Fatal("README.md's option tables are out of date: go test ./internal/cli -run TestReadmeOptionTables -update")
	}
}
