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

// A verify that read several slices (borg's partial check reads on from
// where it stopped) marks each; one that read none marks none; the
// driver's memo comes back to it in the next scope, through state.json,
// and survives a change of cycle.
func TestRotationMarksEachSliceReadAndKeepsTheMemo(t *testing.T) {
	dir := t.TempDir()
	s := (&State{}).init()
	tg := &drivers.Target{Name: "books", VerifyCycle: 5}
	start := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	for i, c := range []struct {
		slices []int
		memo   string
	}{{[]int{1, 2}, "rate=1"}, {nil, "rate=2"}, {[]int{3, 4, 5}, ""}} {
		s.RecordCoverage(tg.Name, &plan.CoverageReport{Slices: c.slices, Cycle: 5, Memo: c.memo}, start.Add(time.Duration(i)*time.Hour))
	}
	if err := s.Save(dir); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	v := loaded.Verify[tg.Name]
	want := []time.Time{start, start, start.Add(2 * time.Hour), start.Add(2 * time.Hour), start.Add(2 * time.Hour)}
	if v == nil || !slices.EqualFunc(v.SliceReadAt, want, time.Time.Equal) {
		t.Fatalf("slices read at %+v, want %v", v, want)
	}
	if w := v.wholeReadAt(); w == nil || !w.Equal(start) {
		t.Fatalf("whole read at %v, want %v", w, start)
	}
	// An empty memo keeps the last one.
	if sc := loaded.Rotation().Scope(tg); sc.Memo != "rate=2" {
		t.Fatalf("memo %q after state.json, want %q", sc.Memo, "rate=2")
	}
	tg.VerifyCycle = 2
	if sc := loaded.Rotation().Scope(tg); sc.Memo != "rate=2" || sc.Slice != 1 {
		t.Fatalf("after verify_cycle changed: %+v", sc)
	}
	tg.VerifyCycle = 1
	if sc := loaded.Rotation().Scope(tg); !sc.Full || sc.Memo != "rate=2" {
		t.Fatalf("verify_cycle 1: %+v", sc)
	}
}
