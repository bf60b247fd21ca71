package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/points"
)

func pointsCommand() *cli.Command {
	return &cli.Command{
		Name:  "points",
		Usage: "list recovery points: each run and the backups it made together, newest first",
		Description: "Read from the run reports in state_dir; with --from-repositories (or when state_dir holds none, as on a new machine) " +
			"from the backups themselves, each of which carries its run's point: restic and borg targets, dumps with their manifests, " +
			"and mirrors (rsync, rclone) with the marker a verified run leaves at their top. A mirror keeps only its latest state: " +
			"it is in the point of its last verified run, or in none after a run that failed or was not verified.",
		Flags: []cli.Flag{
			planFlag(),
			&cli.BoolFlag{Name: "from-repositories", Usage: "ask every target's repository or dump directory instead of state_dir"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: cmdPoints,
	}
}

func cmdPoints(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	group := c.String("plan")
	if group != "" {
		if _, ok := e.plan.Plans[group]; !ok {
			return usage("--plan: no plan %q in %s", group, e.plan.Path)
		}
	}
	var ps []points.Point
	if !c.Bool("from-repositories") {
		if ps, err = points.ReadState(e.plan.StateDir, group, skipReport(e)); err != nil {
			return err
		}
	}
	var failed error
	if c.Bool("from-repositories") || len(ps) == 0 {
		if !c.Bool("from-repositories") {
			e.log.Info("state_dir records no recovery points: asking the repositories", "state_dir", e.plan.StateDir)
		}
		ps, failed = fromRepositories(c, e, group)
	}
	if c.Bool("json") {
		if ps == nil {
			ps = []points.Point{}
		}
		out, _ := json.MarshalIndent(ps, "", "  ")
		fmt.Fprintln(c.App.Writer, string(out))
	} else {
		printPoints(c, ps)
	}
	if failed != nil {
		return &exitError{code: exitFailed, err: failed}
	}
	return nil
}

// fromRepositories lists the backups of every target of the plan (or of
// the whole file) that can carry a point, and groups them. A target whose
// backups cannot be listed is named in the error; the others are shown.
func fromRepositories(c *cli.Context, e *env, group string) ([]points.Point, error) {
	targets, err := e.plan.Select(group, nil)
	if group == "" {
		targets, err = e.plan.Pick(slices.Sorted(maps.Keys(e.plan.Targets)), "")
	}
	if err != nil {
		return nil, err
	}
	done, err := listOnly(e)
	if err != nil {
		return nil, err
	}
	defer done()
	snaps, driver := map[string][]drivers.Snapshot{}, map[string]string{}
	var errs []error
	for _, t := range targets {
		s, err := e.plan.Snapshots(c.Context, t, e.rt)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Name, err))
			continue
		}
		snaps[t.Name], driver[t.Name] = s, t.Driver
	}
	return points.FromSnapshots(snaps, driver), errors.Join(errs...)
}

func printPoints(c *cli.Context, ps []points.Point) {
	if len(ps) == 0 {
		fmt.Fprintln(c.App.Writer, "no recovery points")
		return
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POINT\tTIME\tPLAN\tSTATUS\tSIZE\tTARGETS")
	for _, p := range ps {
		size := "-"
		if n, known := p.Bytes(); known {
			size = humanize.Bytes(n)
		} else if n > 0 {
			size = "≥ " + humanize.Bytes(n)
		}
		plan := p.Plan
		if plan == "" {
			plan = "-"
		}
		var names []string
		for _, t := range p.Targets {
			n := t.Name
			if t.Status != "ok" && t.Status != points.StatusFound {
				n += " (" + t.Status + ")"
			}
			names = append(names, n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Time.UTC().Format(time.RFC3339), plan, p.Status, size, strings.Join(names, ", "))
	}
	tw.Flush()
}

// skipReport logs a run report in state_dir that could not be read: its
// point is left out, the others are listed.
func skipReport(e *env) func(error) {
	return func(err error) {
		e.log.Warn("a run report in state_dir could not be read: its recovery point is not listed", "error", err)
	}
}
