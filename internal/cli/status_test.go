package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/runlock"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/rclonetest"
	planpkg "github.com/alexandria-backup/alexandria-backup/plan"
)

// This file tests `status`: per target across plans, the run in progress,
// --max-age, and --from-repositories, with the real tools.

// targetStatusJSON is one target of `status --json`, decoded loosely
// enough to see each field's JSON type.
type targetStatusJSON struct {
	Target, Driver, Status, Plan, Problem string
	Plans                                 []string
	LastRunAt                             *time.Time `json:"last_run_at"`
	LastSuccessAt                         *time.Time `json:"last_success_at"`
	AgeSeconds                            *float64   `json:"age_seconds"`
	DurationSeconds                       *float64   `json:"duration_seconds"`
	Artifact                              *string
	Bytes                                 *int64
	Running                               bool
	Verify                                *struct {
		LastVerifiedAt *time.Time `json:"last_verified_at"`
		AgeSeconds     *float64   `json:"age_seconds"`
		Full           bool
	}
}

type statusTargetsJSON struct {
	CheckedAt     time.Time `json:"checked_at"`
	MaxAgeSeconds float64   `json:"max_age_seconds"`
	NoBackupsYet  bool      `json:"no_backups_yet"`
	Running       *struct {
		PID        int
		Command    string
		Plan       string
		Targets    []string
		StartedAt  *time.Time `json:"started_at"`
		AgeSeconds *float64   `json:"age_seconds"`
	}
	Targets  []targetStatusJSON
	Problems []string
	Failed   bool
	Stale    bool
}

func (s statusTargetsJSON) target(t *testing.T, name string) targetStatusJSON {
	t.Helper()
	for _, ts := range s.Targets {
		if ts.Target == name {
			return ts
		}
	}
	t.Fatalf("status lists no target %s: %+v", name, s.Targets)
	return targetStatusJSON{}
}

func (s statusTargetsJSON) names() []string {
	var out []string
	for _, ts := range s.Targets {
		out = append(out, ts.Target)
	}
	return out
}

func statusTargets(t *testing.T, plan string, extra ...string) (int, statusTargetsJSON, string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, append([]string{"status", "--json", "-c", plan}, extra...)...)
	var st statusTargetsJSON
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("status --json %v: %v\n%s%s", extra, err, stdout, stderr)
	}
	return code, st, stderr
}

type repoStatusJSON struct {
	Targets []struct {
		Target, Driver, Note, Error, Problem string
		Backups                              int
		Newest                               *struct {
			ID    string
			Time  time.Time
			Bytes int64
			Point string
		}
		AgeSeconds *float64 `json:"age_seconds"`
	}
	Problems []string
	Failed   bool
	Stale    bool
}

func repoStatus(t *testing.T, plan string, extra ...string) (int, repoStatusJSON, string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, append([]string{"status", "--from-repositories", "--json", "-c", plan}, extra...)...)
	var st repoStatusJSON
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("status --from-repositories --json %v: %v\n%s%s", extra, err, stdout, stderr)
	}
	return code, st, stderr
}

// statusPlan is every driver of a monitored install: a database dump,
// borg and restic repositories, an rsync mirror and an rclone copy, run
// by two plans that share the database and the restic target, and a
// spare target no plan runs.
func statusPlan(t *testing.T) (plan, dir, state, lib string) {
	for _, tool := range []string{"pg_dump", "restic", "borg", "rsync", "rclone"} {
		requireTool(t, tool)
	}
	srv, dir, lib := recoverySandbox(t)
	state = filepath.Join(dir, "state")
	plan = filepath.Join(dir, "plan.toml")
	os.WriteFile(plan, []byte(`state_dir = "`+state+`"
[targets.db]
driver   = "pg_dump"
database = "`+srv.URL("alexandria")+`"
dir      = "`+filepath.Join(dir, "dumps")+`"

[targets.books]
driver = "borg"
repository = "`+filepath.Join(dir, "borg")+`"
passphrase_file = "`+filepath.Join(dir, "borg.pass")+`"
paths = ["`+lib+`"]
env = { BORG_BASE_DIR = "`+filepath.Join(dir, "borg-base")+`" }
lock_wait = "2s"

[targets.files]
driver = "restic"
repository = "`+filepath.Join(dir, "restic")+`"
password_file = "`+filepath.Join(dir, "restic.pass")+`"
paths = ["`+lib+`"]
host = "test"

[targets.mirror]
driver      = "rsync"
source      = "`+lib+`/"
destination = "`+filepath.Join(dir, "mirror")+`"

[targets.offsite]
driver      = "rclone"
source      = "`+lib+`"
destination = "`+filepath.Join(dir, "offsite")+`"
config      = "`+rclonetest.WriteConfig(t, dir)+`"

[targets.spare]
driver = "restic"
repository = "`+filepath.Join(dir, "spare")+`"
password_file = "`+filepath.Join(dir, "restic.pass")+`"
paths = ["`+lib+`"]
host = "test"

[plans.weekly]
targets = ["db", "books", "files", "mirror", "offsite"]

[plans.daily]
targets = ["db", "files"]
`), 0o600)
	return plan, dir, state, lib
}

