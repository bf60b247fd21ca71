package state

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/alexandria-backup/alexandria-backup/plan"
)

// Problems `status` finds, worst first.
const (
	ProblemFailed = "failed"    // the last run or drill did not succeed
	ProblemStale  = "stale"     // the last success is older than the max age
	ProblemNever  = "never ran" // never succeeded, and a max age was asked for
)

// Summary is what `status` reports: each target once, with its last
// outcome whichever plan ran it, its last verify and drill, and the run in
// progress.
type Summary struct {
	CheckedAt     time.Time `json:"checked_at"`
	MaxAgeSeconds float64   `json:"max_age_seconds,omitempty"`
	// NoBackupsYet: the state records nothing at all (a new install).
	NoBackupsYet bool `json:"no_backups_yet"`
	// Running is the command holding the run lock now; null when none.
	Running *Running       `json:"running"`
	Targets []TargetStatus `json:"targets"`
	// Problems has one line per target or drill with a problem.
	Problems []string `json:"problems"`
	// Failed: something failed last; Stale: with a max age, something is
	// older than it or never succeeded.
	Failed bool `json:"failed"`
	Stale  bool `json:"stale"`
}

// Running is the command that holds the run lock (runlock.Holder).
type Running struct {
	PID       int        `json:"pid"`
	Host      string     `json:"host,omitempty"`
	Command   string     `json:"command,omitempty"`
	Plan      string     `json:"plan,omitempty"`
	Targets   []string   `json:"targets"`
	StartedAt *time.Time `json:"started_at"`
	// AgeSeconds is how long it has run; null when its start is unknown.
	AgeSeconds *float64 `json:"age_seconds"`
}

// TargetStatus is one target across every plan that ran it.
type TargetStatus struct {
	Target string `json:"target"`
	Driver string `json:"driver"`
	// Plans are the plans of the plan file that hold the target.
	Plans []string `json:"plans"`
	// Status is the last run's outcome, or "never ran".
	Status string `json:"status"`
	// Plan is the plan whose run gave Status.
	Plan          string     `json:"plan,omitempty"`
	LastRunAt     *time.Time `json:"last_run_at"`
	LastSuccessAt *time.Time `json:"last_success_at"`
	// AgeSeconds is how long ago the last success was; null: never.
	AgeSeconds      *float64 `json:"age_seconds"`
	DurationSeconds float64  `json:"duration_seconds"`
	// Artifact and Bytes are the last backup made (by any plan).
	Artifact *string       `json:"artifact"`
	Bytes    *int64        `json:"bytes"`
	Error    *string       `json:"error"`
	Verify   *VerifyStatus `json:"verify"`
	Drill    *DrillStatus  `json:"drill"`
	// Running: the command holding the run lock works on this target.
	Running bool `json:"running"`
	// Problem is "", ProblemFailed, ProblemStale or ProblemNever.
	Problem string `json:"problem,omitempty"`
}

// VerifyStatus is a target's last passed verify and how much of what it
// keeps its verifies have read.
type VerifyStatus struct {
	// LastVerifiedAt is when a verify of it last passed; null: not on
	// record.
	LastVerifiedAt *time.Time `json:"last_verified_at"`
	AgeSeconds     *float64   `json:"age_seconds"`
	// Full: that verify read everything the target keeps.
	Full bool `json:"full"`
	// Cycle, SlicesRead: the rotation (verify_cycle), when it has one.
	Cycle      int `json:"cycle,omitempty"`
	SlicesRead int `json:"slices_read,omitempty"`
	// WholeReadAt is when every byte the target keeps was last read; null
	// until every slice has been.
	WholeReadAt *time.Time `json:"whole_read_at"`
	// LastFailedAt and Error are the last `verify` that failed, when no
	// verify has passed since; Problem is then ProblemFailed.
	LastFailedAt *time.Time `json:"last_failed_at,omitempty"`
	Error        *string    `json:"error,omitempty"`
	Problem      string     `json:"problem,omitempty"`
}

// DrillStatus is a target's last restore drill.
type DrillStatus struct {
	Status       string     `json:"status"`
	LastDrillAt  time.Time  `json:"last_drill_at"`
	LastPassedAt *time.Time `json:"last_passed_at"`
	// AgeSeconds is how long ago the last drill passed; null: never.
	AgeSeconds *float64 `json:"age_seconds"`
	Artifact   *string  `json:"artifact"`
	Error      *string  `json:"error"`
	Problem    string   `json:"problem,omitempty"`
}

