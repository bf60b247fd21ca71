package state

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

func strp(s string) *string { return &s }
func int64p(n int64) *int64 { return &n }

var base = time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)

// report is a run report of plan "weekly" finished at base+hours.
func report(hours int, targets ...plan.TargetReport) *plan.Report {
	r := &plan.Report{Command: "run", Plan: "weekly", StartedAt: base.Add(time.Duration(hours) * time.Hour)}
	r.FinishedAt = r.StartedAt.Add(10 * time.Minute)
	r.DurationSeconds = 600
	r.Targets = targets
	r.Status = plan.StatusOK
	for _, t := range targets {
		if !Succeeded(t.Status) {
			r.Status = plan.StatusFailed
		}
	}
	return r
}

func target(name, status string) plan.TargetReport {
	t := plan.TargetReport{Name: name, Driver: "restic", Status: status, DurationSeconds: 12.5}
	if Succeeded(status) {
		t.Artifact, t.Bytes = strp("snap-"+name+"-"+status), int64p(1000)
	} else {
		t.Error = strp("backup: restic exited 1: wrong password")
	}
	return t
}

func TestLastSuccessAndArtifactSurviveFailedRuns(t *testing.T) {
	s := (&State{}).init()
	s.Record(report(0, target("library", "ok"), target("database", "warning")))
	s.Record(report(24, target("library", "failed"), target("database", "ok")))

	p := s.Plans["weekly"]
	lib, db := p.Targets["library"], p.Targets["database"]
	ok, failed := base.Add(10*time.Minute), base.Add(24*time.Hour+10*time.Minute)
	if lib.Status != "failed" || !lib.LastRunAt.Equal(failed) || lib.LastSuccessAt == nil || !lib.LastSuccessAt.Equal(ok) {
		t.Errorf("library: %+v", lib)
	}
	if lib.Artifact == nil || *lib.Artifact != "snap-library-ok" || lib.Error == nil {
		t.Errorf("library's last artifact or error lost: %+v", lib)
	}
	if db.Status != "ok" || !db.LastSuccessAt.Equal(failed) {
		t.Errorf("database: %+v", db)
	}
	if p.Status != "failed" || !p.LastSuccessAt.Equal(ok) || p.Error == nil || !strings.Contains(*p.Error, "wrong password") {
		t.Errorf("plan: %+v", p.Outcome)
	}
}

func TestDrillsAreRecordedPerTarget(t *testing.T) {
	s := (&State{}).init()
	// A run of a target with drill = true, whose drill failed.
	r := target("library", "failed")
	r.Drill = &plan.DrillReport{Status: "failed", Artifact: "snap-1", Error: strp("3 files differ")}
	s.Record(report(0, r))
	// A `drill` of another target, named on the command line.
	s.Record(&plan.Report{Command: "drill", Plan: "targets", FinishedAt: base, Targets: []plan.TargetReport{
		{Name: "database", Driver: "pg_dump", Status: "ok", DurationSeconds: 3, Artifact: strp("/dumps/db.dump"),
			Drill: &plan.DrillReport{Status: "ok", Artifact: "/dumps/db.dump"}}}})

	if d := s.Drills["library"]; d == nil || d.Status != "failed" || *d.Error != "3 files differ" || *d.Artifact != "snap-1" {
		t.Errorf("library drill: %+v", d)
	}
	if d := s.Drills["database"]; d == nil || d.Status != "ok" || d.LastSuccessAt == nil || d.DurationSeconds != 3 {
		t.Errorf("database drill: %+v", d)
	}
	if _, ok := s.Plans["targets"]; ok {
		t.Error("a drill was recorded as a run of a plan")
	}
}

func TestUpdateSavesAndSetsADamagedFileAside(t *testing.T) {
	dir := t.TempDir()
	if _, err := Update(dir, report(0, target("library", "ok"))); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir)
	if err != nil || s.Plans["weekly"].Targets["library"].Status != "ok" {
		t.Fatalf("reloaded: %+v, %v", s, err)
	}

	os.WriteFile(filepath.Join(dir, FileName), []byte(`{"plans": {`), 0o644)
	if _, err := Load(dir); err == nil {
		t.Fatal("a damaged file loaded")
	}
	s, err = Update(dir, report(1, target("library", "ok")))
	if err == nil || !strings.Contains(err.Error(), "damaged") || s == nil {
		t.Fatalf("update over a damaged file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName+".damaged")); err != nil {
		t.Errorf("the damaged file was not kept: %v", err)
	}
	if s, err := Load(dir); err != nil || s.Plans["weekly"] == nil {
		t.Errorf("no new state after the damage: %v", err)
	}
}

