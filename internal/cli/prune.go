package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/plan"
)

func pruneCommand() *cli.Command {
	return &cli.Command{
		Name:      "prune",
		Usage:     "apply retention only",
		ArgsUsage: "[TARGET...]",
		Flags: []cli.Flag{planFlag(),
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "only say what would be removed"}, waitFlag()},
		Action: cmdPrune,
	}
}

func cmdPrune(c *cli.Context) error {
	// Also with --dry-run: restic forget and borg prune lock the
	// repository, which would make a running backup fail.
	e, targets, unlock, err := pickLocked(c)
	if err != nil {
		return err
	}
	defer unlock()
	dry := c.Bool("dry-run")
	// As a run's retention does: the newest point recover could use
	// keeps every backup it holds.
	if id := newestRecoverablePoint(e); id != "" {
		for _, t := range targets {
			t.KeepPoints = []string{id}
		}
	}
	list := e.plan.Prune(c.Context, targets, dry, e.rt)
	w := c.App.Writer
	for _, o := range list {
		if o.Err != nil {
			continue
		}
		switch {
		case !o.Prune.Policy:
			fmt.Fprintf(w, "%s: no retention keys set; nothing removed\n", o.Target)
		case dry:
			fmt.Fprintf(w, "%s: would remove %d, keep %d\n", o.Target, len(o.Prune.Removed), o.Prune.Kept)
		default:
			fmt.Fprintf(w, "%s: removed %d, kept %d\n", o.Target, len(o.Prune.Removed), o.Prune.Kept)
		}
		for _, r := range o.Prune.Removed {
			fmt.Fprintf(w, "  - %s\n", r)
		}
	}
	var failed []plan.Outcome
	for _, o := range list {
		if o.Err != nil {
			failed = append(failed, o)
		}
	}
	return outcomes(c.App.ErrWriter, "", failed)
}