// Selection is which targets `status` shows: those of a plan (all when
// ""), and of those the named ones (all when none).
type Selection struct {
	Plan    string
	Targets []string
}

// Pick is the names sel picks from the plan file p, in the file's
// order.
func (sel Selection) Pick(p *plan.Plan) []string {
	var out []string
	for _, name := range p.Order {
		if sel.Plan != "" && !slices.Contains(p.Plans[sel.Plan].Targets, name) {
			continue
		}
		if len(sel.Targets) > 0 && !slices.Contains(sel.Targets, name) {
			continue
		}
		out = append(out, name)
	}
	return out
}

// Empty says the state records nothing: no run, drill or verify.
func (s *State) Empty() bool {
	return len(s.Plans) == 0 && len(s.Drills) == 0 && len(s.Verified) == 0 && len(s.VerifyFailed) == 0
}

// LastOf is target's last outcome across every plan that ran it (plans
// since removed from the file included: the target still ran), and the
// plan of its last run; nil when no plan ran it. Its status, error and
// duration are the newest run's; its last success the newest success of
// any plan; its artifact the one the newest success made.
func (s *State) LastOf(target string) (*Outcome, string) {
	var last *Outcome
	lastPlan := ""
	var success, artifactAt time.Time
	var artifact *string
	var bytes *int64
	for _, name := range slices.Sorted(maps.Keys(s.Plans)) {
		o := s.Plans[name].Targets[target]
		if o == nil {
			continue
		}
		if last == nil || o.LastRunAt.After(last.LastRunAt) {
			c := *o
			last, lastPlan = &c, name
		}
		if o.LastSuccessAt != nil && o.LastSuccessAt.After(success) {
			success = *o.LastSuccessAt
		}
		// The artifact a plan remembers is its last run's that made one:
		// its last success, or its last run when that made one and failed
		// later (a verify that did not pass).
		if o.Artifact != nil {
			at := o.LastRunAt
			if o.LastSuccessAt != nil && !Succeeded(o.Status) {
				at = *o.LastSuccessAt
			}
			if artifact == nil || at.After(artifactAt) {
				artifact, bytes, artifactAt = o.Artifact, o.Bytes, at
			}
		}
	}
	if last == nil {
		return nil, ""
	}
	if !success.IsZero() {
		last.LastSuccessAt = &success
	}
	last.Artifact, last.Bytes = artifact, bytes
	return last, lastPlan
}