func TestPruneReportsKeepsTheNewestOfThatPlanOnly(t *testing.T) {
	dir := t.TempDir()
	reports := filepath.Join(dir, "reports")
	os.MkdirAll(reports, 0o700)
	stamp := func(i int) string {
		return base.Add(time.Duration(i) * time.Hour).Format("20060102T150405.000Z")
	}
	for i := 0; i < 8; i++ {
		for _, prefix := range []string{"weekly", "weekly-offsite", "drill-weekly"} {
			os.WriteFile(filepath.Join(reports, fmt.Sprintf("%s-%s.json", prefix, stamp(i))), []byte("{}"), 0o644)
		}
	}
	removed, err := PruneReports(dir, &plan.Report{Command: "run", Plan: "weekly"}, 3)
	if err != nil || len(removed) != 5 {
		t.Fatalf("removed %v, %v", removed, err)
	}
	for i := 0; i < 8; i++ {
		_, err := os.Stat(filepath.Join(reports, fmt.Sprintf("weekly-%s.json", stamp(i))))
		if kept := err == nil; kept != (i >= 5) {
			t.Errorf("report %d kept = %v", i, kept)
		}
		for _, other := range []string{"weekly-offsite", "drill-weekly"} {
			if _, err := os.Stat(filepath.Join(reports, fmt.Sprintf("%s-%s.json", other, stamp(i)))); err != nil {
				t.Errorf("pruning plan weekly removed %s report %d", other, i)
			}
		}
	}
	removed, _ = PruneReports(dir, &plan.Report{Command: "drill", Plan: "weekly"}, 3)
	if len(removed) != 5 || !strings.Contains(removed[0], "drill-weekly-") {
		t.Errorf("drill reports removed: %v", removed)
	}
}

func testPlan() *plan.Plan {
	return &plan.Plan{
		Order: []string{"database", "library"},
		Targets: map[string]*drivers.Target{
			"database": {Name: "database", Driver: "pg_dump"},
			"library":  {Name: "library", Driver: "restic"},
		},
		Plans: map[string]*plan.Group{
			"daily":  {Name: "daily", Targets: []string{"database"}},
			"weekly": {Name: "weekly", Targets: []string{"database", "library"}},
		},
	}
}

func TestCheck(t *testing.T) {
	ran := base.Add(24*time.Hour + 10*time.Minute) // when the second run finished
	for _, tc := range []struct {
		name         string
		record       []*plan.Report
		now          time.Time
		maxAge       time.Duration
		failed, late bool
		problems     []string
	}{
		{name: "a new install without --max-age is no problem", now: ran},
		{name: "a new install with --max-age", now: ran, maxAge: time.Hour, late: true,
			problems: []string{"target database: never ran", "target library: never ran"}},
		{name: "all fresh", now: ran.Add(time.Hour), maxAge: 26 * time.Hour,
			record: []*plan.Report{
				withPlan("daily", report(24, target("database", "ok"))),
				report(24, target("database", "ok"), target("library", "warning")),
			}},
		{name: "one target failed last", now: ran,
			record: []*plan.Report{
				withPlan("daily", report(0, target("database", "ok"))),
				report(0, target("database", "ok"), target("library", "ok")),
				report(24, target("database", "ok"), target("library", "failed")),
			},
			failed:   true,
			problems: []string{"target library: failed at 2026-11-27T02:10:00Z (plan weekly; last success 2026-11-26T02:10:00Z)"}},
		{name: "a daily success after a weekly failure is the target's last word", now: ran, maxAge: 26 * time.Hour,
			record: []*plan.Report{
				report(0, target("database", "failed"), target("library", "ok")),
				withPlan("daily", report(24, target("database", "ok"))),
			}},
		{name: "a weekly failure after a daily success is too", now: ran,
			record: []*plan.Report{
				withPlan("daily", report(0, target("database", "ok"))),
				report(24, target("database", "failed"), target("library", "ok")),
			},
			failed:   true,
			problems: []string{"target database: failed at 2026-11-27T02:10:00Z (plan weekly; last success 2026-11-26T02:10:00Z)"}},
		{name: "too old: each target once, its newest success of any plan", now: ran.Add(30 * time.Hour), maxAge: 26 * time.Hour,
			record: []*plan.Report{
				withPlan("daily", report(24, target("database", "ok"))),
				report(0, target("database", "ok"), target("library", "ok")),
				report(20, target("database", "ok")),
			},
			late: true,
			problems: []string{
				"target database: last success 2026-11-27T02:10:00Z, 30h0m0s ago (more than --max-age 26h0m0s)",
				"target library: last success 2026-11-26T02:10:00Z, 54h0m0s ago (more than --max-age 26h0m0s)",
			}},
		{name: "a target that never ran, with --max-age", now: ran, maxAge: 48 * time.Hour,
			record:   []*plan.Report{report(24, target("library", "ok"))},
			late:     true,
			problems: []string{"target database: never ran"}},
		{name: "a target that never ran, without --max-age", now: ran,
			record: []*plan.Report{report(24, target("library", "ok"))}},
		{name: "removed targets do not count; a removed plan's older run is superseded", now: ran,
			record: []*plan.Report{
				withPlan("gone", report(0, target("database", "failed"))),
				withPlan("daily", report(24, target("database", "ok"))),
				report(24, target("database", "ok"), target("library", "ok"), target("old", "failed")),
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := (&State{}).init()
			for _, r := range tc.record {
				s.Record(r)
			}
			sum := Check(s, testPlan(), Selection{}, tc.now, tc.maxAge, nil)
			if sum.Failed != tc.failed || sum.Stale != tc.late {
				t.Errorf("failed %v, stale %v; want %v, %v", sum.Failed, sum.Stale, tc.failed, tc.late)
			}
			if got, want := strings.Join(sum.Problems, "\n"), strings.Join(tc.problems, "\n"); got != want {
				t.Errorf("problems:\n%s\nwant:\n%s", got, want)
			}
			if len(sum.Targets) != 2 || sum.Targets[0].Target != "database" || sum.Targets[1].Target != "library" {
				t.Errorf("targets listed: %+v", sum.Targets)
			}
			if sum.NoBackupsYet != (len(tc.record) == 0) {
				t.Errorf("no backups yet: %v", sum.NoBackupsYet)
			}
		})
	}
}

