package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/plan"
)

// Retention keeps the newest recovery point recover could use whole, in
// every command that applies it: the run (and what its dry run prints)
// and `prune`. The point is the newest holding a database and files from
// one run, not merely the newest run (a files-only run comes after it).
func TestRetentionKeepsTheNewestRecoverablePoint(t *testing.T) {
	requireTool(t, "restic")
	s := newSandbox(t, "")
	reports := filepath.Join(s.state, "reports")
	os.MkdirAll(reports, 0o700)
	write := func(name, point string, targets ...string) {
		t.Helper()
		r := plan.Report{Command: "run", Plan: "all", Point: point, Status: plan.StatusOK, StartedAt: time.Now().UTC()}
		for _, tg := range targets {
			art, size := "artifact-of-"+tg, int64(1)
			r.Targets = append(r.Targets, plan.TargetReport{Name: tg, Driver: map[string]string{"library": "restic", "database": "pg_dump"}[tg],
				Status: plan.StatusOK, Artifact: &art, Bytes: &size})
		}
		data, _ := json.Marshal(r)
		if err := os.WriteFile(filepath.Join(reports, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const whole, newer, older = "20261206T031500Z-aaaa", "20261207T031500Z-bbbb", "20261205T031500Z-cccc"
	write("run-all-1.json", older, "database", "library")
	write("run-all-2.json", whole, "database", "library")
	write("run-weekly-3.json", newer, "library") // files only: recover cannot use it

	code, stdout, stderr := runCLI(t, "-c", s.plan, "run", "weekly", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "--keep-tag=alexandria-point="+whole) || strings.Contains(stdout, newer) || strings.Contains(stdout, older) {
		t.Fatalf("run --dry-run: exit %d; want its forget to keep point %s alone:\n%s%s", code, whole, stdout, stderr)
	}

	if code, _, stderr := runCLI(t, "-c", s.plan, "init", "library"); code != 0 {
		t.Fatalf("init: %d %s", code, stderr)
	}
	// A repository with no snapshot yet: restic forget prints nothing,
	// which is nothing to remove, not an error.
	code, stdout, stderr = runCLI(t, "-c", s.plan, "--log-level", "debug", "prune", "library", "--dry-run")
	if code != 0 || !strings.Contains(stderr, "--keep-tag=alexandria-point="+whole) || !strings.Contains(stdout, "library: would remove 0, keep 0") {
		t.Fatalf("prune --dry-run: exit %d; want restic forget to keep point %s:\n%s%s", code, whole, stdout, stderr)
	}
}
