package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/plan"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:  "validate",
		Usage: "check the plan file",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "tools", Usage: "also check that each driver's programs are installed at a supported version"},
			&cli.BoolFlag{Name: "json", Usage: "print the verdict, each problem with its line, as JSON on stdout"}},
		Action: cmdValidate,
	}
}

// validateJSON is `validate --json`'s document. ok is false when the plan
// has problems (exit 2) or a tool is missing (exit 1).
type validateJSON struct {
	Plan     string        `json:"plan"`
	OK       bool          `json:"ok"`
	Problems []problemJSON `json:"problems"`
	Targets  []string      `json:"targets"`
	Plans    []string      `json:"plans"`
	// Tools: with --tools, each driver's verdict.
	Tools []toolJSON `json:"tools,omitempty"`
}

// problemJSON is one problem of the plan, sorted by line (0: no line).
type problemJSON struct {
	Line    int    `json:"line,omitempty"`
	Key     string `json:"key,omitempty"`
	Message string `json:"message"`
}

type toolJSON struct {
	Driver string `json:"driver"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
}

func cmdValidate(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	doc := validateJSON{Problems: []problemJSON{}, Targets: []string{}, Plans: []string{}}
	// fail prints err as the JSON's problems and returns it: the exit
	// code is the text output's.
	fail := func(err error) error {
		if c.Bool("json") {
			var pe *plan.Error
			if errors.As(err, &pe) {
				for _, p := range pe.Problems() {
					if pr, ok := p.(plan.Problem); ok {
						doc.Problems = append(doc.Problems, problemJSON{Line: pr.Line, Key: pr.Key, Message: pr.Msg})
						continue
					}
					doc.Problems = append(doc.Problems, problemJSON{Message: p.Error()})
				}
			} else {
				doc.Problems = append(doc.Problems, problemJSON{Message: err.Error()})
			}
			if doc.Plan == "" {
				doc.Plan, _ = plan.Find(c.String("config"))
			}
			if err := printJSON(c.App.Writer, doc); err != nil {
				return err
			}
		}
		return err
	}
	e, err := setup(c)
	if err != nil {
		return fail(err)
	}
	doc.Plan, doc.Targets, doc.Plans = e.plan.Path, e.plan.Order, planNames(e.plan)
	if err := errors.Join(e.plan.CheckPrivate(), e.plan.CheckSecretFiles(e.plan.AllTargets()), e.plan.CheckNotifySecrets()); err != nil {
		return fail(err)
	}
	warnInherited(e.log, e.plan.AllTargets())
	w := c.App.Writer
	if !c.Bool("json") {
		fmt.Fprintf(w, "%s: ok: %d targets (%s), plans: %s\n", e.plan.Path, len(e.plan.Order),
			strings.Join(e.plan.Order, ", "), strings.Join(planNames(e.plan), ", "))
	}
	failed := 0
	if c.Bool("tools") {
		for _, o := range e.plan.CheckTools(c.Context, e.rt) {
			t := toolJSON{Driver: o.Target, OK: o.Err == nil}
			if o.Err != nil {
				failed++
				t.Error = o.Err.Error()
			}
			doc.Tools = append(doc.Tools, t)
			if c.Bool("json") {
				continue
			}
			if o.Err != nil {
				fmt.Fprintf(w, "driver %s: %v\n", o.Target, o.Err)
			} else {
				fmt.Fprintf(w, "driver %s: tools ok\n", o.Target)
			}
		}
	}
	doc.OK = failed == 0
	if c.Bool("json") {
		if err := printJSON(w, doc); err != nil {
			return err
		}
	}
	if failed > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d driver(s) lack a usable tool", failed)}
	}
	return nil
}
