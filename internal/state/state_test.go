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
		{name: "nothing ran", now: ran, late: true,
			problems: []string{"plan daily: never ran", "plan weekly: never ran"}},
		{name: "all fresh", now: ran.Add(time.Hour), maxAge: 26 * time.Hour,
			record: []*plan.Report{
				withPlan("daily", report(24, target("database", "ok"))),
				report(24, target("database", "ok"), target("library", "warning")),
			}},
		{name: "one target failed last", now: ran,
			record: []*plan.Report{
				withPlan("daily", report(24, target("database", "ok"))),
				report(0, target("database", "ok"), target("library", "ok")),
				report(24, target("database", "ok"), target("library", "failed")),
			},
			failed:   true,
			problems: []string{"plan weekly, target library: failed at 2026-11-27T02:10:00Z (last success 2026-11-26T02:10:00Z)"}},
		{name: "too old", now: ran.Add(30 * time.Hour), maxAge: 26 * time.Hour,
			record: []*plan.Report{
				withPlan("daily", report(24, target("database", "ok"))),
				report(0, target("database", "ok"), target("library", "ok")),
				report(24, target("database", "ok")),
			},
			late: true,
			problems: []string{
				"plan daily, target database: last success 2026-11-27T02:10:00Z, 30h0m0s ago (more than --max-age 26h0m0s)",
				"plan weekly, target database: last success 2026-11-27T02:10:00Z, 30h0m0s ago (more than --max-age 26h0m0s)",
				"plan weekly, target library: last success 2026-11-26T02:10:00Z, 54h0m0s ago (more than --max-age 26h0m0s)",
			}},
		{name: "a target of the plan never ran (--target)", now: ran,
			record: []*plan.Report{
				withPlan("daily", report(24, target("database", "ok"))),
				report(24, target("library", "ok")),
			},
			late:     true,
			problems: []string{"plan weekly, target database: never ran"}},
		{name: "removed plans and targets do not count", now: ran,
			record: []*plan.Report{
				withPlan("daily", report(24, target("database", "ok"))),
				report(24, target("database", "ok"), target("library", "ok"), target("old", "failed")),
				withPlan("gone", report(24, target("database", "failed"))),
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := (&State{}).init()
			for _, r := range tc.record {
				s.Record(r)
			}
			sum := Check(s, testPlan(), tc.now, tc.maxAge)
			if sum.Failed != tc.failed || sum.Stale != tc.late {
				t.Errorf("failed %v, stale %v; want %v, %v", sum.Failed, sum.Stale, tc.failed, tc.late)
			}
			if got, want := strings.Join(sum.Problems, "\n"), strings.Join(tc.problems, "\n"); got != want {
				t.Errorf("problems:\n%s\nwant:\n%s", got, want)
			}
			if len(sum.Plans) != 2 || len(sum.Plans[1].Targets) != 2 {
				t.Errorf("plans listed: %+v", sum.Plans)
			}
		})
	}
}

func TestCheckFailedDrill(t *testing.T) {
	s := (&State{}).init()
	s.Record(withPlan("daily", report(0, target("database", "ok"))))
	s.Record(report(0, target("database", "ok"), target("library", "ok")))
	s.Record(&plan.Report{Command: "drill", Plan: "weekly", FinishedAt: base, Targets: []plan.TargetReport{
		{Name: "library", Driver: "restic", Status: "failed", Error: strp("drill: 2 files differ")}}})
	sum := Check(s, testPlan(), base.Add(time.Hour), 0)
	if !sum.Failed || len(sum.Drills) != 1 || sum.Drills[0].Problem != ProblemFailed ||
		strings.Join(sum.Problems, "|") != "drill of target library: failed at 2026-11-26T02:00:00Z (never succeeded)" {
		t.Errorf("%+v", sum)
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
