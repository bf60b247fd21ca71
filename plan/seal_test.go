package plan

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// sealingFake is a fake mirror: it records when the plan seals it with
// the run's recovery point.
type sealingFake struct{ *fakeDriver }

func (s sealingFake) Seal(_ context.Context, _ proc.Executor, t *drivers.Target, _ drivers.Artifact) error {
	if !drivers.ValidPoint(t.Point) {
		return errors.New("no point")
	}
	s.record("seal " + t.Name)
	if t.Settings.Str("fail") == "seal" {
		return errors.New("disk full")
	}
	return nil
}

// A mirror is sealed with the run's point only after its verify (and
// drill) passed: never after a failed backup, verify or drill, nor when
// verification is off; a failed seal fails the target (the mirror is in
// no point) and keeps retention away.
func TestRunSealsOnlyAVerifiedMirror(t *testing.T) {
	for _, c := range []struct {
		name     string
		settings drivers.Values
		verify   bool
		drill    bool
		o        RunOptions
		want     string // the events
		status   string
	}{
		{"verified", nil, true, false, RunOptions{}, "backup m,verify m,seal m,prune m", StatusOK},
		{"verified and drilled", nil, true, true, RunOptions{}, "backup m,verify m,drill m,seal m,prune m", StatusOK},
		{"backup failed", drivers.Values{"fail": "backup"}, true, false, RunOptions{}, "backup m", StatusFailed},
		{"verify failed", drivers.Values{"fail": "verify"}, true, false, RunOptions{}, "backup m,verify m", StatusFailed},
		{"drill failed", drivers.Values{"fail": "drill"}, true, true, RunOptions{}, "backup m,verify m,drill m", StatusFailed},
		// No retention keys: nothing skipped, no warning (the run says at
		// info that the mirror is in no point).
		{"run --no-verify", nil, true, false, RunOptions{NoVerify: true}, "backup m", StatusOK},
		{"verify = false", nil, false, false, RunOptions{}, "backup m", StatusOK},
		{"seal failed", drivers.Values{"fail": "seal"}, true, false, RunOptions{}, "backup m,verify m,seal m", StatusFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, f := fakePlan(1, []string{"m"}, map[string]drivers.Values{"m": c.settings})
			p.Targets["m"].Verify, p.Targets["m"].Drill = c.verify, c.drill
			p.Targets["m"].TempDir = t.TempDir()
			rt := Runtime{Driver: func(string) (drivers.Driver, bool) { return sealingFake{f}, true }}
			rep, err := p.Run(context.Background(), "weekly", c.o, rt)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(f.events, ","); got != c.want || rep.Targets[0].Status != c.status {
				t.Fatalf("events %s (%s), want %s (%s)", got, rep.Targets[0].Status, c.want, c.status)
			}
			if c.name == "seal failed" && !strings.Contains(*rep.Targets[0].Error, "in no point") {
				t.Fatalf("error %q", *rep.Targets[0].Error)
			}
		})
	}
}
