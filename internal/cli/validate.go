package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:   "validate",
		Usage:  "check the plan file",
		Flags:  []cli.Flag{&cli.BoolFlag{Name: "tools", Usage: "also check that each driver's programs are installed at a supported version"}},
		Action: cmdValidate,
	}
}

func cmdValidate(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	if err := errors.Join(e.plan.CheckPrivate(), e.plan.CheckSecretFiles(e.plan.AllTargets()), e.plan.CheckNotifySecrets()); err != nil {
		return err
	}
	warnInherited(e.log, e.plan.AllTargets())
	w := c.App.Writer
	fmt.Fprintf(w, "%s: ok: %d targets (%s), plans: %s\n", e.plan.Path, len(e.plan.Order),
		strings.Join(e.plan.Order, ", "), strings.Join(planNames(e.plan), ", "))
	if !c.Bool("tools") {
		return nil
	}
	failed := 0
	for _, o := range e.plan.CheckTools(c.Context, e.rt) {
		if o.Err != nil {
			failed++
			fmt.Fprintf(w, "driver %s: %v\n", o.Target, o.Err)
		} else {
			fmt.Fprintf(w, "driver %s: tools ok\n", o.Target)
		}
	}
	if failed > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d driver(s) lack a usable tool", failed)}
	}
	return nil
}
