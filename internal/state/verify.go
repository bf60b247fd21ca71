package state

import (
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/metrics"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// VerifyRotation is where a target's verification stands in its cycle:
// when each slice of what it keeps was last read. Everything was read by
// the oldest of those times, once every slice has one.
type VerifyRotation struct {
	Cycle int `json:"cycle"`
	// SliceReadAt[i] is when slice i+1 was last read; zero: not since the
	// cycle was set.
	SliceReadAt []time.Time `json:"slice_read_at"`
	// Memo is the driver's note from the last verify (drivers.Coverage.
	// Memo), handed to the next one (drivers.Scope.Memo); opaque here.
	Memo string `json:"memo,omitempty"`
}

// Rotation picks each target's next slice from s and says when the whole
// was read: the plan.Rotation of `run` and `verify`.
func (s *State) Rotation() plan.Rotation { return rotation{s} }

type rotation struct{ s *State }

// Scope is the slice read longest ago (never-read ones first, lowest
// number first), so a cycle reads every slice once in order.
func (r rotation) Scope(t *drivers.Target) drivers.Scope {
	memo := ""
	if v := r.s.Verify[t.Name]; v != nil {
		memo = v.Memo
	}
	if t.VerifyCycle <= 1 {
		s := drivers.FullScope
		s.Memo = memo
		return s
	}
	rot := r.s.rotationOf(t.Name, t.VerifyCycle)
	next := 0
	for i, at := range rot.SliceReadAt {
		if at.Before(rot.SliceReadAt[next]) {
			next = i
		}
	}
	return drivers.Scope{Slice: next + 1, Cycle: t.VerifyCycle, Memo: memo}
}

func (r rotation) WholeReadAt(t *drivers.Target, cov drivers.Coverage, at time.Time) *time.Time {
	rot := r.s.rotationOf(t.Name, t.VerifyCycle)
	rot.read(cov, at)
	return rot.wholeReadAt()
}

// rotationOf is a copy of target's rotation, started again when the
// cycle changed (the memo, which is about the target, stays).
func (s *State) rotationOf(target string, cycle int) VerifyRotation {
	cycle = max(cycle, 1)
	r := s.Verify[target]
	if r != nil && r.Cycle == cycle && len(r.SliceReadAt) == cycle {
		return VerifyRotation{Cycle: cycle, SliceReadAt: append([]time.Time(nil), r.SliceReadAt...), Memo: r.Memo}
	}
	fresh := VerifyRotation{Cycle: cycle, SliceReadAt: make([]time.Time, cycle)}
	if r != nil {
		fresh.Memo = r.Memo
	}
	return fresh
}

// read notes that cov was read at at: everything, or each slice it read.
func (r *VerifyRotation) read(cov drivers.Coverage, at time.Time) {
	if cov.Full {
		for i := range r.SliceReadAt {
			r.SliceReadAt[i] = at
		}
		return
	}
	if cov.Cycle != r.Cycle {
		return
	}
	for _, slice := range cov.SlicesRead() {
		if slice >= 1 && slice <= len(r.SliceReadAt) {
			r.SliceReadAt[slice-1] = at
		}
	}
}

func (r VerifyRotation) wholeReadAt() *time.Time {
	if len(r.SliceReadAt) == 0 {
		return nil
	}
	oldest := r.SliceReadAt[0]
	for _, at := range r.SliceReadAt {
		if at.IsZero() {
			return nil
		}
		if at.Before(oldest) {
			oldest = at
		}
	}
	return &oldest
}

// coverage is the rotation's progress, for the metrics.
func (r VerifyRotation) coverage() *metrics.VerifyCoverage {
	c := &metrics.VerifyCoverage{Cycle: r.Cycle}
	for _, at := range r.SliceReadAt {
		if !at.IsZero() {
			c.SlicesRead++
		}
	}
	if at := r.wholeReadAt(); at != nil {
		c.WholeReadAt = *at
	}
	return c
}

// RecordCoverage notes what a verify of target read at at.
func (s *State) RecordCoverage(target string, cov *plan.CoverageReport, at time.Time) {
	if cov == nil || cov.Cycle == 0 {
		return
	}
	rot := s.rotationOf(target, cov.Cycle)
	rot.read(drivers.Coverage{Full: cov.Full, Slice: cov.Slice, Slices: cov.Slices, Cycle: cov.Cycle}, at)
	if cov.Memo != "" {
		rot.Memo = cov.Memo
	}
	s.Verify[target] = &rot
}

// RotationIn is the rotation kept under dir; a missing or damaged state
// starts the cycle again rather than reading everything at once.
func RotationIn(dir string) plan.Rotation {
	s, err := Load(dir)
	if err != nil {
		s = (&State{}).init()
	}
	return s.Rotation()
}

// RecordVerify records what a `verify` read, and which targets it found
// damaged (only the run lock's holder calls it). interrupted: the verify
// was stopped by a signal, so a target's error says nothing about what it
// keeps and is not recorded as a failure.
func RecordVerify(dir string, outs []plan.Outcome, at time.Time, interrupted bool) error {
	s, err := Load(dir)
	if err != nil {
		return err
	}
	for _, o := range outs {
		switch {
		case o.Err == nil:
			s.RecordCoverage(o.Target, o.Coverage, at)
			s.Verified[o.Target] = &Verified{At: at, Coverage: o.Coverage}
			delete(s.VerifyFailed, o.Target)
		case !interrupted:
			s.VerifyFailed[o.Target] = &VerifyFailure{At: at, Error: o.Err.Error()}
		}
	}
	return s.Save(dir)
}
