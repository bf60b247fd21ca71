package cli

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/plan"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "create repositories and dump directories, or find them already there (idempotent)",
		ArgsUsage: "[TARGET...]",
		Flags:     []cli.Flag{planFlag(), jsonFlag()},
		Action:    cmdInit,
	}
}

// initJSON is one target of `init --json`: status "created", "found"
// (already initialised), "nothing to create" (a remote destination, a
// dump streamed into another target's repository), "ready" (a driver
// that does not say which) or "failed"; next is what to do now.
type initJSON struct {
	targetJSON
	Next string `json:"next,omitempty"`
}

// initStatus is the word for what init did to a target.
func initStatus(o plan.Outcome) string {
	switch r := o.Init; {
	case r == nil:
		return "ready"
	case r.Created:
		return "created"
	case r.Nothing:
		return "nothing to create"
	}
	return "found"
}

func cmdInit(c *cli.Context) error {
	e, targets, err := pick(c)
	if err != nil {
		return err
	}
	start := time.Now()
	list := e.plan.Init(c.Context, targets, e.rt)
	w := c.App.Writer
	if c.Bool("json") {
		return printOutcomes(w, "init", list, time.Since(start), func(o plan.Outcome) initJSON {
			j := initJSON{targetJSON: newTargetJSON(o, initStatus(o))}
			if o.Init != nil && o.Err == nil {
				j.Next = o.Init.Next
			}
			return j
		})
	}
	failed := 0
	for _, o := range list {
		switch status := initStatus(o); {
		case o.Err != nil:
			failed++
			fmt.Fprintf(w, "%s: FAILED: %v\n", o.Target, o.Err)
		case status == "found":
			fmt.Fprintf(w, "%s: found (already initialised)\n", o.Target)
		case status == "nothing to create":
			fmt.Fprintf(w, "%s: nothing to create here\n", o.Target)
		default:
			fmt.Fprintf(w, "%s: %s\n", o.Target, status)
		}
		if o.Err == nil && o.Init != nil && o.Init.Next != "" {
			fmt.Fprintf(w, "%s: next: %s\n", o.Target, o.Init.Next)
		}
	}
	if failed > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d targets failed", failed, len(list))}
	}
	return nil
}
