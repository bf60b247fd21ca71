package statuspage

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/state"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// MaxRuns is how many of a target's last runs its charts draw: as many as
// state_dir keeps reports of one plan (a target in several plans has more
// reports; the newest are drawn).
const MaxRuns = state.KeepReports

// Run is one target's part in one run, as its run report recorded it.
type Run struct {
	At              time.Time
	Plan            string
	Status          string
	Bytes           *int64 // nil: the run made no backup (it failed first)
	DurationSeconds float64
	Error           string
}

// ReadHistory reads the run reports kept in stateDir/reports and returns
// each target's runs, oldest first, at most MaxRuns each. Drill reports
// are left out (the state's last drill is on the page). A report that
// cannot be read or parsed is passed to skip, naming it, and left out: one
// damaged file must not hide the rest. No reports directory is no history.
func ReadHistory(stateDir string, skip func(error)) (map[string][]Run, error) {
	dir := filepath.Join(stateDir, "reports")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return map[string][]Run{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string][]Run{}
	for _, e := range entries {
		// A report being written starts with a dot (atomic rename).
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			skip(err)
			continue
		}
		var r plan.Report
		if err := json.Unmarshal(data, &r); err != nil {
			skip(fmt.Errorf("%s: not a run report: %v", path, err))
			continue
		}
		if r.Command != "run" {
			continue
		}
		for _, t := range r.Targets {
			run := Run{At: r.StartedAt, Plan: r.Plan, Status: t.Status, Bytes: t.Bytes, DurationSeconds: t.DurationSeconds}
			if t.Error != nil {
				run.Error = *t.Error
			}
			out[t.Name] = append(out[t.Name], run)
		}
	}
	for name, runs := range out {
		slices.SortStableFunc(runs, func(a, b Run) int { return a.At.Compare(b.At) })
		if len(runs) > MaxRuns {
			runs = runs[len(runs)-MaxRuns:]
		}
		out[name] = runs
	}
	return out, nil
}