// The report, end to end: a new install says "no backups yet"
// (exit 0, 4 only with --max-age); after `run weekly` then `run daily`,
// each target is listed once with its newest outcome and the plan that
// made it; --plan and --target filter; --max-age judges fresh, stale
// and never-ran targets; the run holding the lock is shown with its
// targets, whether its lock file records them or only its command line
// (an older version's).
func TestStatusPerTargetAcrossPlans(t *testing.T) {
	plan, _, state, _ := statusPlan(t)

	// A new install.
	code, stdout, stderr := runCLI(t, "status", "-c", plan)
	if code != 0 || !strings.Contains(stdout, "no backups yet") {
		t.Fatalf("a new install: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(state); err == nil {
		t.Error("status created state_dir")
	}
	code, st, stderr := statusTargets(t, plan, "--max-age", "26h")
	if code != 4 || !st.NoBackupsYet || !st.Stale || st.Failed || len(st.Problems) != 6 || st.Problems[0] != "target db: never ran" {
		t.Fatalf("a new install with --max-age: exit %d %+v\n%s", code, st, stderr)
	}

	if code, _, stderr := runCLI(t, "init", "-c", plan); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	for _, group := range []string{"weekly", "daily"} {
		if code, _, stderr := runCLI(t, "run", group, "-c", plan); code != 0 {
			t.Fatalf("run %s: exit %d\n%s", group, code, stderr)
		}
	}
	code, st, stderr = statusTargets(t, plan)
	if code != 0 || st.NoBackupsYet || st.Running != nil || len(st.Problems) != 0 {
		t.Fatalf("after both runs: exit %d %+v\n%s", code, st, stderr)
	}
	if got := strings.Join(st.names(), ","); got != "db,books,files,mirror,offsite,spare" {
		t.Errorf("targets %s: each once, in the file's order", got)
	}
	weeklyEnd := st.target(t, "books").LastRunAt
	for name, want := range map[string]string{"db": "daily", "files": "daily", "books": "weekly", "mirror": "weekly", "offsite": "weekly"} {
		ts := st.target(t, name)
		if ts.Status != "ok" || ts.Plan != want || ts.LastSuccessAt == nil || ts.AgeSeconds == nil || *ts.AgeSeconds < 0 || *ts.AgeSeconds > 600 ||
			ts.Artifact == nil || ts.DurationSeconds == nil || *ts.DurationSeconds <= 0 || *ts.DurationSeconds > 600 {
			t.Errorf("%s: %+v, want ok from plan %s", name, ts, want)
		}
		if want == "daily" && !ts.LastRunAt.After(*weeklyEnd) {
			t.Errorf("%s: last run %s is not daily's (weekly ended %s)", name, ts.LastRunAt, weeklyEnd)
		}
		if ts.Verify == nil || ts.Verify.LastVerifiedAt == nil || ts.Verify.LastVerifiedAt.Before(ts.LastSuccessAt.Add(-time.Second)) {
			t.Errorf("%s: last verify %+v", name, ts.Verify)
		}
	}
	if db := st.target(t, "db"); strings.Join(db.Plans, ",") != "daily,weekly" || db.Bytes == nil || *db.Bytes <= 0 {
		t.Errorf("db: %+v", db)
	}
	if spare := st.target(t, "spare"); spare.Status != "never ran" || spare.LastRunAt != nil || spare.AgeSeconds != nil || spare.Problem != "" {
		t.Errorf("spare, without --max-age: %+v", spare)
	}
	code, stdout, _ = runCLI(t, "status", "-c", plan)
	for _, want := range []string{"TARGET", "LAST SUCCESS", "VERIFIED", "DRILL", "db ", "daily", "never ran"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("status table (exit %d) lacks %q:\n%s", code, want, stdout)
		}
	}
	if strings.Count(stdout, "\ndb ") != 1 {
		t.Errorf("db is not listed once:\n%s", stdout)
	}

	// Filters.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--plan", "daily"}, "db,files"},
		{[]string{"--plan", "weekly", "--target", "mirror", "--target", "db"}, "db,mirror"},
		{[]string{"--target", "spare"}, "spare"},
	} {
		if _, st, _ := statusTargets(t, plan, tc.args...); strings.Join(st.names(), ",") != tc.want {
			t.Errorf("%v: %v, want %s", tc.args, st.names(), tc.want)
		}
	}
	for _, args := range [][]string{{"--plan", "monthly"}, {"--target", "nope"}, {"--max-age", "-1h"}} {
		if code, _, stderr := runCLI(t, append([]string{"status", "-c", plan}, args...)...); code != 2 || !strings.Contains(stderr, args[0]) {
			t.Errorf("%v: exit %d, want 2 naming it\n%s", args, code, stderr)
		}
	}

	// --max-age: fresh, stale, never ran.
	time.Sleep(1100 * time.Millisecond)
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		problems string
	}{
		{"fresh", []string{"--plan", "weekly", "--max-age", "1h"}, 0, ""},
		{"fresh without --max-age, spare never ran", nil, 0, ""},
		{"stale", []string{"--target", "books", "--max-age", "1s"}, 4, "target books: last success"},
		{"never ran", []string{"--target", "spare", "--max-age", "1h"}, 4, "target spare: never ran"},
		{"fresh and never ran", []string{"--max-age", "1h"}, 4, "target spare: never ran"},
	} {
		code, st, stderr := statusTargets(t, plan, tc.args...)
		if code != tc.code || !strings.HasPrefix(strings.Join(st.Problems, "|"), tc.problems) || (tc.problems == "") != (len(st.Problems) == 0) {
			t.Errorf("%s: exit %d, problems %q; want %d, %q\n%s", tc.name, code, st.Problems, tc.code, tc.problems, stderr)
		}
		if tc.code == 4 && !strings.Contains(stderr, tc.problems) {
			t.Errorf("%s: stderr does not say it: %s", tc.name, stderr)
		}
	}
	if _, st, _ := statusTargets(t, plan, "--max-age", "90m"); st.MaxAgeSeconds != 5400 {
		t.Errorf("max_age_seconds %v, want 5400", st.MaxAgeSeconds)
	}

	// A run in progress: this version's lock names its plan and targets;
	// an older version's only its command line.
	for _, holder := range []runlock.Holder{
		{PID: os.Getpid(), StartedAt: time.Now().Add(-time.Minute).UTC().Truncate(time.Second), Command: "run daily", Plan: "daily", Targets: []string{"db", "files"}},
		{PID: os.Getpid(), StartedAt: time.Now().Add(-time.Minute).UTC().Truncate(time.Second), Command: "run daily"},
	} {
		l, err := runlock.Acquire(context.Background(), filepath.Join(state, "lock"), holder, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		code, st, stderr := statusTargets(t, plan)
		r := st.Running
		if code != 0 || r == nil || r.PID != os.Getpid() || r.Plan != "daily" || strings.Join(r.Targets, ",") != "db,files" ||
			r.AgeSeconds == nil || *r.AgeSeconds < 59 || !st.target(t, "db").Running || st.target(t, "books").Running {
			t.Errorf("lock held by %+v: exit %d, running %+v\n%s", holder, code, r, stderr)
		}
		_, stdout, _ := runCLI(t, "status", "-c", plan)
		if !strings.Contains(stdout, "running now: pid") || !strings.Contains(stdout, "(run daily)") || !strings.Contains(stdout, "ok, running now") {
			t.Errorf("the table does not show the run:\n%s", stdout)
		}
		l.Release()
	}
	if _, st, _ := statusTargets(t, plan); st.Running != nil {
		t.Errorf("a released lock still shows a run: %+v", st.Running)
	}
}

