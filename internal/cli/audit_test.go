package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/state"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/pgserver"
)

// auditItem is one item of `audit --json`, read as a monitoring script
// would.
type auditItem struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Status   string   `json:"status"`
	Evidence []string `json:"evidence"`
	Fix      []string `json:"fix"`
}

type auditJSON struct {
	CheckedAt             time.Time   `json:"checked_at"`
	Source                string      `json:"source"`
	DatabaseMaxAgeSeconds float64     `json:"database_max_age_seconds"`
	DrillWithinSeconds    float64     `json:"drill_within_seconds"`
	Items                 []auditItem `json:"items"`
	Failed                bool        `json:"failed"`
}

func runAudit(t *testing.T, plan string, flags ...string) (int, auditJSON, string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, append([]string{"-c", plan, "audit", "--json"}, flags...)...)
	var rep auditJSON
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("audit --json: exit %d, not JSON (%v):\n%s\n%s", code, err, stdout, stderr)
	}
	return code, rep, stderr
}

// statuses is "id=status ..." of a report, for messages and comparisons.
func statuses(rep auditJSON) map[string]string {
	m := map[string]string{}
	for _, it := range rep.Items {
		m[it.ID] = it.Status
	}
	return m
}

func item(t *testing.T, rep auditJSON, id string) auditItem {
	t.Helper()
	for _, it := range rep.Items {
		if it.ID == id {
			return it
		}
	}
	t.Fatalf("no item %s in %+v", id, rep)
	return auditItem{}
}

