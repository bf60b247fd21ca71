package state

import (
	"fmt"
	"sort"
	"time"

	"github.com/alexandria-backup/alexandria-backup/plan"
)

// Problems `status` finds, worst first.
const (
	ProblemFailed = "failed"    // the last run or drill did not succeed
	ProblemStale  = "stale"     // the last success is older than the max age
	ProblemNever  = "never ran" // no run was ever recorded
)

// Summary is what `status` reports: every plan of the plan file with each
// of its targets, and the targets' last drills.
type Summary struct {
	CheckedAt     time.Time     `json:"checked_at"`
	MaxAgeSeconds float64       `json:"max_age_seconds,omitempty"`
	Plans         []PlanStatus  `json:"plans"`
	Drills        []EntryStatus `json:"drills"`
	// Verify is each target's place in its verify cycle.
	Verify []VerifyStatus `json:"verify"`
	// Problems has one line per plan, target or drill with a problem.
	Problems []string `json:"problems"`
	// Failed: something failed last; Stale: something is older than the
	// max age or never ran.
	Failed bool `json:"failed"`
	Stale  bool `json:"stale"`
}

// PlanStatus is one plan's last run and its targets'.
type PlanStatus struct {
	EntryStatus
	Targets []EntryStatus `json:"targets"`
}

// VerifyStatus is how much of what a target keeps its verifies have read.
type VerifyStatus struct {
	Target string `json:"target"`
	Cycle  int    `json:"cycle"`
	// SlicesRead of Cycle have been read since the cycle was set.
	SlicesRead int `json:"slices_read"`
	// WholeReadAt is when every byte the target keeps was last read; null
	// until every slice has been.
	WholeReadAt *time.Time `json:"whole_read_at"`
}

// EntryStatus is the last outcome of a plan, a target or a drill, and what
// is wrong with it ("" when nothing).
type EntryStatus struct {
	Plan   string `json:"plan,omitempty"`
	Target string `json:"target,omitempty"`
	*Outcome
	// Problem is "", ProblemFailed, ProblemStale or ProblemNever.
	Problem string `json:"problem,omitempty"`
}

// Check compares the state with the plan file p: every plan and each of
// its targets must have run, succeeded last and, when maxAge > 0, have
// succeeded within maxAge of now. A target's last drill, when one ran, must
// have passed (drills are usually rarer than backups: maxAge does not
// apply to them). Plans and targets no longer in the plan file are left
// out.
func Check(s *State, p *plan.Plan, now time.Time, maxAge time.Duration) *Summary {
	sum := &Summary{CheckedAt: now.UTC(), Plans: []PlanStatus{}, Drills: []EntryStatus{}, Verify: []VerifyStatus{}, Problems: []string{}}
	if maxAge > 0 {
		sum.MaxAgeSeconds = maxAge.Seconds()
	}
	// judge sets e.Problem and returns the line saying it.
	judge := func(e *EntryStatus, what string, ages bool) (msg string) {
		o := e.Outcome
		switch {
		case o == nil:
			e.Problem = ProblemNever
			msg = what + ": never ran"
		case !Succeeded(o.Status):
			e.Problem = ProblemFailed
			msg = fmt.Sprintf("%s: %s at %s", what, o.Status, o.LastRunAt.Format(time.RFC3339))
			if o.LastSuccessAt != nil {
				msg += fmt.Sprintf(" (last success %s)", o.LastSuccessAt.Format(time.RFC3339))
			} else {
				msg += " (never succeeded)"
			}
		case ages && maxAge > 0 && now.Sub(*o.LastSuccessAt) > maxAge:
			e.Problem = ProblemStale
			msg = fmt.Sprintf("%s: last success %s, %s ago (more than --max-age %s)",
				what, o.LastSuccessAt.Format(time.RFC3339), now.Sub(*o.LastSuccessAt).Round(time.Second), maxAge)
		}
		switch e.Problem {
		case ProblemFailed:
			sum.Failed = true
		case ProblemStale, ProblemNever:
			sum.Stale = true
		}
		return msg
	}

	names := make([]string, 0, len(p.Plans))
	for n := range p.Plans {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		ps := PlanStatus{EntryStatus: EntryStatus{Plan: name}, Targets: []EntryStatus{}}
		last := s.Plans[name]
		if last != nil {
			ps.Outcome = &last.Outcome
		}
		// A plan is judged by its targets as the file lists them now (a
		// failure of a target since removed from the plan is forgotten);
		// on its own only when it never ran.
		planMsg := ""
		if ps.Outcome == nil {
			planMsg = judge(&ps.EntryStatus, "plan "+name, true)
		}
		var targetMsgs []string
		for _, t := range p.Plans[name].Targets {
			ts := EntryStatus{Plan: name, Target: t}
			if last != nil {
				ts.Outcome = last.Targets[t]
			}
			if msg := judge(&ts, fmt.Sprintf("plan %s, target %s", name, t), true); msg != "" {
				targetMsgs = append(targetMsgs, msg)
			}
			ps.Targets = append(ps.Targets, ts)
		}
		if planMsg == "" {
			sum.Problems = append(sum.Problems, targetMsgs...)
		} else {
			sum.Problems = append(sum.Problems, planMsg)
		}
		sum.Plans = append(sum.Plans, ps)
	}
	for _, t := range p.Order {
		if r := s.Verify[t]; r != nil {
			read := 0
			for _, at := range r.SliceReadAt {
				if !at.IsZero() {
					read++
				}
			}
			sum.Verify = append(sum.Verify, VerifyStatus{Target: t, Cycle: r.Cycle, SlicesRead: read, WholeReadAt: r.wholeReadAt()})
		}
		if o := s.Drills[t]; o != nil {
			d := EntryStatus{Target: t, Outcome: o}
			if msg := judge(&d, "drill of target "+t, false); msg != "" {
				sum.Problems = append(sum.Problems, msg)
			}
			sum.Drills = append(sum.Drills, d)
		}
	}
	return sum
}
