package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/plan"
)

// prune_every: retention forgets on every run, but the space of what it
// forgot is reclaimed (restic's forget --prune) at most that often, as the
// state remembers; the report names the repository reclaimed. Real restic:
// each run stores a book of its own, so a reclaim shows as packs gone.
func TestPruneEveryReclaimsOnlyWhenDue(t *testing.T) {
	requireTool(t, "restic")
	s := newSandbox(t, "")
	pass := filepath.Join(s.dir, "restic.pass")
	os.WriteFile(s.plan, []byte(`state_dir = "`+s.state+`"
[targets.library]
driver = "restic"
repository = "`+s.repo+`"
password_file = "`+pass+`"
paths = ["`+s.lib+`"]
host = "test"
keep_last = 1
prune_every = "168h"
[plans.weekly]
targets = ["library"]
`), 0o644)
	if code, _, stderr := runCLI(t, "init", "-c", s.plan); code != 0 {
		t.Fatalf("init: %d\n%s", code, stderr)
	}
	packs := func() int {
		n := 0
		filepath.WalkDir(filepath.Join(s.repo, "data"), func(_ string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	run := func(i int) plan.TargetReport {
		t.Helper()
		// A book only this run's snapshot holds: its pack goes when that
		// snapshot is forgotten and the space reclaimed.
		book := make([]byte, 64<<10)
		for j := range book {
			book[j] = byte(i*7 + j*j)
		}
		os.WriteFile(filepath.Join(s.lib, "books", "only-in-run-"+strconv.Itoa(i)), book, 0o644)
		os.Remove(filepath.Join(s.lib, "books", "only-in-run-"+strconv.Itoa(i-1)))
		code, stdout, stderr := runCLI(t, "run", "weekly", "--json", "-c", s.plan)
		var rep plan.Report
		if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil || len(rep.Targets) != 1 {
			t.Fatalf("run %d: exit %d\n%s%s", i, code, stdout, stderr)
		}
		return rep.Targets[0]
	}

	// 1: nothing to forget yet. 2: its first forget, and no reclaim on
	// record: reclaimed. 3: forgets run 2's snapshot, but the last reclaim
	// is minutes old: the space waits.
	if r := run(1); r.Reclaimed != "" || !r.Pruned {
		t.Fatalf("run 1 (nothing forgotten): %+v", r)
	}
	if r := run(2); r.Reclaimed != "library" {
		t.Fatalf("run 2 (first forget): reclaimed %q", r.Reclaimed)
	}
	afterReclaim := packs()
	if r := run(3); r.Reclaimed != "" || !r.Pruned {
		t.Fatalf("run 3 (a reclaim an instant ago): %+v", r)
	}
	if n := packs(); n <= afterReclaim {
		t.Fatalf("run 3 reclaimed space anyway: %d packs, %d before", n, afterReclaim)
	}
	// keep_last = 1: forget still ran.
	if got := snapshotCount(t, s); got != 1 {
		t.Fatalf("retention did not forget on run 3: %d snapshots", got)
	}

	// A week later (the state says so) the next run reclaims what runs 3
	// and 4 forgot.
	statePath := filepath.Join(s.state, "state.json")
	b, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	json.Unmarshal(b, &st)
	reclaims, _ := st["reclaims"].(map[string]any)
	if _, ok := reclaims["library"]; !ok {
		t.Fatalf("the state does not remember the reclaim: %s", b)
	}
	reclaims["library"] = time.Now().Add(-8 * 24 * time.Hour).UTC().Format(time.RFC3339Nano)
	b, _ = json.Marshal(st)
	os.WriteFile(statePath, b, 0o600)
	before := packs()
	if r := run(4); r.Reclaimed != "library" {
		t.Fatalf("run 4 (a week after the last reclaim): reclaimed %q", r.Reclaimed)
	}
	if n := packs(); n >= before {
		t.Fatalf("run 4 reclaimed nothing: %d packs, %d before", n, before)
	}
}

// snapshotCount is how many snapshots restic lists in the sandbox's
// repository.
func snapshotCount(t *testing.T, s *sandbox) int {
	t.Helper()
	code, stdout, stderr := runCLI(t, "snapshots", "library", "--json", "-c", s.plan)
	var snaps []json.RawMessage
	if code != 0 || json.Unmarshal([]byte(stdout), &snaps) != nil {
		t.Fatalf("snapshots: exit %d\n%s%s", code, stdout, stderr)
	}
	return len(snaps)
}
