package cli

import (
	"github.com/urfave/cli/v2"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "verify the latest backup of each target",
		ArgsUsage: "[TARGET...]",
		Flags:     []cli.Flag{planFlag(), waitFlag()},
		Action:    cmdVerify,
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
	return outcomes(c.App.Writer, "verified", e.plan.Verify(c.Context, targets, e.rt))
}
