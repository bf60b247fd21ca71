package plan

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// scopedDriver is a fake driver that reads slices.
type scopedDriver struct {
	*fakeDriver
	scopes map[string]drivers.Scope
	wrote  map[string]drivers.Artifact
}

func (s *scopedDriver) VerifyScoped(_ context.Context, _ proc.Executor, t *drivers.Target, a drivers.Artifact, sc drivers.Scope) (drivers.Coverage, error) {
	s.record("verify " + t.Name)
	s.scopes[t.Name], s.wrote[t.Name] = sc, a
	if t.Settings.Str("fail") == "verify" {
		return drivers.Coverage{}, errors.New("slice 3 holds a damaged file")
	}
	return sc.Covered("the new files and " + sc.String()), nil
}

// fixedRotation always picks slice 3 and says the whole was read at when.
type fixedRotation struct{ when *time.Time }

func (fixedRotation) Scope(t *drivers.Target) drivers.Scope {
	return drivers.Scope{Slice: 3, Cycle: t.VerifyCycle}
}
func (r fixedRotation) WholeReadAt(*drivers.Target, drivers.Coverage, time.Time) *time.Time {
	return r.when
}

// A run verifies what the backup wrote plus the rotation's slice, and the
// report says what was read; a damaged slice fails the target and keeps
// retention from running; a driver that reads no slices reads everything
// through Verify, and claims no coverage.
func TestRunVerifiesTheRotationsSlice(t *testing.T) {
	p, f := fakePlan(1, []string{"library", "broken"}, map[string]drivers.Values{"broken": {"fail": "verify"}})
	for _, tg := range p.Targets {
		tg.VerifyCycle = 30
	}
	s := &scopedDriver{fakeDriver: f, scopes: map[string]drivers.Scope{}, wrote: map[string]drivers.Artifact{}}
	for _, tg := range p.Targets {
		tg.TempDir = t.TempDir()
	}
	when := time.Date(2026, 11, 6, 2, 0, 0, 0, time.UTC)
	rt := Runtime{Driver: func(string) (drivers.Driver, bool) { return s, true }}
	rep, err := p.Run(context.Background(), "weekly", RunOptions{Rotation: fixedRotation{&when}}, rt)
	if err != nil {
		t.Fatal(err)
	}
	lib, broken := rep.Targets[0], rep.Targets[1]
	if got := s.scopes["library"]; got != (drivers.Scope{Slice: 3, Cycle: 30}) {
		t.Fatalf("scope %+v, want slice 3/30", got)
	}
	if s.wrote["library"].ID != "snap-library" {
		t.Fatalf("verify was not given the new backup: %+v", s.wrote["library"])
	}
	c := lib.Coverage
	if lib.Status != StatusOK || c == nil || c.Full || c.Slice != 3 || c.Cycle != 30 || !strings.Contains(c.Detail, "slice 3/30") || c.WholeReadAt == nil || !c.WholeReadAt.Equal(when) {
		t.Fatalf("library: %s, coverage %+v", lib.Status, c)
	}
	if broken.Status != StatusFailed || broken.Coverage != nil || broken.Pruned || strings.Contains(strings.Join(f.events, ","), "prune broken") {
		t.Fatalf("broken: %s, coverage %+v, events %v", broken.Status, broken.Coverage, f.events)
	}

	// A driver without slices: Verify, no coverage.
	p, f = fakePlan(1, []string{"db"}, nil)
	rep = runFake(t, p, f, RunOptions{Rotation: fixedRotation{&when}})
	if tr := rep.Targets[0]; tr.Status != StatusOK || !tr.Verified || tr.Coverage != nil || !strings.Contains(strings.Join(f.events, ","), "verify db") {
		t.Fatalf("db: %+v, events %v", tr, f.events)
	}
}

// severalSlices reads on from where it stopped, as borg does: it reports
// the slices it finished and a memo for next time.
type severalSlices struct{ *fakeDriver }

func (severalSlices) VerifyScoped(_ context.Context, _ proc.Executor, t *drivers.Target, _ drivers.Artifact, sc drivers.Scope) (drivers.Coverage, error) {
	return drivers.Coverage{Cycle: sc.Cycle, Slices: []int{2, 3}, Memo: sc.Memo + "+1", Detail: "segments"}, nil
}

// The report carries the slices a verify read and the driver's memo, which
// is the state's to keep and not the report's to show.
func TestVerifyWithCarriesSlicesAndMemo(t *testing.T) {
	tg := &drivers.Target{Name: "library", VerifyCycle: 5}
	rot := fixedRotation{}
	cov, err := verifyWith(context.Background(), severalSlices{}, nil, tg, drivers.Artifact{}, memoRotation{rot, "m"})
	if err != nil {
		t.Fatal(err)
	}
	if cov.Full || cov.Slice != 0 || len(cov.Slices) != 2 || cov.Slices[1] != 3 || cov.Memo != "m+1" || cov.Cycle != 5 {
		t.Fatalf("coverage %+v", cov)
	}
	b, _ := json.Marshal(cov)
	if !strings.Contains(string(b), `"slices":[2,3]`) || strings.Contains(string(b), "m+1") {
		t.Fatalf("report JSON %s", b)
	}
}

// memoRotation hands the driver a memo, as the state does.
type memoRotation struct {
	fixedRotation
	memo string
}

func (r memoRotation) Scope(t *drivers.Target) drivers.Scope {
	s := r.fixedRotation.Scope(t)
	s.Memo = r.memo
	return s
}
