package restic_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// copyFixture is a library target with its repository, and a copy of it
// (copy_from) into a second repository with its own password.
type copyFixture struct {
	*drivertest.ResticFixture
	lib, copy *drivers.Target
	copyRepo  string
}

func newCopyFixture(t *testing.T) *copyFixture {
	f, _ := newResticRestoreFixture(t)
	lib := f.RestoreTarget(t, "library", nil)
	c := &copyFixture{ResticFixture: f, lib: lib, copyRepo: filepath.Join(f.Dir, "offsite-repo")}
	c.copy = &drivers.Target{Name: "offsite", Driver: "restic", Impl: restic.Driver{}, Verify: true, CopyFrom: lib,
		Settings: drivers.Values{"repository": c.copyRepo, "copy_from": "library",
			"password_file": drivertest.WriteFile(t, f.Dir, "offsite.pass", "another password entirely\n", 0o600)},
		Env: lib.Env, TempDir: filepath.Join(f.Dir, "tmp-offsite")}
	if err := os.MkdirAll(c.copy.TempDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return c
}

// resticJSON runs restic on a repository outside the driver, for what the
// test checks independently of it.
func resticJSON(t *testing.T, tg *drivers.Target, out any, args ...string) {
	t.Helper()
	cmd := exec.Command("restic", args...)
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+tg.Settings.Str("repository"), "RESTIC_PASSWORD_FILE="+tg.Settings.Str("password_file"),
		"RESTIC_CACHE_DIR="+tg.Env["RESTIC_CACHE_DIR"])
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("restic %s: %v", strings.Join(args, " "), err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("restic %s: %v", strings.Join(args, " "), err)
	}
}

type rawSnapshot struct {
	ID   string   `json:"id"`
	Time string   `json:"time"`
	Tree string   `json:"tree"`
	Host string   `json:"hostname"`
	Tags []string `json:"tags"`
}

// allSnapshots lists every snapshot of a repository, whatever its host or tag.
func allSnapshots(t *testing.T, tg *drivers.Target) []rawSnapshot {
	var s []rawSnapshot
	resticJSON(t, tg, &s, "snapshots", "--json")
	return s
}

// trees are the snapshots' trees with their times: what a copy keeps.
func trees(snaps []rawSnapshot) []string {
	var out []string
	for _, s := range snaps {
		out = append(out, s.Time+" "+s.Tree)
	}
	return out
}

func (c *copyFixture) backupLibrary(t *testing.T, change string) {
	t.Helper()
	drivertest.WriteFile(t, c.Src, "books/changed.epub", change, 0o644)
	c.Backup(t, c.lib)
}

func (c *copyFixture) runCopy(t *testing.T) drivers.Artifact {
	t.Helper()
	a, err := restic.Driver{}.Backup(context.Background(), c.X, c.copy)
	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	return a
}

// The copy's repository takes over the source's chunker parameters when
// it is created after the source's (restic init --copy-chunker-params).
func TestResticCopyInitTakesTheSourcesChunker(t *testing.T) {
	c := newCopyFixture(t)
	ctx := context.Background()
	if err := (restic.Driver{}).Init(ctx, c.X, c.lib); err != nil {
		t.Fatal(err)
	}
	if err := (restic.Driver{}).Init(ctx, c.X, c.copy); err != nil {
		t.Fatal(err)
	}
	var src, dst struct {
		ID         string `json:"id"`
		Polynomial string `json:"chunker_polynomial"`
	}
	resticJSON(t, c.lib, &src, "cat", "config")
	resticJSON(t, c.copy, &dst, "cat", "config")
	if src.Polynomial == "" || src.Polynomial != dst.Polynomial || src.ID == dst.ID {
		t.Fatalf("source config %+v, copy's %+v: want the same chunker polynomial in another repository", src, dst)
	}
}

