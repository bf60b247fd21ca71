package cli

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/internal/doctor"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:      "doctor",
		Usage:     "check that the plan can run here: tools, database, repositories, secret files, free space, the run lock's holder (changes nothing)",
		ArgsUsage: "[TARGET...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "plan", Usage: "check the targets of plan `PLAN`"},
			&cli.BoolFlag{Name: "json", Usage: "print the checks and their summary as JSON on stdout"},
			&cli.DurationFlag{Name: "timeout", Value: 2 * time.Minute, Usage: "give up on a database or repository after `DUR`"},
		},
		Action: cmdDoctor,
	}
}

func cmdDoctor(c *cli.Context) error {
	e, targets, err := pick(c)
	if err != nil {
		return err
	}
	w := c.App.Writer
	o := doctor.Options{Exec: e.rt.Exec, Driver: e.rt.Driver, Timeout: c.Duration("timeout")}
	if !c.Bool("json") {
		o.Report = func(ch doctor.Check) { fmt.Fprintln(w, ch) }
	}
	start := time.Now()
	checks := doctor.Run(c.Context, e.plan, targets, o)
	rep := doctor.Report(checks, time.Since(start))
	if c.Bool("json") {
		if err := printJSON(w, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "doctor: %d ok, %d warnings, %d failed\n", rep.Summary.OK, rep.Summary.Warn, rep.Summary.Fail)
	}
	if n := rep.Summary.Fail; n > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("doctor: %d check(s) failed", n)}
	}
	return nil
}
