package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `run` on a check plan exits 2 naming the command that does the check,
// with and without --dry-run, and creates nothing; `schedule` runs that
// command.
func TestRunRefusesCheckPlan(t *testing.T) {
	dir := t.TempDir()
	dumps := filepath.Join(dir, "dumps")
	path := filepath.Join(dir, "plan.toml")
	src := `state_dir = "` + filepath.Join(dir, "state") + `"
[targets.db]
driver = "pg_dump"
database = "postgres://a@db.example.org/a"
dir = "` + dumps + `"
keep_last = 3
[plans.check]
targets = ["db"]
action = "verify-full"
schedule = "weekly"
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{nil, {"--dry-run"}} {
		code, stdout, stderr := runCLI(t, append([]string{"--config", path, "run", "check"}, extra...)...)
		if code != 2 || !strings.Contains(stderr, "run `alexandria-backup verify --full --plan check`") {
			t.Errorf("run check %v: exit %d\n%s%s", extra, code, stdout, stderr)
		}
	}
	if _, err := os.Stat(dumps); !os.IsNotExist(err) {
		t.Errorf("run check made %s: %v", dumps, err)
	}
	code, stdout, stderr := runCLI(t, "--config", path, "schedule", "cron")
	if code != 0 || !strings.Contains(stdout, " verify --full --wait 2h --plan check\n") {
		t.Errorf("schedule cron: exit %d\n%s%s", code, stdout, stderr)
	}
}
