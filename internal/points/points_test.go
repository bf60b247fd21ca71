package points

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/plan"
)

// The points state_dir records: run reports only, of the plan asked for,
// newest first; a damaged report (cut short, not JSON, unreadable) is
// skipped and named, never a reason to list nothing; a report being
// written (dot file) and one of a run made before points are no point.
func TestReadStateSkipsWhatItCannotRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	report := func(name string, r plan.Report) {
		t.Helper()
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		write(name, data)
	}
	art, size := "snap1", int64(42)
	at := time.Date(2026, 12, 7, 3, 15, 0, 0, time.UTC)
	run := func(point, planName string) plan.Report {
		return plan.Report{Command: "run", Plan: planName, Point: point, Status: plan.StatusOK, StartedAt: at,
			Targets: []plan.TargetReport{{Name: "library", Driver: "restic", Status: plan.StatusOK, Artifact: &art, Bytes: &size}}}
	}
	report("run-weekly-1.json", run("20261207T031500Z-aaaa", "weekly"))
	withCopy := run("20261208T031500Z-bbbb", "weekly")
	older := "snap0" // a copy whose source made nothing in this run: an earlier run's snapshot
	withCopy.Targets = append(withCopy.Targets, plan.TargetReport{Name: "offsite", Driver: "restic", Status: plan.StatusWarning, Artifact: &older, EarlierArtifact: true})
	report("run-weekly-2.json", withCopy)
	report("run-daily-1.json", run("20261208T020000Z-cccc", "daily"))
	report("run-old.json", run("", "weekly")) // before points
	drill := run("20261209T031500Z-dddd", "weekly")
	drill.Command = "drill"
	report("drill-weekly-1.json", drill)
	report(".run-weekly-3.json", run("20261210T031500Z-eeee", "weekly")) // being written
	whole, _ := json.Marshal(run("20261211T031500Z-ffff", "weekly"))
	write("run-weekly-cut.json", whole[:len(whole)/2])
	write("run-weekly-garbage.json", []byte("\x00\x00\x00"))
	if err := os.Mkdir(filepath.Join(dir, "run-weekly-dir.json"), 0o700); err != nil { // unreadable as a file
		t.Fatal(err)
	}

	var skipped []string
	ps, err := ReadState(filepath.Dir(dir), "weekly", func(err error) { skipped = append(skipped, err.Error()) })
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	if want := []string{"20261208T031500Z-bbbb", "20261207T031500Z-aaaa"}; !slices.Equal(ids, want) {
		t.Errorf("points %v, want %v", ids, want)
	}
	if len(ps) > 0 && (ps[0].Plan != "weekly" || ps[0].Source != FromState || len(ps[0].Targets) != 1 || ps[0].Targets[0].Artifact != "snap1" || ps[0].Targets[0].Bytes != 42) {
		t.Errorf("newest point %+v", ps[0])
	}
	for _, name := range []string{"run-weekly-cut.json", "run-weekly-garbage.json"} {
		if !slices.ContainsFunc(skipped, func(s string) bool { return strings.Contains(s, name) }) {
			t.Errorf("%s not named among the skipped: %q", name, skipped)
		}
	}
	if len(skipped) != 2 {
		t.Errorf("skipped %d reports, want the 2 damaged ones: %q", len(skipped), skipped)
	}

	all, err := ReadState(filepath.Dir(dir), "", func(error) {})
	if err != nil || len(all) != 3 {
		t.Errorf("every plan's points: %d, %v; want 3", len(all), err)
	}
	none, err := ReadState(t.TempDir(), "", func(error) { t.Error("nothing to skip in a new state_dir") })
	if err != nil || len(none) != 0 {
		t.Errorf("a new state_dir: %v, %v", none, err)
	}
}