// What a run records in the lock file, for status: the plan and the
// targets it may touch (--target narrows them); words naming neither
// are ignored. verify, prune, drill and init name no target to mean
// every one: they record every target, so status shows them running.
func TestLockScope(t *testing.T) {
	s := newSandbox(t, "")
	p, err := planpkg.Load(s.plan)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{plan: p}
	all := strings.Join(p.Order, ",")
	for _, tc := range []struct {
		command     string
		words, only []string
		planFlag    string
		plan        string
		targets     string
	}{
		{"run", []string{"all"}, nil, "", "all", "database,library"},
		{"run", []string{"all"}, []string{"library"}, "", "all", "library"},
		{"restore", []string{"library", "--to", "/tmp/x"}, nil, "", "", "library"},
		{"verify", nil, nil, "weekly", "weekly", "library"},
		{"drill", nil, nil, "weekly", "weekly", "library"},
		{"verify", []string{"library"}, nil, "", "", "library"},
		// No TARGET: every target of the file.
		{"verify", nil, nil, "", "", all},
		{"verify", []string{"--full"}, nil, "", "", all},
		{"prune", []string{"--dry-run"}, nil, "", "", all},
		{"drill", nil, nil, "", "", all},
		{"init", nil, nil, "", "", all},
		// A command that needs a name works on nothing without one.
		{"run", []string{"--dry-run"}, nil, "", "", ""},
		{"restore", []string{"--to", "/tmp/x"}, nil, "", "", ""},
	} {
		plan, targets := lockScope(e, tc.command, tc.words, tc.only, tc.planFlag)
		if plan != tc.plan || strings.Join(targets, ",") != tc.targets {
			t.Errorf("%s %v %v %q: %q %v, want %q %s", tc.command, tc.words, tc.only, tc.planFlag, plan, targets, tc.plan, tc.targets)
		}
	}
	if all == "" {
		t.Fatal("the sandbox plan has no targets")
	}
}

