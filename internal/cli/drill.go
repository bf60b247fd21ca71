package cli

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/internal/state"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

func drillCommand() *cli.Command {
	return &cli.Command{
		Name:      "drill",
		Usage:     "prove backups restore: restore the latest into scratch space, compare, clean up",
		ArgsUsage: "[TARGET...]",
		Flags:     []cli.Flag{planFlag(), &cli.BoolFlag{Name: "json", Usage: "print the drill report as JSON on stdout"}, waitFlag()},
		Action:    cmdDrill,
	}
}

func cmdDrill(c *cli.Context) (err error) {
	// A drill that fails alerts as a failed run does (alerts).
	var rep *plan.Report
	al := startCheckAlerts(c, "drill", c.String("plan"))
	defer func() { al.finish(rep, err) }()
	e, targets, unlock, err := pickLocked(c, al)
	if err != nil {
		return err
	}
	defer unlock()
	defer e.close()
	rep = e.plan.Drill(c.Context, c.String("plan"), targets, e.rt)
	e.close()
	// On a terminal the summary table, not log lines, ends the drill.
	tty := summaryTerminal(c)
	path, err := rep.Write(e.plan.StateDir)
	if err != nil {
		e.log.Error("could not write the drill report", "error", err)
		path = ""
	} else {
		e.besideTable(tty, func() { e.log.Info("report written", "path", path) })
		al.reportWritten(path)
	}
	rerr := state.Record(e.plan, rep, e.log)
	if rerr != nil {
		e.log.Error("could not record the drill's state", "error", rerr)
	}
	if c.Bool("json") {
		out, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(c.App.Writer, string(out))
	} else if tty == nil || !stdoutIsTerminal(c) {
		for _, t := range rep.Targets {
			switch {
			case t.Status == plan.StatusOK:
				fmt.Fprintf(c.App.Writer, "%s: drill passed: %s\n", t.Name, t.Drill.Detail)
			case t.Error != nil:
				fmt.Fprintf(c.App.Writer, "%s: drill FAILED: %s\n", t.Name, *t.Error)
			}
		}
	}
	if tty != nil {
		showSummary(tty, drillSummary(rep, c.String("plan"), path))
	}
	switch rep.Status {
	case plan.StatusInterrupted:
		return fmt.Errorf("drill interrupted")
	case plan.StatusFailed:
		return &exitError{code: exitFailed, err: rep.Err()}
	}
	if rerr != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("recording the drill: %w", rerr)}
	}
	return nil
}
