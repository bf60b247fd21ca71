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
			&cli.StringFlag{Name: "plan", Usage: "check the targets of this plan"},
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
	checks := doctor.Run(c.Context, e.plan, targets, doctor.Options{
		Exec:    e.rt.Exec,
		Driver:  e.rt.Driver,
		Timeout: c.Duration("timeout"),
		Report:  func(ch doctor.Check) { fmt.Fprintln(w, ch) },
	})
	counts := map[doctor.Status]int{}
	for _, ch := range checks {
		counts[ch.Status]++
	}
	fmt.Fprintf(w, "doctor: %d ok, %d warnings, %d failed\n", counts[doctor.OK], counts[doctor.Warn], counts[doctor.Fail])
	if n := counts[doctor.Fail]; n > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("doctor: %d check(s) failed", n)}
	}
	return nil
}