// --from-repositories reads each target's newest backup from where it
// is kept, so after state_dir is lost it names the same backups state
// did; it creates no state_dir. It takes no repository lock: it answers
// while restic and borg repositories are locked exclusively (a prune, a
// check), where a locking listing fails or makes the run wait. A mirror
// made by hand (no marker) has no backup of known time, never the
// source's old mtimes; a repository that cannot be read fails (exit 1).
func TestStatusFromRepositories(t *testing.T) {
	plan, dir, state, lib := statusPlan(t)
	if code, _, stderr := runCLI(t, "init", "-c", plan); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "run", "weekly", "-c", plan); code != 0 {
		t.Fatalf("run weekly: exit %d\n%s", code, stderr)
	}
	_, fromState, _ := statusTargets(t, plan, "--plan", "weekly")
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}

	// Lock both repositories exclusively, as a prune would.
	borgHeld := exec.Command("borg", "with-lock", filepath.Join(dir, "borg"), "sleep", "600")
	borgHeld.Env = append(os.Environ(), "BORG_BASE_DIR="+filepath.Join(dir, "borg-base"), "BORG_PASSPHRASE=borg-passphrase")
	if err := borgHeld.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { borgHeld.Process.Kill(); borgHeld.Wait() })
	waitFor(t, 30*time.Second, "borg to lock the repository", func() bool {
		_, err := os.Stat(filepath.Join(dir, "borg", "lock.exclusive"))
		return err == nil
	}, &bytes.Buffer{})
	plantExclusiveResticLock(t, filepath.Join(dir, "restic"), filepath.Join(dir, "restic.pass"))

	start := time.Now()
	code, st, stderr := repoStatus(t, plan, "--plan", "weekly", "--max-age", "1h")
	if code != 0 || st.Failed || st.Stale || len(st.Targets) != 5 {
		t.Fatalf("from the repositories: exit %d %+v\n%s", code, st, stderr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %s: it waited for a lock", d)
	}
	for _, rt := range st.Targets {
		want := fromState.target(t, rt.Target)
		if rt.Newest == nil || want.Artifact == nil || !(strings.HasPrefix(*want.Artifact, rt.Newest.ID) || strings.HasPrefix(rt.Newest.ID, *want.Artifact) ||
			strings.TrimSuffix(rt.Newest.ID, "/") == strings.TrimSuffix(*want.Artifact, "/")) {
			t.Errorf("%s: newest %+v, state's artifact %v", rt.Target, rt.Newest, want.Artifact)
			continue
		}
		// A mirror's time is its marker's, written after the run's verify:
		// within the run, never the library's mtimes.
		if rt.Newest.Time.Before(want.LastRunAt.Add(-10*time.Minute)) || rt.Newest.Time.After(time.Now()) || rt.AgeSeconds == nil || *rt.AgeSeconds > 600 {
			t.Errorf("%s: newest backup made %s, the run ended %s", rt.Target, rt.Newest.Time, want.LastRunAt)
		}
	}
	if _, err := os.Stat(state); err == nil {
		t.Error("status --from-repositories created state_dir")
	}
	// The lock is real: a listing that takes it fails.
	if code, _, stderr := runCLI(t, "snapshots", "files", "-c", plan); code == 0 {
		t.Errorf("restic snapshots with the lock listed anyway: the planted lock proves nothing\n%s", stderr)
	}
	if code, _, stderr := runCLI(t, "snapshots", "books", "-c", plan); code == 0 {
		t.Errorf("borg list with the lock listed anyway: the held lock proves nothing\n%s", stderr)
	}
	os.RemoveAll(state)

	// A mirror made by hand, of a library last changed years ago: rsync
	// copies those times, and no marker says when the copy was made.
	handmade := filepath.Join(dir, "handmade")
	old := time.Date(2020, 5, 1, 0, 0, 0, 0, time.UTC)
	filepath.Walk(lib, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, old, old) })
	if out, err := exec.Command("rsync", "-a", lib+"/", handmade).CombinedOutput(); err != nil {
		t.Fatalf("rsync by hand: %v %s", err, out)
	}
	data, _ := os.ReadFile(plan)
	os.WriteFile(plan, append(data, []byte(`
[targets.byhand]
driver      = "rsync"
source      = "`+lib+`/"
destination = "`+handmade+`"

[targets.broken]
driver = "restic"
repository = "`+filepath.Join(dir, "nothing-here")+`"
password_file = "`+filepath.Join(dir, "restic.pass")+`"
paths = ["`+lib+`"]
host = "test"
`)...), 0o600)
	for _, tc := range []struct {
		args    []string
		code    int
		problem string
	}{
		{[]string{"--target", "byhand"}, 0, ""},
		{[]string{"--target", "byhand", "--max-age", "1000000h"}, 4, "target byhand: no backup of known time"},
		{[]string{"--target", "spare", "--max-age", "1h"}, 4, "target spare: no backup in " + filepath.Join(dir, "spare")},
		{[]string{"--target", "broken"}, 1, "target broken: cannot list its backups"},
	} {
		code, st, stderr := repoStatus(t, plan, tc.args...)
		if code != tc.code || strings.Join(st.Problems, "|") != tc.problem && !strings.HasPrefix(strings.Join(st.Problems, "|"), tc.problem) ||
			(tc.problem == "") != (len(st.Problems) == 0) {
			t.Errorf("%v: exit %d %+v\n%s", tc.args, code, st, stderr)
		}
	}
	_, st, _ = repoStatus(t, plan, "--target", "byhand")
	if b := st.Targets[0]; b.Backups != 1 || b.Newest != nil || b.AgeSeconds != nil || !strings.Contains(b.Note, "unknown time") {
		t.Errorf("a mirror made by hand: %+v", b)
	}
	code, stdout, _ := runCLI(t, "status", "--from-repositories", "--target", "byhand", "--target", "mirror", "-c", plan)
	if code != 0 || !strings.Contains(stdout, "none of known time") || strings.Contains(stdout, "2020-") {
		t.Errorf("the table of a mirror made by hand:\n%s", stdout)
	}
	if _, stdout, _ := runCLI(t, "snapshots", "byhand", "--json", "-c", plan); strings.Contains(stdout, `"time"`) || strings.Contains(stdout, "2020-") {
		t.Errorf("snapshots of a mirror made by hand shows a time:\n%s", stdout)
	}
}

// plantExclusiveResticLock leaves an exclusive lock in a restic
// repository, as a prune or check killed meanwhile would: restic check
// takes one first thing, and is killed as soon as it is written. restic
// 0.14 then refuses every locking command until `unlock`.
func plantExclusiveResticLock(t *testing.T, repo, passFile string) {
	t.Helper()
	for try := 0; try < 20; try++ {
		cmd := exec.Command("restic", "check", "--read-data")
		cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+repo, "RESTIC_PASSWORD_FILE="+passFile)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		for {
			entries, _ := os.ReadDir(filepath.Join(repo, "locks"))
			if slices.ContainsFunc(entries, func(e os.DirEntry) bool { return len(e.Name()) == 64 }) {
				cmd.Process.Signal(syscall.SIGKILL)
				<-done
				if entries, _ := os.ReadDir(filepath.Join(repo, "locks")); len(entries) > 0 {
					return
				}
				break
			}
			select {
			case <-done:
			case <-time.After(2 * time.Millisecond):
				continue
			}
			break
		}
	}
	t.Fatal("could not catch restic check holding its lock")
}