// The life of a copy: two backups are copied; a run with nothing new
// copies nothing (restic 0.14 itself skips what is already there); the
// copy restores and drills byte for byte with the source's repository
// gone; retention on the copy leaves the source alone and does not make
// the next copy bring the forgotten snapshot back.
func TestResticCopyLifecycle(t *testing.T) {
	c := newCopyFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	c.backupLibrary(t, "first")
	c.backupLibrary(t, "second")
	if err := r.Init(ctx, c.X, c.copy); err != nil {
		t.Fatal(err)
	}
	source := allSnapshots(t, c.lib)

	a := c.runCopy(t)
	copied := allSnapshots(t, c.copy)
	if len(source) != 2 || strings.Join(trees(copied), ",") != strings.Join(trees(source), ",") {
		t.Fatalf("copied %v, want the source's 2 snapshots %v", trees(copied), trees(source))
	}
	if a.ID != copied[1].ID {
		t.Fatalf("artifact %q, want the copy's newest snapshot %q", a.ID, copied[1].ID)
	}
	if len(a.Written) == 0 {
		t.Fatal("the copy added no pack to its repository, by its account")
	}
	for _, p := range a.Written {
		if _, err := os.Stat(filepath.Join(c.copyRepo, p)); err != nil {
			t.Fatalf("Written names %s, not in the copy's repository: %v", p, err)
		}
	}
	if _, err := r.VerifyScoped(ctx, c.X, c.copy, a, drivers.Scope{Slice: 1, Cycle: 4}); err != nil {
		t.Fatalf("verify of the copy: %v", err)
	}
	// listings of the copy select the source's snapshots, in its own repository
	if snaps, err := r.Snapshots(ctx, c.X, c.copy); err != nil || len(snaps) != 2 {
		t.Fatalf("snapshots of the copy: %v %v", snaps, err)
	}

	// Nothing new: no snapshot and no pack added.
	a = c.runCopy(t)
	if got := allSnapshots(t, c.copy); len(got) != 2 || len(a.Written) != 0 || a.ID != copied[1].ID {
		t.Fatalf("a run with nothing new: snapshots %v, written %v, artifact %s", trees(got), a.Written, a.ID)
	}
	// restic itself skips a snapshot the copy holds, offered again.
	cmd := exec.Command("restic", "copy", "--host=test-host", "--tag=alexandria:library", "--", source[0].ID, source[1].ID)
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+c.copyRepo, "RESTIC_PASSWORD_FILE="+c.copy.Settings.Str("password_file"),
		"RESTIC_FROM_REPOSITORY="+c.Repo, "RESTIC_FROM_PASSWORD_FILE="+c.Pass, "RESTIC_CACHE_DIR="+c.lib.Env["RESTIC_CACHE_DIR"])
	if out, err := cmd.CombinedOutput(); err != nil || len(allSnapshots(t, c.copy)) != 2 {
		t.Fatalf("restic copy of snapshots already copied: %v\n%s", err, out)
	}

	// The copy restores on its own: the source's repository is gone.
	moved := c.Repo + ".away"
	if err := os.Rename(c.Repo, moved); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(c.Dir, "restored")
	if _, err := r.Restore(ctx, c.X, c.copy, drivers.RestoreRequest{To: to}); err != nil {
		t.Fatalf("restore from the copy: %v", err)
	}
	drivertest.RbSameTree(t, c.Src, filepath.Join(to, c.Src))
	if res, err := r.Drill(ctx, c.X, c.copy); err != nil || res.Checked == 0 {
		t.Fatalf("drill of the copy: %+v %v", res, err)
	}
	if err := os.Rename(moved, c.Repo); err != nil {
		t.Fatal(err)
	}

	// Retention on the copy: its own repository only.
	c.copy.Settings["keep_last"] = 1
	res, err := r.Prune(ctx, c.X, c.copy, false)
	if err != nil || len(res.Removed) != 1 || res.Kept != 1 {
		t.Fatalf("forget on the copy: %+v %v", res, err)
	}
	if got := allSnapshots(t, c.lib); strings.Join(trees(got), ",") != strings.Join(trees(source), ",") {
		t.Fatalf("forget on the copy changed the source: %v, was %v", trees(got), trees(source))
	}
	if got := allSnapshots(t, c.copy); len(got) != 1 || got[0].Tree != source[1].Tree {
		t.Fatalf("the copy keeps %v, want the newest of %v", trees(got), trees(source))
	}
	// The forgotten one is not copied again; a new backup is.
	c.runCopy(t)
	if got := allSnapshots(t, c.copy); len(got) != 1 {
		t.Fatalf("the copy brought back what its retention forgot: %v", trees(got))
	}
	c.backupLibrary(t, "third")
	c.runCopy(t)
	source = allSnapshots(t, c.lib)
	if got := allSnapshots(t, c.copy); strings.Join(trees(got), ",") != strings.Join(trees(source[1:]), ",") {
		t.Fatalf("after a new backup the copy holds %v, want %v", trees(got), trees(source[1:]))
	}
}

