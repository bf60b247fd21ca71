package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// plantResticLock leaves the lock of a restic killed while holding it:
// `restic backup --stdin` takes its lock and waits for input that never
// comes; it is SIGKILLed once the lock is written (restic makes the file
// read-only then), and restic 0.14 leaves the lock behind.
func plantResticLock(t *testing.T, repo, pass string) string {
	t.Helper()
	locks := func() []string {
		entries, _ := os.ReadDir(filepath.Join(repo, "locks"))
		var ids []string
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && fi.Mode().Perm()&0o222 == 0 {
				ids = append(ids, e.Name())
			}
		}
		return ids
	}
	before := locks()
	cmd := exec.Command("restic", "backup", "--stdin", "--quiet")
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+repo, "RESTIC_PASSWORD_FILE="+pass)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Signal(syscall.SIGKILL)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, id := range locks() {
			if !slices.Contains(before, id) {
				return id
			}
		}
	}
	t.Fatal("restic never took its lock")
	return ""
}

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
		id := plantResticLock(t, s.repo, pass)
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
	id := plantResticLock(t, s.repo, pass)
	runCLI(t, "prune", "library", "--dry-run", "-c", s.plan)
	if _, err := os.Stat(filepath.Join(s.repo, "locks", id)); err != nil {
		t.Errorf("prune --dry-run removed a lock: %v", err)
	}
}
