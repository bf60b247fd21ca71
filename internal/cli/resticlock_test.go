package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/internal/testenv/restictest"
)

// verify and prune need restic's exclusive lock; without a backup before
// them, they apply the stale-lock policy themselves.
func TestVerifyAndPruneRemoveAKilledRunsResticLock(t *testing.T) {
	requireTool(t, "restic")
	s := newSandbox(t, "")
	pass := filepath.Join(s.dir, "restic.pass")
	if code, _, errOut := runCLI(t, "init", "library", "-c", s.plan); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	if code, _, errOut := runCLI(t, "run", "weekly", "-c", s.plan); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	for _, command := range []string{"verify", "prune"} {
		id, _ := restictest.PlantLock(t, s.repo, pass, "")
		// The lock is in the way of anything exclusive.
		check := exec.Command("restic", "check")
		check.Env = append(os.Environ(), "RESTIC_REPOSITORY="+s.repo, "RESTIC_PASSWORD_FILE="+pass)
		if out, err := check.CombinedOutput(); err == nil || !strings.Contains(string(out), "locked") {
			t.Fatalf("restic check beside a killed run's lock: %v\n%s", err, out)
		}
		code, stdout, stderr := runCLI(t, command, "library", "-c", s.plan)
		if code != 0 || !strings.Contains(stderr, "removed 1 stale restic lock(s): "+id[:8]) {
			t.Fatalf("%s after a killed run: exit %d\n%s\n%s", command, code, stdout, stderr)
		}
	}
	// A dry run changes nothing, a dead lock included.
	id, _ := restictest.PlantLock(t, s.repo, pass, "")
	runCLI(t, "prune", "library", "--dry-run", "-c", s.plan)
	if _, err := os.Stat(filepath.Join(s.repo, "locks", id)); err != nil {
		t.Errorf("prune --dry-run removed a lock: %v", err)
	}
}