// The case: `weekly` dumped the database; 13 s later status must
// not say daily's database never ran. The target is listed once, with the
// plan that ran it, whatever plan is asked about.
func TestCheckPerTargetAcrossPlans(t *testing.T) {
	s := (&State{}).init()
	s.Record(withPlan("daily", report(0, target("database", "ok"))))
	weekly := report(24, target("database", "ok"), target("library", "ok"))
	weekly.Targets[0].Artifact, weekly.Targets[0].Bytes = strp("/dumps/db-weekly.dump"), int64p(4096)
	s.Record(weekly)
	now := weekly.FinishedAt.Add(13 * time.Second)
	for _, sel := range []Selection{{}, {Plan: "daily"}, {Plan: "weekly", Targets: []string{"database"}}} {
		sum := Check(s, testPlan(), sel, now, time.Hour, nil)
		if len(sum.Problems) != 0 || sum.Stale || sum.Failed {
			t.Fatalf("%+v: %v", sel, sum.Problems)
		}
		db := sum.Targets[0]
		if db.Target != "database" || db.Plan != "weekly" || db.Status != "ok" || *db.AgeSeconds != 13 ||
			*db.Artifact != "/dumps/db-weekly.dump" || *db.Bytes != 4096 || strings.Join(db.Plans, ",") != "daily,weekly" {
			t.Errorf("%+v: database %+v", sel, db)
		}
		if want := map[string]int{"": 2, "daily": 1, "weekly": 1}[sel.Plan]; len(sum.Targets) != want {
			t.Errorf("%+v: %d targets, want %d", sel, len(sum.Targets), want)
		}
	}
	// A failed run that made no backup keeps the last backup's artifact.
	s.Record(withPlan("daily", report(48, target("database", "failed"))))
	o, p := s.LastOf("database")
	if o.Status != "failed" || p != "daily" || *o.Artifact != "/dumps/db-weekly.dump" || !o.LastSuccessAt.Equal(weekly.FinishedAt) {
		t.Errorf("after a failure: %+v (plan %s)", o, p)
	}
	// The run holding the lock marks its targets.
	sum := Check(s, testPlan(), Selection{}, now, 0, &Running{PID: 42, Plan: "daily", Targets: []string{"database"}})
	if !sum.Targets[0].Running || sum.Targets[1].Running || sum.Running.PID != 42 {
		t.Errorf("running: %+v", sum)
	}
}

