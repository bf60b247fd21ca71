package state

import (
	"slices"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// A cycle of runs reads every slice once, in order; the whole counts as
// read only once every slice has been, as of the oldest of them; a full
// read counts for every slice; a new cycle length starts again.
func TestRotationCoversEverySliceOnce(t *testing.T) {
	s := (&State{}).init()
	tg := &drivers.Target{Name: "library", VerifyCycle: 4}
	rot := s.Rotation()
	start := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	var seen []int
	for run := 0; run < 8; run++ {
		at := start.Add(time.Duration(run) * 24 * time.Hour)
		sc := rot.Scope(tg)
		if sc.Full || sc.Cycle != 4 {
			t.Fatalf("run %d: scope %+v, want a slice of 4", run, sc)
		}
		seen = append(seen, sc.Slice)
		cov := sc.Covered("x")
		whole := rot.WholeReadAt(tg, cov, at)
		s.RecordCoverage(tg.Name, &plan.CoverageReport{Slice: cov.Slice, Cycle: 4}, at)
		switch {
		case run < 3 && whole != nil:
			t.Fatalf("run %d: the whole counts as read after %d of 4 slices", run, run+1)
		case run >= 3 && (whole == nil || !whole.Equal(start.Add(time.Duration(run-3)*24*time.Hour))):
			t.Fatalf("run %d: whole read at %v, want the oldest slice's time %v", run, whole, start.Add(time.Duration(run-3)*24*time.Hour))
		}
	}
	if want := []int{1, 2, 3, 4, 1, 2, 3, 4}; !slices.Equal(seen, want) {
		t.Fatalf("slices %v, want %v", seen, want)
	}

	// verify --full counts for every slice.
	full := start.Add(30 * 24 * time.Hour)
	s.RecordCoverage(tg.Name, &plan.CoverageReport{Full: true, Cycle: 4}, full)
	if w := s.Verify[tg.Name].wholeReadAt(); w == nil || !w.Equal(full) {
		t.Fatalf("after a full read: whole read at %v, want %v", w, full)
	}

	// A new cycle length starts again from slice 1, nothing read.
	tg.VerifyCycle = 3
	if sc := rot.Scope(tg); sc.Slice != 1 || sc.Cycle != 3 {
		t.Fatalf("after verify_cycle changed: %+v", sc)
	}
	if w := rot.WholeReadAt(tg, drivers.Coverage{Slice: 1, Cycle: 3}, full); w != nil {
		t.Fatalf("a changed cycle kept the old slices: %v", w)
	}
	// A cycle of 1 reads everything.
	tg.VerifyCycle = 1
	if sc := rot.Scope(tg); !sc.Full {
		t.Fatalf("verify_cycle 1: %+v", sc)
	}
}