// editState rewrites state.json through f, as time or a lost file would.
func editState(t *testing.T, dir string, f func(*state.State)) {
	t.Helper()
	s, err := state.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	f(s)
	b, _ := json.Marshal(s)
	if err := os.WriteFile(filepath.Join(dir, state.FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The checklist end to end with the real tools: a database dumped with
// pg_dump, the library in restic, the repository copied offsite by
// rclone, the schedule installed by `schedule systemd --install` in a
// root of its own. After a run and a drill every item passes; removing
// the schedule, aging the state and losing the drill record each fail
// the items they should, with the fix that clears them.
func TestAuditEndToEnd(t *testing.T) {
	requireTool(t, "restic")
	requireTool(t, "rclone")
	requireTool(t, "pg_dump")
	requireTool(t, "systemctl")
	srv := pgserver.ForTest(t)
	if err := srv.CreateDatabase(t.Context(), "alexandria"); err != nil {
		t.Fatal(err)
	}
	s := newSandbox(t, "")
	t.Setenv("RCLONE_CONFIG", filepath.Join(s.dir, "no-rclone.conf"))
	far := filepath.Join(s.dir, "far")
	os.WriteFile(s.plan, []byte(`state_dir = "`+s.state+`"
[notify]
metrics_file = "`+filepath.Join(s.dir, "alexandria.prom")+`"

[targets.db]
driver = "pg_dump"
database = "`+srv.URL("alexandria")+`"
dir = "`+filepath.Join(s.dir, "dumps")+`"
keep_last = 3

[targets.library]
driver = "restic"
repository = "`+s.repo+`"
password_file = "`+filepath.Join(s.dir, "restic.pass")+`"
paths = ["`+s.lib+`"]
host = "test"
keep_last = 2

# The offsite copy: an rclone remote (an alias, standing for a bucket).
[targets.offsite]
driver = "rclone"
source = "`+s.repo+`/"
destination = "far:restic"
after = ["library"]
env = { RCLONE_CONFIG_FAR_TYPE = "alias", RCLONE_CONFIG_FAR_REMOTE = "`+far+`" }

[plans.nightly]
targets = ["db", "library", "offsite"]
schedule = "daily"
`), 0o600)
	root := filepath.Join(s.dir, "root")
	t.Setenv(hostRootEnv, root)

	// A new install: nothing is scheduled, nothing ran.
	code, rep, _ := runAudit(t, s.plan)
	if code != 1 || !rep.Failed || item(t, rep, "database-daily").Status != "failed" {
		t.Fatalf("audit of a new install: exit %d, %v", code, statuses(rep))
	}

	if code, stdout, stderr := runCLI(t, "-c", s.plan, "schedule", "systemd", "--install", "--root", root); code != 0 {
		t.Fatalf("schedule --install: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, "init", "-c", s.plan); code != 0 {
		t.Fatalf("init: %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "run", "nightly", "-c", s.plan); code != 0 {
		t.Fatalf("run: %d\n%s", code, stderr)
	}
	if code, stdout, stderr := runCLI(t, "drill", "--plan", "nightly", "-c", s.plan); code != 0 {
		t.Fatalf("drill: %d\n%s%s", code, stdout, stderr)
	}

	code, rep, stderr := runAudit(t, s.plan)
	want := map[string]string{"database-daily": "ok", "files-weekly": "ok", "offsite": "ok", "restore-tested": "ok",
		"monitoring": "ok", "retention": "ok", "encryption": "ok", "integrity-checks": "ok"}
	if code != 0 || rep.Failed || len(rep.Items) != len(want) {
		t.Fatalf("audit after a run and a drill: exit %d %v\n%s\n%+v", code, statuses(rep), stderr, rep)
	}
	for id, st := range want {
		if it := item(t, rep, id); it.Status != st || len(it.Evidence) == 0 || it.Title == "" || it.Fix == nil {
			t.Errorf("%s: %+v, want %s with evidence", id, it, st)
		}
	}
	if rep.DatabaseMaxAgeSeconds != 26*3600 || rep.DrillWithinSeconds != 30*24*3600 || rep.Source != "state" {
		t.Errorf("limits in seconds: %+v", rep)
	}
	db := strings.Join(item(t, rep, "database-daily").Evidence, "\n")
	if !strings.Contains(db, filepath.Join(root, "/etc/systemd/system/alexandria-backup-nightly.timer")+", enabled") {
		t.Errorf("database evidence does not name the enabled timer:\n%s", db)
	}
	if enc := strings.Join(item(t, rep, "encryption").Evidence, "\n"); !strings.Contains(enc, "target offsite (far:restic): a file-for-file copy of the repository of library") {
		t.Errorf("encryption evidence:\n%s", enc)
	}
	if ret := strings.Join(item(t, rep, "retention").Evidence, "\n"); !strings.Contains(ret, "target offsite: its driver keeps one copy") {
		t.Errorf("retention evidence:\n%s", ret)
	}

	// The text form: a mark per item, and no failure.
	code, text, _ := runCLI(t, "-c", s.plan, "audit")
	if code != 0 || strings.Count(text, "✓ ") != 8 || !strings.Contains(text, "0 of 8 items failed") {
		t.Errorf("audit text: exit %d\n%s", code, text)
	}

	// From the repositories, with the state lost: freshness still holds;
	// the drills are only on record in the state.
	os.Rename(filepath.Join(s.state, state.FileName), filepath.Join(s.dir, "state.json.saved"))
	code, rep, stderr = runAudit(t, s.plan, "--from-repositories")
	if code != 1 || rep.Source != "repositories" {
		t.Fatalf("--from-repositories without state: exit %d %v\n%s", code, statuses(rep), stderr)
	}
	for id, st := range map[string]string{"database-daily": "ok", "files-weekly": "ok", "offsite": "ok", "restore-tested": "failed"} {
		if got := item(t, rep, id); got.Status != st {
			t.Errorf("--from-repositories without state: %s is %s, want %s: %+v", id, got.Status, st, got)
		}
	}
	os.Rename(filepath.Join(s.dir, "state.json.saved"), filepath.Join(s.state, state.FileName))

	// Each change fails the right items, with the fix.
	cases := []struct {
		name   string
		break_ func()
		undo   func()
		failed map[string]string // item → a fix it must give
		args   []string
	}{
		{name: "schedule removed",
			break_: func() {
				if code, _, stderr := runCLI(t, "-c", s.plan, "schedule", "systemd", "--uninstall", "--root", root); code != 0 {
					t.Fatalf("--uninstall: %d\n%s", code, stderr)
				}
			},
			undo: func() {
				if code, _, stderr := runCLI(t, "-c", s.plan, "schedule", "systemd", "--install", "--root", root); code != 0 {
					t.Fatalf("--install again: %d\n%s", code, stderr)
				}
			},
			failed: map[string]string{"database-daily": "schedule systemd --install", "files-weekly": "schedule systemd --install",
				"integrity-checks": "schedule systemd --install"}},
		{name: "the state aged two days",
			break_: func() {
				editState(t, s.state, func(st *state.State) {
					for _, o := range st.Plans["nightly"].Targets {
						at := o.LastSuccessAt.Add(-48 * time.Hour)
						o.LastSuccessAt, o.LastRunAt = &at, at
					}
				})
			},
			failed: map[string]string{"database-daily": "run nightly now"}},
		{name: "the drill record lost",
			break_: func() { editState(t, s.state, func(st *state.State) { delete(st.Drills, "library") }) },
			failed: map[string]string{"restore-tested": "drill library"}},
		{name: "the drill 40 days old, --drill-within 30 days",
			break_: func() {
				editState(t, s.state, func(st *state.State) {
					at := st.Drills["db"].LastSuccessAt.Add(-40 * 24 * time.Hour)
					st.Drills["db"].LastSuccessAt, st.Drills["db"].LastRunAt = &at, at
				})
			},
			failed: map[string]string{"restore-tested": "drill db"}},
	}
	saved, _ := os.ReadFile(filepath.Join(s.state, state.FileName))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.break_()
			defer func() {
				os.WriteFile(filepath.Join(s.state, state.FileName), saved, 0o600)
				if c.undo != nil {
					c.undo()
				}
			}()
			code, rep, _ := runAudit(t, s.plan)
			if code != 1 {
				t.Errorf("exit %d, want 1: %v", code, statuses(rep))
			}
			for _, it := range rep.Items {
				fix, want := c.failed[it.ID]
				if (it.Status == "failed") != want {
					t.Errorf("%s: %s\n%s", it.ID, it.Status, strings.Join(it.Evidence, "\n"))
					continue
				}
				if want && !strings.Contains(strings.Join(it.Fix, "\n"), fix) {
					t.Errorf("%s: fix lacks %q: %v", it.ID, fix, it.Fix)
				}
			}
		})
	}
	// Everything put back: it passes again (the cases undid themselves).
	if code, rep, _ := runAudit(t, s.plan); code != 0 {
		t.Errorf("after undoing every case: exit %d %v", code, statuses(rep))
	}
}

// Bad flags and arguments are usage errors (exit 2), naming the flag.
func TestAuditUsage(t *testing.T) {
	_, planPath := schedulePlan(t)
	for _, args := range [][]string{
		{"audit", "--max-age", "0s"},
		{"audit", "--drill-within", "-1h"},
		{"audit", "extra"},
		{"audit", "--max-age", "soon"},
	} {
		code, _, stderr := runCLI(t, append([]string{"-c", planPath}, args...)...)
		if code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, stderr)
		}
	}
	// A plan that never ran, with --host-root at an empty root: exit 1,
	// and the text names the root it looked in.
	root := t.TempDir()
	code, stdout, _ := runCLI(t, "-c", planPath, "audit", "--host-root", root)
	if code != 1 || !strings.Contains(stdout, "no timer in "+root+"/etc/systemd/system") {
		t.Errorf("audit of a plan that never ran: exit %d\n%s", code, stdout)
	}
}
