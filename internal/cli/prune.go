package cli

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/plan"
)

func pruneCommand() *cli.Command {
	return &cli.Command{
		Name:      "prune",
		Usage:     "apply retention only",
		ArgsUsage: "[TARGET...]",
		Flags: []cli.Flag{planFlag(),
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "only say what would be removed"}, waitFlag(), jsonFlag()},
		Action: cmdPrune,
	}
}

func cmdPrune(c *cli.Context) error {
	// Also with --dry-run: restic forget and borg prune lock the
	// repository, which would make a running backup fail.
	e, targets, unlock, err := pickLocked(c, nil)
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
	start := time.Now()
	list := e.plan.Prune(c.Context, targets, dry, e.rt)
	w := c.App.Writer
	if c.Bool("json") {
		return printOutcomes(w, "prune", list, time.Since(start), func(o plan.Outcome) pruneJSON {
			status := "pruned"
			switch {
			case !o.Prune.Policy:
				status = "no retention"
			case dry:
				status = "would prune"
			}
			return pruneJSON{targetJSON: newTargetJSON(o, status), DryRun: dry,
				Removed: append([]string{}, o.Prune.Removed...), Kept: o.Prune.Kept, Reclaimed: o.Prune.Reclaimed != ""}
		})
	}
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

// pruneJSON is one target of `prune --json`: status "pruned", "would
// prune" (--dry-run), "no retention" (no keep_* key: nothing looked at)
// or "failed".
type pruneJSON struct {
	targetJSON
	DryRun bool `json:"dry_run"`
	// Removed are the backups removed (or, with dry_run, that would be).
	Removed []string `json:"removed"`
	Kept    int      `json:"kept"`
	// Reclaimed: the repository's space was reclaimed (restic --prune,
	// borg compact), not left for its prune_every.
	Reclaimed bool `json:"reclaimed"`
}