// A state file written by the version before per-target status (no
// "verified" map) still reads, and status takes the last verify from the
// verify rotation.
func TestOldStateFileReads(t *testing.T) {
	dir := t.TempDir()
	old := `{
  "plans": {
    "weekly": {
      "driver": "", "status": "ok", "last_run_at": "2026-11-26T02:10:00Z", "last_success_at": "2026-11-26T02:10:00Z",
      "duration_seconds": 600, "error": null,
      "targets": {
        "library": {"driver": "restic", "status": "ok", "last_run_at": "2026-11-26T02:10:00Z",
          "last_success_at": "2026-11-26T02:10:00Z", "duration_seconds": 12.5, "artifact": "0a1b2c3d", "bytes": 1000, "error": null}
      }
    }
  },
  "drills": {"library": {"driver": "restic", "status": "ok", "last_run_at": "2026-11-25T02:00:00Z", "last_success_at": "2026-11-25T02:00:00Z", "duration_seconds": 3, "error": null}},
  "verify": {"library": {"cycle": 3, "slice_read_at": ["2026-11-24T02:10:00Z", "2026-11-26T02:10:00Z", "0001-01-01T00:00:00Z"]}}
}
`
	os.WriteFile(filepath.Join(dir, FileName), []byte(old), 0o644)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	sum := Check(s, testPlan(), Selection{Targets: []string{"library"}}, base.Add(time.Hour), 2*time.Hour, nil)
	lib := sum.Targets[0]
	if len(sum.Targets) != 1 || lib.Status != "ok" || *lib.Artifact != "0a1b2c3d" || lib.Drill == nil || lib.Drill.Status != "ok" ||
		lib.Verify == nil || !lib.Verify.LastVerifiedAt.Equal(base.Add(10*time.Minute)) || lib.Verify.SlicesRead != 2 || lib.Verify.Cycle != 3 ||
		lib.Verify.WholeReadAt != nil || lib.Verify.LastFailedAt != nil || lib.Verify.Problem != "" || sum.Stale || sum.Failed {
		t.Fatalf("%+v\n%+v", sum, lib.Verify)
	}
	// Saved again, it keeps what it had and gains the new map.
	verified := target("library", "ok")
	verified.Verified = true
	verified.Coverage = &plan.CoverageReport{Slice: 3, Cycle: 3}
	s.Record(report(24, verified))
	sum = Check(s, testPlan(), Selection{Targets: []string{"library"}}, base.Add(25*time.Hour), 0, nil)
	if v := sum.Targets[0].Verify; !v.LastVerifiedAt.Equal(base.Add(24*time.Hour+10*time.Minute)) || v.Full || v.SlicesRead != 3 ||
		!v.WholeReadAt.Equal(base.Add(-2*24*time.Hour+10*time.Minute)) || *v.AgeSeconds != 3000 {
		t.Errorf("after a verified run: %+v", v)
	}
	if err := s.Save(dir); err != nil {
		t.Fatal(err)
	}
	again, err := Load(dir)
	if err != nil || again.Plans["weekly"].Targets["library"] == nil || again.Drills["library"] == nil || again.Verified["library"] == nil {
		t.Fatalf("%+v %v", again, err)
	}
}

func TestCheckFailedDrill(t *testing.T) {
	s := (&State{}).init()
	s.Record(withPlan("daily", report(0, target("database", "ok"))))
	s.Record(report(0, target("database", "ok"), target("library", "ok")))
	s.Record(&plan.Report{Command: "drill", Plan: "weekly", FinishedAt: base, Targets: []plan.TargetReport{
		{Name: "library", Driver: "restic", Status: "failed", Error: strp("drill: 2 files differ")}}})
	sum := Check(s, testPlan(), Selection{}, base.Add(time.Hour), 0, nil)
	if !sum.Failed || sum.Targets[1].Drill == nil || sum.Targets[1].Drill.Problem != ProblemFailed ||
		strings.Join(sum.Problems, "|") != "drill of target library: failed at 2026-11-26T02:00:00Z (never passed)" {
		t.Errorf("%+v", sum)
	}
}

