package cli

import (
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// The weekly run of a library backed up with restic and its repository
// synced offsite with rclone: `drill offsite` restores from the offsite
// copy as a restic repository; `verify offsite` passes after the
// repository moved on without a sync; damage in the copy fails the drill.
func TestRunWeeklyThenDrillTheOffsiteCopy(t *testing.T) {
	requireTool(t, "restic")
	requireTool(t, "rclone")
	s := newSandbox(t, "")
	t.Setenv("RCLONE_CONFIG", filepath.Join(s.dir, "no-rclone.conf"))
	copyDir := filepath.Join(s.dir, "offsite")
	// Books large enough, and random (restic compresses), that the middle
	// of the data pack is a book's data, which the damage below hits.
	rng := rand.New(rand.NewSource(1))
	for _, name := range []string{"a", "b", "c"} {
		b := make([]byte, 30000)
		rng.Read(b)
		drivertest.WriteFile(t, s.lib, "books/"+name+".epub", string(b), 0o644)
	}
	os.WriteFile(s.plan, []byte(`state_dir = "`+s.state+`"
[targets.library]
driver = "restic"
repository = "`+s.repo+`"
password_file = "`+filepath.Join(s.dir, "restic.pass")+`"
paths = ["`+s.lib+`"]
host = "test"
keep_last = 1

[targets.offsite]
driver = "rclone"
source = "`+s.repo+`/"
destination = "`+copyDir+`"
after = ["library"]

[plans.weekly]
targets = ["library", "offsite"]
`), 0o644)
	if code, _, stderr := runCLI(t, "init", "-c", s.plan); code != 0 {
		t.Fatalf("init: %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "run", "weekly", "-c", s.plan); code != 0 {
		t.Fatalf("run weekly: %d\n%s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, "drill", "offsite", "-c", s.plan)
	if code != 0 || !strings.Contains(stdout, "offsite: drill passed: opened the copy "+copyDir+" (of library's repository) as a restic repository: restic check found no errors; library's snapshot ") {
		t.Fatalf("drill offsite: %d\n%s\n%s", code, stdout, stderr)
	}

	// The repository moves on (a backup, and retention prunes the first
	// snapshot); the offsite copy is a run behind and still verifies.
	drivertest.WriteFile(t, s.lib, "books/new.epub", "a new book", 0o644)
	if code, _, stderr := runCLI(t, "run", "weekly", "--target", "library", "-c", s.plan); code != 0 {
		t.Fatalf("run --target library: %d\n%s", code, stderr)
	}
	for _, args := range [][]string{{"verify", "offsite"}, {"verify", "--full", "offsite"}} {
		if code, stdout, stderr := runCLI(t, append(args, "-c", s.plan)...); code != 0 {
			t.Fatalf("%s without a new sync: %d\n%s\n%s", strings.Join(args, " "), code, stdout, stderr)
		}
	}

	drivertest.RbFlipInLargest(t, filepath.Join(copyDir, "data"))
	code, stdout, stderr = runCLI(t, "drill", "offsite", "-c", s.plan)
	if code != 1 || !strings.Contains(stdout, "offsite: drill FAILED: drill: drill of target library in the copy "+copyDir) {
		t.Fatalf("drill of a damaged copy: %d\n%s\n%s", code, stdout, stderr)
	}
}