// A damaged pack in the copy's repository: verify --full finds it.
func TestResticCopyFullVerifyFindsDamage(t *testing.T) {
	c := newCopyFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	c.backupLibrary(t, "first")
	if err := r.Init(ctx, c.X, c.copy); err != nil {
		t.Fatal(err)
	}
	a := c.runCopy(t)
	if _, err := r.VerifyScoped(ctx, c.X, c.copy, drivers.Artifact{}, drivers.FullScope); err != nil {
		t.Fatalf("verify --full of an intact copy: %v", err)
	}
	// The largest pack the copy added holds file data.
	var pack string
	var size int64
	for _, p := range a.Written {
		if fi, err := os.Stat(filepath.Join(c.copyRepo, p)); err == nil && fi.Size() > size {
			pack, size = p, fi.Size()
		}
	}
	if pack == "" {
		t.Fatal("the copy added no pack")
	}
	flipAt(func(n int) int { return n / 2 })(t, filepath.Join(c.copyRepo, pack))
	_, err := r.VerifyScoped(ctx, c.X, c.copy, drivers.Artifact{}, drivers.FullScope)
	if err == nil {
		t.Fatalf("verify --full passed a copy whose pack %s is damaged", pack)
	}
	// The source is intact: the damage is the copy's alone.
	if _, err := r.VerifyScoped(ctx, c.X, c.lib, drivers.Artifact{}, drivers.FullScope); err != nil {
		t.Fatalf("verify of the source: %v", err)
	}
}

// In a plan run the copy follows its source; when the source fails, the
// copy still copies the snapshots the source made before.
func TestResticCopyPlanRunAfterAFailedSource(t *testing.T) {
	c := newCopyFixture(t)
	c.backupLibrary(t, "first")
	state := filepath.Join(c.Dir, "state")
	src := `state_dir = "` + state + `"
parallel = 2

[targets.offsite]
driver = "restic"
copy_from = "library"
repository = "` + c.copyRepo + `"
password_file = "` + c.copy.Settings.Str("password_file") + `"
env = { RESTIC_CACHE_DIR = "` + c.lib.Env["RESTIC_CACHE_DIR"] + `" }
keep_last = 5

[targets.library]
driver = "restic"
repository = "` + c.Repo + `"
password_file = "` + c.Pass + `"
paths = ["` + c.Src + `", "` + filepath.Join(c.Dir, "missing") + `"]
host = "test-host"
env = { RESTIC_CACHE_DIR = "` + c.lib.Env["RESTIC_CACHE_DIR"] + `" }

[plans.nightly]
targets = ["offsite", "library"]
`
	p, err := plan.Parse(filepath.Join(c.Dir, "plan.toml"), []byte(src), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, o := range p.Init(ctx, p.AllTargets(), plan.Runtime{Exec: proc.ProcessExecutor{}}) {
		if o.Err != nil {
			t.Fatalf("init %s: %v", o.Target, o.Err)
		}
	}
	rep, err := p.Run(ctx, "nightly", plan.RunOptions{}, plan.Runtime{Exec: proc.ProcessExecutor{}})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, r := range rep.Targets {
		status[r.Name] = r.Status
		if r.Error != nil {
			status[r.Name] += ": " + *r.Error
		}
		for _, w := range r.Warnings {
			status[r.Name] += ": " + w
		}
	}
	// The copy copied what there was, and warns that none of it is this
	// run's: its artifact is an earlier run's snapshot.
	if !strings.HasPrefix(status["library"], "failed") || !strings.HasPrefix(status["offsite"], "warning: library made no snapshot in this run") {
		t.Fatalf("statuses %v: want library failed (a path is missing) and the copy warning that it holds no snapshot of this run", status)
	}
	// Besides the plan the run stored in it (a snapshot of its own).
	var copied []rawSnapshot
	for _, s := range allSnapshots(t, c.copy) {
		if !slices.Contains(s.Tags, drivers.PlanLabel) {
			copied = append(copied, s)
		}
	}
	if got, want := trees(copied), trees(allSnapshots(t, c.lib)); len(want) != 1 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("the copy holds %v, want the source's %v", got, want)
	}
	// And the run's report says so, so its recovery point leaves it out.
	for _, r := range rep.Targets {
		if r.Name == "offsite" && !r.EarlierArtifact {
			t.Errorf("the copy's artifact is an earlier run's snapshot, but the report does not say so: %+v", r)
		}
	}
}
