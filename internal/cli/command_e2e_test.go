package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A command target through the CLI, with real tar and gzip: run, snapshots,
// restore (only with --yes, never with --to or --database), prune, dry-run
// and runbook.
func TestCommandTargetEndToEnd(t *testing.T) {
	requireTool(t, "tar")
	requireTool(t, "gzip")
	dir := t.TempDir()
	lib, out, dest, state := filepath.Join(dir, "library"), filepath.Join(dir, "backups"), filepath.Join(dir, "restored"), filepath.Join(dir, "state")
	os.MkdirAll(filepath.Join(lib, "books"), 0o755)
	os.WriteFile(filepath.Join(lib, "books", "dune.epub"), []byte("spice"), 0o644)
	os.MkdirAll(dest, 0o700)
	planPath := filepath.Join(dir, "plan.toml")
	os.WriteFile(planPath, []byte(`state_dir = "`+state+`"
[targets.app]
driver = "command"
command = ["tar", "-czf", "{output}", "-C", "`+lib+`", "."]
dir = "`+out+`"
extension = "tar.gz"
verify_command = ["gzip", "-t", "{output}"]
restore_command = ["tar", "-xzf", "{input}", "-C", "`+dest+`"]
keep_last = 1
env = { LIBRARIAN_TOKEN = "token-never-shown" }

[plans.app]
targets = ["app"]
`), 0o600)

	code, stdout, stderr := runCLI(t, "run", "app", "--dry-run", "-c", planPath)
	if code != 0 || !strings.Contains(stdout, "'LIBRARIAN_TOKEN=***' tar -czf "+out+"/.app-") || !strings.Contains(stdout, "gzip -t "+out+"/.app-") ||
		strings.Contains(stdout+stderr, "token-never-shown") {
		t.Fatalf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the dry run wrote something")
	}

	for i := 0; i < 2; i++ {
		code, stdout, stderr = runCLI(t, "run", "app", "--json", "-c", planPath)
		if code != 0 || strings.Contains(stdout+stderr, "token-never-shown") {
			t.Fatalf("run: exit %d\n%s%s", code, stdout, stderr)
		}
	}
	var rep struct {
		Targets []struct {
			Artifact string `json:"artifact"`
			Verified bool   `json:"verified"`
			Pruned   bool   `json:"pruned"`
		} `json:"targets"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || len(rep.Targets) != 1 || !rep.Targets[0].Verified || !rep.Targets[0].Pruned {
		t.Fatalf("report: %v\n%s", err, stdout)
	}
	newest := rep.Targets[0].Artifact
	// keep_last = 1: the second run's retention left only its own file.
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 || filepath.Join(out, entries[0].Name()) != newest {
		t.Fatalf("dir holds %v, want only %s", entries, newest)
	}

	code, stdout, _ = runCLI(t, "snapshots", "app", "--json", "-c", planPath)
	if code != 0 || !strings.Contains(stdout, newest) {
		t.Fatalf("snapshots: exit %d\n%s", code, stdout)
	}

	// A restore runs what the plan says wherever it writes: it needs --yes,
	// and takes neither --to nor --database.
	for _, args := range [][]string{
		{"restore", "app"},
		{"restore", "app", "--to", dest, "--yes"},
		{"restore", "app", "--database", "x", "--yes"},
		{"restore", "app", "--file", newest, "--yes"},
	} {
		code, stdout, stderr = runCLI(t, append(args, "-c", planPath)...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s%s", args, code, stdout, stderr)
		}
	}
	if entries, _ := os.ReadDir(dest); len(entries) != 0 {
		t.Fatal("a refused restore wrote something")
	}
	code, stdout, stderr = runCLI(t, "restore", "app", "--from", filepath.Base(newest), "--yes", "-c", planPath)
	if code != 0 || !strings.Contains(stdout, "restored "+newest) {
		t.Fatalf("restore: exit %d\n%s%s", code, stdout, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "books", "dune.epub")); err != nil || string(b) != "spice" {
		t.Fatalf("restored: %q %v", b, err)
	}

	code, stdout, _ = runCLI(t, "prune", "app", "--dry-run", "-c", planPath)
	if code != 0 {
		t.Fatalf("prune --dry-run: exit %d\n%s", code, stdout)
	}

	code, stdout, _ = runCLI(t, "runbook", "-c", planPath)
	if code != 0 || !strings.Contains(stdout, "restore app --yes") || strings.Contains(stdout, "restore app --to") ||
		!strings.Contains(stdout, "tar -xzf '"+out+"/app-<TIME>.tar.gz' -C "+dest) {
		t.Fatalf("runbook: exit %d\n%s", code, stdout)
	}
}
