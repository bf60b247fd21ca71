package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/state"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "last outcome of every plan and target; exit 1 if one failed last, 4 if one is older than --max-age or never ran",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.DurationFlag{Name: "max-age", Usage: "also fail (exit 4) when a plan or target last succeeded longer than `DUR` ago (e.g. 26h)"},
		},
		Action: cmdStatus,
	}
}

// cmdStatus reads the state without taking the run lock: the state file
// is replaced atomically, and status must answer while a run is going on.
func cmdStatus(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	maxAge := c.Duration("max-age")
	if maxAge < 0 {
		return usage("--max-age: must not be negative")
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	s, err := state.Load(e.plan.StateDir)
	if err != nil {
		return err // a damaged state file: exit 1, saying which
	}
	sum := state.Check(s, e.plan, time.Now(), maxAge)
	if c.Bool("json") {
		out, _ := json.MarshalIndent(sum, "", "  ")
		fmt.Fprintln(c.App.Writer, string(out))
	} else {
		printStatus(c.App.Writer, sum)
	}
	switch {
	case sum.Failed:
		return &exitError{code: exitFailed, err: problems(sum)}
	case sum.Stale:
		return &exitError{code: exitStale, err: problems(sum)}
	}
	return nil
}

func problems(sum *state.Summary) error {
	head := fmt.Sprintf("status: %d problems:", len(sum.Problems))
	if len(sum.Problems) == 1 {
		head = "status: 1 problem:"
	}
	return errors.New(strings.Join(append([]string{head}, sum.Problems...), "\n  "))
}

// printStatus prints one line per plan, then its targets, then the drills.
func printStatus(w io.Writer, sum *state.Summary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLAN\tTARGET\tSTATUS\tLAST RUN\tLAST SUCCESS\tDURATION\tARTIFACT OR ERROR")
	row := func(plan, target string, e state.EntryStatus) {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", plan, target, statusCells(e, sum.CheckedAt))
	}
	for _, p := range sum.Plans {
		row(p.Plan, "-", p.EntryStatus)
		for _, t := range p.Targets {
			row("", t.Target, t)
		}
	}
	tw.Flush()
	if len(sum.Drills) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DRILL OF\tSTATUS\tLAST DRILL\tLAST PASSED\tDURATION\tARTIFACT OR ERROR")
		for _, d := range sum.Drills {
			fmt.Fprintf(tw, "%s\t%s\n", d.Target, statusCells(d, sum.CheckedAt))
		}
		tw.Flush()
	}
	if len(sum.Verify) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERIFY OF	SLICES READ	EVERYTHING LAST READ")
		for _, v := range sum.Verify {
			whole := "not yet: a cycle is not complete"
			if v.WholeReadAt != nil {
				whole = when(*v.WholeReadAt, sum.CheckedAt)
			}
			fmt.Fprintf(tw, "%s\t%d of %d\t%s\n", v.Target, v.SlicesRead, v.Cycle, whole)
		}
		tw.Flush()
	}
}

// statusCells are the STATUS to ARTIFACT OR ERROR columns of one entry.
func statusCells(e state.EntryStatus, now time.Time) string {
	o := e.Outcome
	if o == nil {
		return "never ran\t-\t-\t-\t-"
	}
	status := o.Status
	if e.Problem == state.ProblemStale {
		status += " (too old)"
	}
	success := "never"
	if o.LastSuccessAt != nil {
		success = when(*o.LastSuccessAt, now)
	}
	duration := "-"
	if d := time.Duration(o.DurationSeconds * float64(time.Second)); d >= time.Second {
		duration = d.Round(100 * time.Millisecond).String()
	} else if d > 0 {
		duration = d.Round(time.Millisecond).String()
	}
	detail := "-"
	switch {
	case o.Error != nil && !state.Succeeded(o.Status):
		detail = firstLine(*o.Error)
	case o.Artifact != nil:
		detail = *o.Artifact
		if o.Bytes != nil {
			detail += " (" + humanize.Bytes(*o.Bytes) + ")"
		}
	}
	return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", status, when(o.LastRunAt, now), success, duration, detail)
}

// when is a time in UTC with its age: "2026-11-26T02:13:32Z (3h12m ago)".
func when(t, now time.Time) string {
	age := now.Sub(t)
	ago := age.Round(time.Second).String()
	if age >= time.Minute {
		ago = strings.TrimSuffix(age.Round(time.Minute).String(), "0s")
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), ago)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	const max = 120
	if len(line) > max {
		line = line[:max] + "..."
	}
	return line
}