// Check reports each target sel picks from the plan file p: its last
// outcome across plans, which must be a success; when maxAge > 0, that
// success must be within maxAge of now (a target that never succeeded is
// then a problem too: without a max age, a new install is not one). A
// target's last drill, when one ran, must have passed (drills are rarer
// than backups: maxAge does not apply to them). running, when not nil, is
// the command holding the run lock.
func Check(s *State, p *plan.Plan, sel Selection, now time.Time, maxAge time.Duration, running *Running) *Summary {
	sum := &Summary{CheckedAt: now.UTC(), NoBackupsYet: s.Empty(), Running: running, Targets: []TargetStatus{}, Problems: []string{}}
	if maxAge > 0 {
		sum.MaxAgeSeconds = maxAge.Seconds()
	}
	ago := func(t *time.Time) *float64 {
		if t == nil {
			return nil
		}
		secs := now.Sub(*t).Round(time.Second).Seconds()
		return &secs
	}
	for _, name := range sel.Pick(p) {
		ts := TargetStatus{Target: name, Driver: p.Targets[name].Driver, Plans: []string{}, Status: ProblemNever}
		for _, g := range slices.Sorted(maps.Keys(p.Plans)) {
			if slices.Contains(p.Plans[g].Targets, name) {
				ts.Plans = append(ts.Plans, g)
			}
		}
		if running != nil {
			ts.Running = slices.Contains(running.Targets, name)
		}
		o, lastPlan := s.LastOf(name)
		if o != nil {
			at := o.LastRunAt
			ts.Status, ts.Plan, ts.LastRunAt, ts.LastSuccessAt = o.Status, lastPlan, &at, o.LastSuccessAt
			ts.AgeSeconds = ago(o.LastSuccessAt)
			ts.DurationSeconds, ts.Artifact, ts.Bytes, ts.Error = o.DurationSeconds, o.Artifact, o.Bytes, o.Error
		}
		what := "target " + name
		switch {
		case o != nil && !Succeeded(o.Status):
			ts.Problem = ProblemFailed
			msg := fmt.Sprintf("%s: %s at %s (plan %s", what, o.Status, o.LastRunAt.Format(time.RFC3339), lastPlan)
			if o.LastSuccessAt != nil {
				msg += fmt.Sprintf("; last success %s)", o.LastSuccessAt.Format(time.RFC3339))
			} else {
				msg += "; never succeeded)"
			}
			sum.Problems = append(sum.Problems, msg)
		case maxAge > 0 && o == nil:
			ts.Problem = ProblemNever
			sum.Problems = append(sum.Problems, what+": never ran")
		case maxAge > 0 && now.Sub(*o.LastSuccessAt) > maxAge:
			ts.Problem = ProblemStale
			sum.Problems = append(sum.Problems, fmt.Sprintf("%s: last success %s, %s ago (more than --max-age %s)",
				what, o.LastSuccessAt.Format(time.RFC3339), now.Sub(*o.LastSuccessAt).Round(time.Second), maxAge))
		}
		ts.Verify = s.verifyStatus(name)
		if v := ts.Verify; v != nil {
			v.AgeSeconds = ago(v.LastVerifiedAt)
			if v.Problem != "" {
				// The backups may all have succeeded: what they keep
				// did not pass its check, which is as bad.
				msg := fmt.Sprintf("verify of target %s: failed at %s", name, v.LastFailedAt.Format(time.RFC3339))
				if v.LastVerifiedAt != nil {
					msg += fmt.Sprintf(" (last passed %s)", v.LastVerifiedAt.Format(time.RFC3339))
				} else {
					msg += " (never passed)"
				}
				sum.Problems = append(sum.Problems, msg+": "+*v.Error)
				sum.Failed = true
			}
		}
		if d := s.Drills[name]; d != nil {
			ds := &DrillStatus{Status: d.Status, LastDrillAt: d.LastRunAt, LastPassedAt: d.LastSuccessAt, AgeSeconds: ago(d.LastSuccessAt),
				Artifact: d.Artifact, Error: d.Error}
			if !Succeeded(d.Status) {
				ds.Problem = ProblemFailed
				msg := fmt.Sprintf("drill of target %s: %s at %s", name, d.Status, d.LastRunAt.Format(time.RFC3339))
				if d.LastSuccessAt != nil {
					msg += fmt.Sprintf(" (last passed %s)", d.LastSuccessAt.Format(time.RFC3339))
				} else {
					msg += " (never passed)"
				}
				sum.Problems = append(sum.Problems, msg)
				sum.Failed = true
			}
			ts.Drill = ds
		}
		switch ts.Problem {
		case ProblemFailed:
			sum.Failed = true
		case ProblemStale, ProblemNever:
			sum.Stale = true
		}
		sum.Targets = append(sum.Targets, ts)
	}
	return sum
}

// verifyStatus is target's last passed verify and its rotation; nil when
// neither is on record. A state file written before Verified was kept
// gives the newest slice its rotation read.
func (s *State) verifyStatus(target string) *VerifyStatus {
	v, r, f := s.Verified[target], s.Verify[target], s.VerifyFailed[target]
	if v == nil && r == nil && f == nil {
		return nil
	}
	vs := &VerifyStatus{}
	// A pass removes the failure; the times are compared as well, so a
	// pass recorded later by any path still counts as clearing it.
	if f != nil && (v == nil || f.At.After(v.At)) {
		at, msg := f.At, f.Error
		vs.LastFailedAt, vs.Error, vs.Problem = &at, &msg, ProblemFailed
	}
	if v != nil {
		at := v.At
		vs.LastVerifiedAt = &at
		vs.Full = v.Coverage == nil || v.Coverage.Full
	}
	if r != nil {
		vs.Cycle, vs.WholeReadAt = r.Cycle, r.wholeReadAt()
		for _, at := range r.SliceReadAt {
			if at.IsZero() {
				continue
			}
			vs.SlicesRead++
			if v == nil && (vs.LastVerifiedAt == nil || at.After(*vs.LastVerifiedAt)) {
				a := at
				vs.LastVerifiedAt = &a
			}
		}
		if v == nil {
			vs.Full = vs.Cycle <= 1 && vs.SlicesRead > 0
		}
	}
	return vs
}
