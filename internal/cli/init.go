package cli

import (
	"github.com/urfave/cli/v2"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "create repositories and dump directories (idempotent)",
		ArgsUsage: "[TARGET...]",
		Flags:     []cli.Flag{planFlag()},
		Action:    cmdInit,
	}
}

func cmdInit(c *cli.Context) error {
	e, targets, err := pick(c)
	if err != nil {
		return err
	}
	return outcomes(c.App.Writer, "ready", e.plan.Init(c.Context, targets, e.rt))
}
