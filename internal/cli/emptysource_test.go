package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A run over a library whose disk is not mounted (the mount point holds
// only empty directories) fails its restic and borg targets, and retention
// does not run after it: with keep_last = 2, the empty snapshot would
// otherwise count as the newest and retention would forget a real one.
// The real snapshots all survive, and no empty one is left behind.
func TestRunEmptySourceKeepsTheRealSnapshots(t *testing.T) {
	requireTool(t, "restic")
	requireTool(t, "borg")
	s := newSandbox(t, "")
	pass := filepath.Join(s.dir, "borg.pass")
	os.WriteFile(pass, []byte("borg-passphrase-never-shown\n"), 0o600)
	src, _ := os.ReadFile(s.plan)
	src = append(src, []byte(`
[targets.library-borg]
driver = "borg"
repository = "`+filepath.Join(s.dir, "borg")+`"
passphrase_file = "`+pass+`"
paths = ["`+s.lib+`"]
archive_name = "{now:%Y-%m-%dT%H:%M:%S.%f}"
keep_last = 2
env = { BORG_BASE_DIR = "`+filepath.Join(s.dir, "borg-base")+`" }

[plans.both]
targets = ["library", "library-borg"]
`)...)
	os.WriteFile(s.plan, src, 0o600)
	if code, _, stderr := runCLI(t, "init", "--plan", "both", "-c", s.plan); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	for i := 0; i < 2; i++ {
		if code, _, stderr := runCLI(t, "run", "both", "-c", s.plan); code != 0 {
			t.Fatalf("run %d: exit %d\n%s", i, code, stderr)
		}
	}
	ids := func(target string) []string {
		t.Helper()
		code, stdout, stderr := runCLI(t, "snapshots", target, "--json", "-c", s.plan)
		var snaps []struct{ ID string }
		if code != 0 || json.Unmarshal([]byte(stdout), &snaps) != nil {
			t.Fatalf("snapshots %s: exit %d\n%s%s", target, code, stdout, stderr)
		}
		var out []string
		for _, sn := range snaps {
			out = append(out, sn.ID)
		}
		slices.Sort(out)
		return out
	}
	before := map[string][]string{"library": ids("library"), "library-borg": ids("library-borg")}
	for name, list := range before {
		if len(list) != 2 {
			t.Fatalf("%s: two runs left %v", name, list)
		}
	}

	// The disk is not mounted: a stray directory tree at the mount point.
	os.RemoveAll(s.lib)
	os.MkdirAll(filepath.Join(s.lib, "books"), 0o755)
	code, stdout, stderr := runCLI(t, "run", "both", "--json", "-c", s.plan)
	if code != 1 || strings.Count(stderr, "0 files after excludes") < 2 {
		t.Errorf("want both targets to fail on an empty source: exit %d\n%s", code, stderr)
	}
	var rep struct {
		Targets []struct {
			Name, Status string
			Pruned       bool
			Error        *string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Targets {
		if r.Status != "failed" || r.Pruned || r.Error == nil || !strings.Contains(*r.Error, "was removed") {
			t.Errorf("%s: want failed, not pruned, the empty snapshot removed: %+v", r.Name, r)
		}
	}
	for name, list := range before {
		if now := ids(name); !slices.Equal(now, list) {
			t.Errorf("%s: the snapshots changed after a run over an empty source: before %v, after %v", name, list, now)
		}
	}
}
