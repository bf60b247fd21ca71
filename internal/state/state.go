// Package state remembers the outcome of past runs and drills under
// state_dir, for `status` and the metrics: the last outcome of every plan
// and target, when each last succeeded (kept across failed runs), and the
// last reports.
//
// The state file is read and rewritten only by a process holding the run
// lock, so updates never interleave; it is replaced atomically, so `status`
// (which takes no lock) always reads a whole file.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/atomicfile"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// FileName is the state file's name under state_dir.
const FileName = "state.json"

// KeepReports is how many reports of each plan are kept under
// state_dir/reports (and as many drill reports).
const KeepReports = 50

// State is everything remembered.
type State struct {
	// Plans holds the last `run PLAN` of each plan.
	Plans map[string]*Plan `json:"plans"`
	// Drills holds each target's last restore drill, whether `drill` or a
	// run of a target with drill = true made it.
	Drills map[string]*Outcome `json:"drills"`
	// Verify is each target's place in its verify cycle, across plans.
	Verify map[string]*VerifyRotation `json:"verify,omitempty"`
	// Reclaims is when the space of each restic or borg target's
	// repository was last reclaimed, for prune_every.
	Reclaims map[string]time.Time `json:"reclaims,omitempty"`
	// Verified is each target's last verify that passed, by `run` or
	// `verify`, across plans. Absent from state files written before it:
	// status then takes the newest slice read from Verify.
	Verified map[string]*Verified `json:"verified,omitempty"`
	// VerifyFailed is each target's last `verify` (or `verify --full`)
	// that failed, kept until a verify of it passes, by `run` or `verify`:
	// a failed check of what is kept is a problem `status` reports even
	// though the backups themselves succeeded. Absent from older files.
	VerifyFailed map[string]*VerifyFailure `json:"verify_failed,omitempty"`
}

// VerifyFailure is a target's last failed verify.
type VerifyFailure struct {
	At    time.Time `json:"at"`
	Error string    `json:"error"`
}

// Verified is a target's last passed verify and what it read.
type Verified struct {
	At       time.Time            `json:"at"`
	Coverage *plan.CoverageReport `json:"coverage,omitempty"` // nil: the driver reads no slices (it read the new backup whole)
}

// Plan is a plan's last run and the last outcome of each of its targets.
type Plan struct {
	Outcome
	Targets map[string]*Outcome `json:"targets"`
}

// Outcome is the last outcome of a run, a target or a drill.
type Outcome struct {
	Driver          string     `json:"driver,omitempty"`
	Status          string     `json:"status"`
	LastRunAt       time.Time  `json:"last_run_at"`
	LastSuccessAt   *time.Time `json:"last_success_at"` // nil: never succeeded
	DurationSeconds float64    `json:"duration_seconds"`
	// Artifact and Bytes are those of the last run that made an artifact:
	// a failed run that made none does not forget the last one.
	Artifact *string `json:"artifact,omitempty"`
	Bytes    *int64  `json:"bytes,omitempty"`
	Error    *string `json:"error"`
}

// Succeeded reports whether a status counts as a success: a backup with
// warnings (files that vanished while it ran) is still a backup.
func Succeeded(status string) bool {
	return status == plan.StatusOK || status == plan.StatusWarning
}

func (o *Outcome) update(status string, at time.Time, seconds float64, artifact *string, bytes *int64, errMsg *string) {
	o.Status, o.LastRunAt, o.DurationSeconds, o.Error = status, at, seconds, errMsg
	if Succeeded(status) {
		t := at
		o.LastSuccessAt = &t
	}
	if artifact != nil {
		o.Artifact, o.Bytes = artifact, bytes
	}
}

// Load reads the state under dir. A missing file is an empty state.
func Load(dir string) (*State, error) {
	s := &State{}
	data, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return s.init(), nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, &CorruptError{Path: filepath.Join(dir, FileName), Err: err}
	}
	return s.init(), nil
}

// CorruptError is a state file that cannot be read as JSON.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string { return fmt.Sprintf("%s is damaged: %v", e.Path, e.Err) }

func (s *State) init() *State {
	if s.Plans == nil {
		s.Plans = map[string]*Plan{}
	}
	if s.Drills == nil {
		s.Drills = map[string]*Outcome{}
	}
	if s.Verify == nil {
		s.Verify = map[string]*VerifyRotation{}
	}
	if s.Reclaims == nil {
		s.Reclaims = map[string]time.Time{}
	}
	if s.Verified == nil {
		s.Verified = map[string]*Verified{}
	}
	if s.VerifyFailed == nil {
		s.VerifyFailed = map[string]*VerifyFailure{}
	}
	for _, p := range s.Plans {
		if p.Targets == nil {
			p.Targets = map[string]*Outcome{}
		}
	}
	return s
}

// Save writes the state under dir atomically.
func (s *State) Save(dir string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, FileName), append(data, '\n'), 0o644)
}

