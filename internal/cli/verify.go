package cli

import (
	"time"

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

func cmdVerify(c *cli.Context) error {
	// restic check takes an exclusive repository lock: unguarded, a manual
	// verify would make a scheduled run's backup fail.
	e, targets, unlock, err := pickLocked(c)
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
	if err := state.RecordVerify(e.plan.StateDir, outs, time.Now().UTC(), c.Context.Err() != nil); err != nil {
		e.log.Error("could not record what verify read", "error", err)
	}
	if c.Bool("json") {
		return printOutcomes(c.App.Writer, "verify", outs, time.Since(start), func(o plan.Outcome) verifyJSON {
			return verifyJSON{targetJSON: newTargetJSON(o, "verified"), Coverage: o.Coverage}
		})
	}
	return outcomes(c.App.Writer, "verified", outs)
}

// verifyJSON is one target of `verify --json`.
type verifyJSON struct {
	targetJSON
	// Coverage is what the verify read, for a driver that reads slices.
	Coverage *plan.CoverageReport `json:"coverage,omitempty"`
}
