package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/internal/state"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "back up, verify and prune every target of PLAN",
		ArgsUsage: "PLAN",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "target", Usage: "run only target `TARGET` of the plan (repeatable)"},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "print the exact commands and run nothing"},
			&cli.BoolFlag{Name: "json", Usage: "print the run report as JSON on stdout"},
			&cli.BoolFlag{Name: "no-verify", Usage: "skip verification (retention is then skipped too)"},
			&cli.BoolFlag{Name: "no-prune", Usage: "skip retention"},
			waitFlag(),
		},
		Action: cmdRun,
	}
}

func cmdRun(c *cli.Context) (err error) {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	group := a[0]
	dryRun := c.Bool("dry-run")
	// Alerts start before the plan is read: a run that cannot start (an
	// invalid plan, the lock held) must still reach monitoring.
	var rep *plan.Report
	al := startAlerts(c, "run", group, dryRun)
	defer func() { al.finish(rep, err) }()

	e, err := setup(c)
	if err != nil {
		return err
	}
	defer e.close()
	al.setPlan(e.plan)
	// Like a plan that does not load: refused before the lock is taken.
	if err := e.plan.CheckPrivate(); err != nil {
		return err
	}
	if !dryRun {
		unlock, err := lockRun(c, e)
		if err != nil {
			return err
		}
		defer unlock()
		al.started(e)
	}
	targets, err := e.plan.Select(group, c.StringSlice("target"))
	if err != nil {
		return err
	}
	if !dryRun {
		// After /start, as an unknown plan name is. A dry run reads no
		// secret, so it does not check secret files.
		if err := e.plan.CheckSecretFiles(targets); err != nil {
			return err
		}
	}
	warnInherited(e.log, targets)
	opts := plan.RunOptions{
		Only:     c.StringSlice("target"),
		DryRun:   dryRun,
		NoVerify: c.Bool("no-verify"),
		NoPrune:  c.Bool("no-prune"),
		Out:      c.App.Writer,
		Rotation: state.RotationIn(e.plan.StateDir),
		Reclaims: state.ReclaimsIn(e.plan.StateDir),
	}
	if id := newestRecoverablePoint(e); id != "" {
		opts.KeepPoints = []string{id}
	}
	rep, err = e.plan.Run(c.Context, group, opts, e.rt)
	e.close() // what follows goes to stdout, which shares the terminal
	if err != nil || rep == nil {
		return err
	}
	// On a terminal the summary table, not log lines, ends the run.
	tty := summaryTerminal(c)
	path, werr := rep.Write(e.plan.StateDir)
	if werr != nil {
		e.log.Error("could not write the run report", "error", werr)
		path = "" // the summary must not name a report that is not there
	} else {
		e.besideTable(tty, func() { e.log.Info("report written", "path", path) })
		al.reportWritten(path)
	}
	if rerr := state.Record(e.plan, rep, e.log); rerr != nil {
		e.log.Error("could not record the run's state or metrics", "error", rerr)
		werr = errors.Join(werr, rerr)
	}
	if c.Bool("json") {
		out, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(c.App.Writer, string(out))
	}
	e.besideTable(tty, func() {
		for _, t := range rep.Targets {
			e.log.Info("target finished", "target", t.Name, "status", t.Status, "duration", time.Duration(t.DurationSeconds*float64(time.Second)).Round(time.Millisecond))
		}
	})
	if tty != nil {
		showSummary(tty, runSummary(rep, path))
	}
	switch {
	case rep.Status == plan.StatusInterrupted:
		return errors.New("run interrupted")
	case rep.Status == plan.StatusFailed:
		return &exitError{code: exitFailed, err: rep.Err()}
	case werr != nil:
		return &exitError{code: exitFailed, err: fmt.Errorf("writing the run report: %w", werr)}
	case rep.Status == plan.StatusWarning:
		return &exitError{code: exitWarnings}
	}
	return nil
}
