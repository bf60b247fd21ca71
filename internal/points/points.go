// Package points lists recovery points: each run of a plan and the
// backups it made, the database's and the files', that belong together.
// They are read from the run reports in state_dir, or, on a machine that
// lost state_dir, from the backups themselves, each of which carries its
// run's point (drivers.NewPoint).
package points

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// Where a point was read from.
const (
	FromState        = "state"
	FromRepositories = "repositories"
)

// Point is one recovery point.
type Point struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// Plan is the plan the run ran; "" when read from the repositories
	// (a backup does not say which plan made it).
	Plan string `json:"plan,omitempty"`
	// Status is the run's status (state), or "found" (repositories).
	Status  string   `json:"status"`
	Source  string   `json:"source"`
	Targets []Target `json:"targets"`
}

// Target is one target's backup in a point.
type Target struct {
	Name     string `json:"name"`
	Driver   string `json:"driver,omitempty"`
	Status   string `json:"status"`
	Artifact string `json:"artifact,omitempty"`
	Bytes    int64  `json:"bytes"` // -1 when unknown
}

// StatusFound is the status of a point read from the repositories: its
// backups exist; whether its run succeeded is not recorded there.
const StatusFound = "found"

// Bytes is the sum of the sizes its targets know; known is false when
// any is unknown.
func (p Point) Bytes() (sum int64, known bool) {
	known = true
	for _, t := range p.Targets {
		if t.Bytes < 0 {
			known = false
			continue
		}
		sum += t.Bytes
	}
	return sum, known
}

// Target returns the point's backup of the named target.
func (p Point) Target(name string) (Target, bool) {
	i := slices.IndexFunc(p.Targets, func(t Target) bool { return t.Name == name })
	if i < 0 {
		return Target{}, false
	}
	return p.Targets[i], true
}

// ReadState reads the points the run reports under stateDir/reports
// record, newest first; onlyPlan, when set, keeps that plan's. Reports of
// runs made before points, and drill reports, name none. A report that
// cannot be read or parsed (a damaged disk: reports are written whole and
// renamed) is passed to skip, naming it, and left out: one bad file must
// not stand between an operator and the other points.
func ReadState(stateDir, onlyPlan string, skip func(error)) ([]Point, error) {
	dir := filepath.Join(stateDir, "reports")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Point
	for _, e := range entries {
		// A drill's report says so in its command (a plan may be named
		// drill-something); a report being written starts with a dot.
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			skip(err)
			continue
		}
		var r plan.Report
		if err := json.Unmarshal(data, &r); err != nil {
			skip(fmt.Errorf("%s: not a run report: %v", filepath.Join(dir, e.Name()), err))
			continue
		}
		if r.Command != "run" || !drivers.ValidPoint(r.Point) || (onlyPlan != "" && r.Plan != onlyPlan) {
			continue
		}
		p := Point{ID: r.Point, Time: r.StartedAt, Plan: r.Plan, Status: r.Status, Source: FromState}
		for _, t := range r.Targets {
			if t.EarlierArtifact {
				continue // another run's backup: in that run's point, not this one
			}
			pt := Target{Name: t.Name, Driver: t.Driver, Status: t.Status, Bytes: -1}
			if t.Artifact != nil {
				pt.Artifact = *t.Artifact
			}
			if t.Bytes != nil {
				pt.Bytes = *t.Bytes
			}
			p.Targets = append(p.Targets, pt)
		}
		out = append(out, p)
	}
	sortNewestFirst(out)
	return out, nil
}

// FromSnapshots groups the targets' backups by the point each carries,
// newest first. snaps maps each target's name to its snapshots, driver
// its driver; backups that carry no point (made before points, by hand,
// or a mirror, which keeps only its latest state) are in none. A point's
// time is its id's: when its run started.
func FromSnapshots(snaps map[string][]drivers.Snapshot, driver map[string]string) []Point {
	byID := map[string]*Point{}
	for _, name := range slices.Sorted(maps.Keys(snaps)) {
		for _, s := range snaps[name] {
			if s.Point == "" {
				continue
			}
			p := byID[s.Point]
			if p == nil {
				at, _ := time.Parse("20060102T150405Z", s.Point[:16])
				p = &Point{ID: s.Point, Time: at, Status: StatusFound, Source: FromRepositories}
				byID[s.Point] = p
			}
			if _, dup := p.Target(name); dup {
				continue // restic keeps one snapshot per run and target; never count one twice
			}
			p.Targets = append(p.Targets, Target{Name: name, Driver: driver[name], Status: StatusFound, Artifact: s.ID, Bytes: s.Bytes})
		}
	}
	out := make([]Point, 0, len(byID))
	for _, p := range byID {
		out = append(out, *p)
	}
	sortNewestFirst(out)
	return out
}

func sortNewestFirst(ps []Point) {
	slices.SortFunc(ps, func(a, b Point) int { return strings.Compare(b.ID, a.ID) })
}