// A `verify` that fails is a problem of its target (status exits 1) even
// though every backup succeeded, kept across reloads of state.json until
// a verify of that target passes, by `verify` or by a run; an interrupted
// verify records no failure.
func TestCheckFailedVerify(t *testing.T) {
	damaged := []plan.Outcome{{Target: "library", Err: fmt.Errorf("verify: restic check: pack 1a2b3c4d: not found")}}
	passed := []plan.Outcome{{Target: "library"}}
	verifiedRun := target("library", "ok")
	verifiedRun.Verified = true
	unverifiedRun := target("library", "ok")
	for _, tc := range []struct {
		name    string
		steps   []func(dir string, at time.Time) error
		problem string // "" or the problem line of library's verify
	}{
		{"fails, never passed", []func(string, time.Time) error{verifyStep(damaged, false)},
			"verify of target library: failed at 2026-11-26T03:00:00Z (never passed): verify: restic check: pack 1a2b3c4d: not found"},
		{"passes, then fails", []func(string, time.Time) error{verifyStep(passed, false), verifyStep(damaged, false)},
			"verify of target library: failed at 2026-11-26T04:00:00Z (last passed 2026-11-26T03:00:00Z): verify: restic check: pack 1a2b3c4d: not found"},
		{"fails, then a run without verify", []func(string, time.Time) error{verifyStep(damaged, false), runStep(unverifiedRun)},
			"verify of target library: failed at 2026-11-26T03:00:00Z (never passed): verify: restic check: pack 1a2b3c4d: not found"},
		{"fails, then verify passes", []func(string, time.Time) error{verifyStep(damaged, false), verifyStep(passed, false)}, ""},
		{"fails, then a verified run", []func(string, time.Time) error{verifyStep(damaged, false), runStep(verifiedRun)}, ""},
		{"interrupted", []func(string, time.Time) error{verifyStep(damaged, true)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := backedUp(dir); err != nil {
				t.Fatal(err)
			}
			for i, step := range tc.steps {
				if err := step(dir, base.Add(time.Duration(i+1)*time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			sum := Check(s, testPlan(), Selection{Targets: []string{"library"}}, base.Add(10*time.Hour), 0, nil)
			v := sum.Targets[0].Verify
			got := strings.Join(sum.Problems, "|")
			failed := v != nil && v.Problem == ProblemFailed && v.Error != nil && v.LastFailedAt != nil
			if got != tc.problem || sum.Failed != (tc.problem != "") || failed != (tc.problem != "") {
				t.Errorf("problems %q failed %v verify %+v, want %q", got, sum.Failed, v, tc.problem)
			}
		})
	}
}

// backedUp makes the backup that the verifies then check: a successful run.
func backedUp(dir string) error {
	_, err := Update(dir, report(0, target("library", "ok")))
	return err
}

func verifyStep(outs []plan.Outcome, interrupted bool) func(string, time.Time) error {
	return func(dir string, at time.Time) error { return RecordVerify(dir, outs, at, interrupted) }
}

// runStep records a run of library finished at the step's time.
func runStep(tr plan.TargetReport) func(string, time.Time) error {
	return func(dir string, at time.Time) error {
		r := report(0, tr)
		r.StartedAt, r.FinishedAt = at.Add(-10*time.Minute), at
		_, err := Update(dir, r)
		return err
	}
}

func withPlan(name string, r *plan.Report) *plan.Report {
	r.Plan = name
	return r
}

func TestPruneReportsAlsoPrunesThePlansTargetLogs(t *testing.T) {
	dir := t.TempDir()
	stamp := func(i int) string {
		return base.Add(time.Duration(i) * time.Hour).Format("20060102T150405.000Z")
	}
	logs := filepath.Join(plan.LogDir(dir), "library")
	os.MkdirAll(logs, 0o700)
	os.MkdirAll(filepath.Join(dir, "reports"), 0o700)
	for i := 0; i < 6; i++ {
		for _, prefix := range []string{"weekly", "daily", "drill-weekly"} {
			os.WriteFile(filepath.Join(logs, plan.LogName("run", prefix, base.Add(time.Duration(i)*time.Hour))), []byte("x"), 0o600)
		}
	}
	rep := &plan.Report{Command: "run", Plan: "weekly", Targets: []plan.TargetReport{{Name: "library"}, {Name: "never-logged"}}}
	removed, err := PruneReports(dir, rep, 2)
	if err != nil {
		t.Fatalf("a target without a log directory is not an error: %v", err)
	}
	if len(removed) != 4 {
		t.Fatalf("removed %v, want the 4 oldest weekly logs", removed)
	}
	for i := 0; i < 6; i++ {
		_, err := os.Stat(filepath.Join(logs, "weekly-"+stamp(i)+".log"))
		if kept := err == nil; kept != (i >= 4) {
			t.Errorf("weekly log %d kept = %v", i, kept)
		}
		for _, other := range []string{"daily", "drill-weekly"} {
			if _, err := os.Stat(filepath.Join(logs, other+"-"+stamp(i)+".log")); err != nil {
				t.Errorf("pruning plan weekly removed the %s log %d", other, i)
			}
		}
	}
}