// Record adds a run's or a drill's report. Times are the report's finish:
// a target "last ran" when its run ended.
func (s *State) Record(rep *plan.Report) {
	at := rep.FinishedAt.UTC()
	if rep.Command != "drill" {
		p := s.Plans[rep.Plan]
		if p == nil {
			p = &Plan{Targets: map[string]*Outcome{}}
			s.Plans[rep.Plan] = p
		}
		var errMsg *string
		if err := rep.Err(); err != nil {
			msg := err.Error()
			errMsg = &msg
		} else if rep.Status == plan.StatusInterrupted {
			msg := "the run was interrupted"
			errMsg = &msg
		}
		p.update(rep.Status, at, rep.DurationSeconds, nil, nil, errMsg)
		for _, t := range rep.Targets {
			o := p.Targets[t.Name]
			if o == nil {
				o = &Outcome{}
				p.Targets[t.Name] = o
			}
			o.Driver = t.Driver
			o.update(t.Status, at, t.DurationSeconds, t.Artifact, t.Bytes, t.Error)
			s.RecordCoverage(t.Name, t.Coverage, at)
			if t.Verified {
				s.Verified[t.Name] = &Verified{At: at, Coverage: t.Coverage}
				delete(s.VerifyFailed, t.Name)
			}
			if t.Reclaimed != "" {
				s.Reclaims[t.Reclaimed] = at
			}
		}
	}
	for _, t := range rep.Targets {
		if rep.Command != "drill" && t.Drill == nil {
			continue // this run did not drill the target
		}
		o := s.Drills[t.Name]
		if o == nil {
			o = &Outcome{}
			s.Drills[t.Name] = o
		}
		o.Driver = t.Driver
		status, errMsg, artifact, seconds := t.Status, t.Error, t.Artifact, t.DurationSeconds
		if rep.Command != "drill" {
			// A run's drill: the drill's own outcome, not the target's,
			// and its duration is not known apart from the backup's.
			status, errMsg, seconds = t.Drill.Status, t.Drill.Error, 0
			artifact = nil
			if t.Drill.Artifact != "" {
				artifact = &t.Drill.Artifact
			}
		}
		o.update(status, at, seconds, artifact, nil, errMsg)
	}
}

// Update loads the state under dir, records rep, saves it and returns it.
// A damaged state file is kept aside (state.json.damaged) and replaced by
// a new one, the damage returned as an error so it is seen: otherwise one
// bad byte would stop every later run from being recorded. The state is
// returned even when saving failed, so the metrics can still be written.
func Update(dir string, rep *plan.Report) (*State, error) {
	s, err := Load(dir)
	var corrupt *CorruptError
	switch {
	case errors.As(err, &corrupt):
		aside := corrupt.Path + ".damaged"
		if rerr := os.Rename(corrupt.Path, aside); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		err = fmt.Errorf("%w (kept as %s; starting a new state file)", err, aside)
		s = (&State{}).init()
	case err != nil:
		return nil, err
	}
	s.Record(rep)
	return s, errors.Join(err, s.Save(dir))
}

// PruneReports removes all but the newest keep reports of rep's kind
// (run or drill) and plan from dir/reports, and as many of the per-target
// logs of rep's targets (dir/logs/TARGET, named like the reports), and
// returns what it removed. Names end in a fixed-width UTC stamp, so they
// sort by time.
func PruneReports(dir string, rep *plan.Report, keep int) ([]string, error) {
	prefix := rep.Plan
	if rep.Command == "drill" {
		prefix = "drill-" + prefix
	}
	stamped := `-\d{8}T\d{6}\.\d{3}Z`
	removed, err := pruneNewest(filepath.Join(dir, "reports"), regexp.MustCompile(`^`+regexp.QuoteMeta(prefix)+stamped+`\.json$`), keep)
	errs := []error{err}
	logs := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + stamped + `\.log$`)
	for _, t := range rep.Targets {
		gone, err := pruneNewest(filepath.Join(plan.LogDir(dir), t.Name), logs, keep)
		if !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		removed = append(removed, gone...)
	}
	return removed, errors.Join(errs...)
}

// pruneNewest removes all but the newest keep files of dir whose names
// match re.
func pruneNewest(dir string, re *regexp.Regexp, keep int) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && re.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	if len(names) <= keep {
		return nil, nil
	}
	sort.Strings(names)
	var removed []string
	var errs []error
	for _, n := range names[:len(names)-keep] {
		p := filepath.Join(dir, n)
		if err := os.Remove(p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// LastReclaim is when the repository of the restic or borg target owner
// last had its space reclaimed (zero: not on record).
func (s *State) LastReclaim(owner string) time.Time { return s.Reclaims[owner] }

// ReclaimsIn is the reclaim log kept under dir; a missing or damaged
// state has none on record, so the next retention reclaims.
func ReclaimsIn(dir string) drivers.ReclaimLog {
	s, err := Load(dir)
	if err != nil {
		s = (&State{}).init()
	}
	return s
}
