package cli

import (
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/state"
	"github.com/alexandria-backup/alexandria-backup/plan"
	"github.com/urfave/cli/v2"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "verify the latest backup of each target, and the next slice of everything it keeps (--full: all of it)",
		ArgsUsage: "[TARGET...]",
		Flags: []cli.Flag{planFlag(), waitFlag(),
			&cli.BoolFlag{Name: "full", Usage: "read everything each target keeps, not the next slice of its verify_cycle"},
			jsonFlag()},
		Action: cmdVerify,
	}
}

func cmdVerify(c *cli.Context) (err error) {
	command := "verify"
	if c.Bool("full") {
		command = "verify --full"
	}
	// A verify that finds damage alerts as a failed run does (alerts).
	var rep *plan.Report
	al := startCheckAlerts(c, command, c.String("plan"))
	defer func() { al.finish(rep, err) }()
	// restic check takes an exclusive repository lock: unguarded, a manual
	// verify would make a scheduled run's backup fail.
	e, targets, unlock, err := pickLocked(c, al)
	if err != nil {
		return err
	}
	defer unlock()
	rot := state.RotationIn(e.plan.StateDir)
	if c.Bool("full") {
		rot = plan.FullRotation
	}
	start := time.Now()
	outs := e.plan.Verify(c.Context, targets, rot, e.rt)
	interrupted := c.Context.Err() != nil
	rep = verifyReport(c.String("plan"), targets, outs, start, interrupted)
	if err := state.RecordVerify(e.plan.StateDir, outs, time.Now().UTC(), interrupted); err != nil {
		e.log.Error("could not record what verify read", "error", err)
	} else if err := state.RewriteMetrics(e.plan); err != nil {
		e.log.Error("could not rewrite the metrics", "error", err)
	}
	if c.Bool("json") {
		return printOutcomes(c.App.Writer, "verify", outs, time.Since(start), func(o plan.Outcome) verifyJSON {
			return verifyJSON{targetJSON: newTargetJSON(o, "verified"), Coverage: o.Coverage}
		})
	}
	return outcomes(c.App.Writer, "verified", outs)
}

// verifyReport is a verify's outcomes as a report, for its alerts (it is
// not written: `verify` keeps no reports).
func verifyReport(group string, targets []*drivers.Target, outs []plan.Outcome, start time.Time, interrupted bool) *plan.Report {
	now := time.Now()
	rep := &plan.Report{Command: "verify", Plan: group, Status: plan.StatusOK, StartedAt: start, FinishedAt: now,
		DurationSeconds: now.Sub(start).Seconds()}
	for i, o := range outs {
		t := plan.TargetReport{Name: o.Target, Status: plan.StatusOK, DurationSeconds: o.Took.Seconds(),
			Verified: o.Err == nil, Coverage: o.Coverage}
		if i < len(targets) && targets[i].Name == o.Target {
			t.Driver = targets[i].Driver
		}
		if o.Err != nil {
			msg := o.Err.Error()
			t.Status, t.Error, rep.Status = plan.StatusFailed, &msg, plan.StatusFailed
		}
		rep.Targets = append(rep.Targets, t)
	}
	if interrupted {
		rep.Status = plan.StatusInterrupted
	}
	return rep
}

// verifyJSON is one target of `verify --json`.
type verifyJSON struct {
	targetJSON
	// Coverage is what the verify read, for a driver that reads slices.
	Coverage *plan.CoverageReport `json:"coverage,omitempty"`
}
