package cli

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/audit"
	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/runlock"
	"github.com/alexandria-backup/alexandria-backup/internal/state"
	"github.com/alexandria-backup/alexandria-backup/internal/statuspage"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "each target's last backup, whichever plan ran it; exit 1 if one failed last, 4 with --max-age if one is older or never succeeded",
		Description: "Read from state_dir, without the run lock (a run in progress is shown, from the lock's holder). " +
			"With --from-repositories, from the backups themselves: the newest backup of each target in its repository, " +
			"dump directory or mirror (a mirror's time is the marker its last verified sync left; without one it has none), " +
			"so it answers on a machine with no state_dir, such as a monitoring host; it takes no repository lock.",
		Flags: []cli.Flag{
			planFlag(),
			&cli.StringSliceFlag{Name: "target", Usage: "only target `TARGET` (repeatable)"},
			&cli.BoolFlag{Name: "from-repositories", Usage: "read the newest backup of each target from its repository, dump directory or mirror instead of state_dir"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON (times RFC 3339, durations and ages in seconds)"},
			&cli.StringFlag{Name: "html", Usage: "also write the status and each target's history (size and duration of its last runs, as charts) to `FILE`: one self-contained HTML page"},
			&cli.DurationFlag{Name: "max-age", Usage: "also fail (exit 4) when a target last succeeded longer than `DUR` ago (e.g. 26h), or never did"},
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
	sel := state.Selection{Plan: c.String("plan"), Targets: c.StringSlice("target")}
	if sel.Plan != "" {
		if _, ok := e.plan.Plans[sel.Plan]; !ok {
			return usage("--plan: no plan %q in %s (plans: %s)", sel.Plan, e.plan.Path, strings.Join(slices.Sorted(maps.Keys(e.plan.Plans)), ", "))
		}
	}
	for _, t := range sel.Targets {
		if _, ok := e.plan.Targets[t]; !ok {
			return usage("--target: no target %q in %s (targets: %s)", t, e.plan.Path, strings.Join(e.plan.Order, ", "))
		}
	}
	if c.Bool("from-repositories") {
		if c.String("html") != "" {
			return usage("--html draws the history kept in state_dir: not with --from-repositories")
		}
		return statusFromRepositories(c, e, sel, maxAge)
	}
	s, err := state.Load(e.plan.StateDir)
	if err != nil {
		return err // a damaged state file: exit 1, saying which
	}
	sum := state.Check(s, e.plan, sel, time.Now(), maxAge, runningNow(e))
	if path := c.String("html"); path != "" {
		if err := writeStatusPage(e, sum, path); err != nil {
			return err
		}
	}
	if c.Bool("json") {
		out, _ := json.MarshalIndent(sum, "", "  ")
		fmt.Fprintln(c.App.Writer, string(out))
	} else {
		printStatus(c.App.Writer, sum, e.plan.StateDir)
	}
	return statusExit(sum.Failed, sum.Stale, sum.Problems)
}

// writeStatusPage writes `status --html FILE`: the summary and each
// target's runs from the reports in state_dir (internal/statuspage).
func writeStatusPage(e *env, sum *state.Summary, path string) error {
	page, err := statuspage.New(sum, e.plan.Path, e.plan.StateDir, func(err error) {
		e.log.Warn("status --html: a report left out", "error", err)
	})
	if err == nil {
		page.Audit = auditItems(e)
		err = page.WriteFile(path)
	}
	if err != nil {
		return fmt.Errorf("--html %s: %w", path, err)
	}
	return nil
}

// auditItems are the page's audit section: `audit` with its defaults,
// from the state (the page is the state's view); none when it cannot be
// judged, with a warning.
func auditItems(e *env) []statuspage.AuditItem {
	root := cmp.Or(os.Getenv(hostRootEnv), "/")
	in, err := auditInput(e, root)
	if err != nil {
		e.log.Warn("status --html: the audit section is left out", "error", err)
		return nil
	}
	var items []statuspage.AuditItem
	for _, it := range audit.Run(in).Items {
		items = append(items, statuspage.AuditItem{Title: it.Title, Status: string(it.Status), Evidence: it.Evidence, Fix: it.Fix})
	}
	return items
}

// statusExit is status's exit: 1 when something failed last, 4 when
// something is too old (or, with --max-age, never succeeded).
func statusExit(failed, stale bool, probs []string) error {
	switch {
	case failed:
		return &exitError{code: exitFailed, err: problems(probs)}
	case stale:
		return &exitError{code: exitStale, err: problems(probs)}
	}
	return nil
}

func problems(probs []string) error {
	head := fmt.Sprintf("status: %d problems:", len(probs))
	if len(probs) == 1 {
		head = "status: 1 problem:"
	}
	return errors.New(strings.Join(append([]string{head}, probs...), "\n  "))
}

// runningNow is the command holding the run lock, or nil when none (or
// no state_dir: nothing ever ran here). It asks without blocking a run
// (runlock.Probe). A lock file of an older version records only the
// command line: its plan and targets are read from it.
func runningNow(e *env) *state.Running {
	held, h, err := runlock.Probe(filepath.Join(e.plan.StateDir, "lock"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.log.Warn("cannot tell whether a run is in progress", "error", err)
	}
	if !held {
		return nil
	}
	r := &state.Running{PID: h.PID, Host: h.Host, Command: h.Command, Plan: h.Plan, Targets: h.Targets}
	if r.Plan == "" && len(r.Targets) == 0 {
		words := strings.Fields(h.Command)
		command := ""
		if len(words) > 0 {
			command, words = words[0], words[1:]
		}
		r.Plan, r.Targets = lockScope(e, command, words, nil, "")
	}
	if r.Targets == nil {
		r.Targets = []string{}
	}
	if !h.StartedAt.IsZero() {
		at := h.StartedAt.UTC()
		age := time.Since(at).Round(time.Second).Seconds()
		r.StartedAt, r.AgeSeconds = &at, &age
	}
	return r
}

// printStatus prints one line per target, then the run in progress and
// the problems.
func printStatus(w io.Writer, sum *state.Summary, stateDir string) {
	if sum.NoBackupsYet {
		fmt.Fprintf(w, "no backups yet: nothing has run with this state_dir (%s)\n", stateDir)
	}
	if r := sum.Running; r != nil {
		who := runlock.Holder{PID: r.PID, Host: r.Host, Command: r.Command}
		if r.StartedAt != nil {
			who.StartedAt = *r.StartedAt
		}
		fmt.Fprintf(w, "running now: %s\n", who)
	}
	if sum.NoBackupsYet && len(sum.Targets) > 0 && sum.Running == nil {
		return
	}
	if sum.NoBackupsYet || sum.Running != nil {
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tSTATUS\tLAST SUCCESS\tSIZE\tLAST PLAN\tVERIFIED\tDRILL\tLAST BACKUP OR ERROR")
	for _, t := range sum.Targets {
		status := t.Status
		switch t.Problem {
		case state.ProblemStale:
			status += " (too old)"
		case state.ProblemNever:
			status = "never succeeded"
			if t.LastRunAt == nil {
				status = "never ran"
			}
		}
		if t.Running {
			status += ", running now"
		}
		success := "never"
		if t.LastSuccessAt != nil {
			success = when(*t.LastSuccessAt, sum.CheckedAt)
		}
		size := "-"
		if t.Bytes != nil && *t.Bytes >= 0 {
			size = humanize.Bytes(*t.Bytes)
		}
		detail := "-"
		switch {
		case t.Error != nil && !state.Succeeded(t.Status):
			detail = firstLine(*t.Error)
		case t.Verify != nil && t.Verify.Error != nil:
			detail = firstLine("verify: " + *t.Verify.Error)
		case t.Artifact != nil:
			detail = *t.Artifact
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Target, status, success, size, dash(t.Plan),
			verifyCell(t.Verify, sum.CheckedAt), drillCell(t.Drill, sum.CheckedAt), detail)
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// verifyCell is when a verify last passed and what the verifies have
// read: "3h ago (full)", "3h ago (2 of 7 slices; all read 5d ago)"; a
// verify that failed since leads: "FAILED 1h ago; passed 3w ago (full)".
func verifyCell(v *state.VerifyStatus, now time.Time) string {
	if v == nil {
		return "-"
	}
	cell := "never passed"
	if v.LastVerifiedAt != nil {
		cell = ago(*v.LastVerifiedAt, now)
		if v.LastFailedAt != nil {
			cell = "passed " + cell
		}
	}
	if v.LastFailedAt != nil {
		cell = "FAILED " + ago(*v.LastFailedAt, now) + "; " + cell
	}
	switch {
	case v.Cycle > 1 && v.WholeReadAt != nil:
		cell += fmt.Sprintf(" (%d of %d slices; all read %s)", v.SlicesRead, v.Cycle, ago(*v.WholeReadAt, now))
	case v.Cycle > 1:
		cell += fmt.Sprintf(" (%d of %d slices)", v.SlicesRead, v.Cycle)
	case v.Full:
		cell += " (full)"
	}
	return cell
}

// drillCell is the last drill's outcome and age: "ok 2d ago".
func drillCell(d *state.DrillStatus, now time.Time) string {
	if d == nil {
		return "-"
	}
	return d.Status + " " + ago(d.LastDrillAt, now)
}

// ago is an age in words: "3h12m ago".
func ago(t, now time.Time) string {
	age := now.Sub(t)
	s := age.Round(time.Second).String()
	if age >= time.Minute {
		s = strings.TrimSuffix(age.Round(time.Minute).String(), "0s")
	}
	return s + " ago"
}

// when is a time in UTC with its age: "2026-11-26T02:13:32Z (3h12m ago)".
func when(t, now time.Time) string {
	return fmt.Sprintf("%s (%s)", t.UTC().Format(time.RFC3339), ago(t, now))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	const max = 120
	if len(line) > max {
		line = line[:max] + "..."
	}
	return line
}

// repoSummary is `status --from-repositories`: each target's newest
// backup as its repository, dump directory or mirror lists it.
type repoSummary struct {
	CheckedAt     time.Time    `json:"checked_at"`
	MaxAgeSeconds float64      `json:"max_age_seconds,omitempty"`
	Targets       []repoTarget `json:"targets"`
	Problems      []string     `json:"problems"`
	// Failed: a target's backups could not be listed; Stale: with a max
	// age, a target's newest backup is older, or it has none of known time.
	Failed bool `json:"failed"`
	Stale  bool `json:"stale"`
}

type repoTarget struct {
	Target string `json:"target"`
	Driver string `json:"driver"`
	// Backups is how many the listing holds (a mirror: one).
	Backups int `json:"backups"`
	// Newest is the newest backup of known time; null when none.
	Newest *drivers.Snapshot `json:"newest"`
	// AgeSeconds is how long ago Newest was made; null when none.
	AgeSeconds *float64 `json:"age_seconds"`
	// Note says why there is no newest backup when there are backups (a
	// mirror without the marker of a verified sync).
	Note    string `json:"note,omitempty"`
	Error   string `json:"error,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// statusFromRepositories lists each selected target's backups and judges
// the newest. It touches nothing under state_dir, which may not exist
// here: its temporary files go to a private directory of its own, and it
// takes no run lock. Listings take no repository lock either
// (Target.ListWithoutLocks), so it never delays a backup.
func statusFromRepositories(c *cli.Context, e *env, sel state.Selection, maxAge time.Duration) error {
	done, err := listOnly(e)
	if err != nil {
		return err
	}
	defer done()
	now := time.Now()
	sum := &repoSummary{CheckedAt: now.UTC(), Targets: []repoTarget{}, Problems: []string{}}
	if maxAge > 0 {
		sum.MaxAgeSeconds = maxAge.Seconds()
	}
	for _, name := range sel.Pick(e.plan) {
		t := e.plan.Targets[name]
		rt := repoTarget{Target: name, Driver: t.Driver}
		snaps, err := e.plan.Snapshots(c.Context, t, e.rt)
		what := "target " + name
		switch {
		case err != nil:
			rt.Error, rt.Problem = err.Error(), state.ProblemFailed
			sum.Problems = append(sum.Problems, fmt.Sprintf("%s: cannot list its backups: %s", what, firstLine(err.Error())))
			sum.Failed = true
		default:
			rt.Backups = len(snaps)
			rt.Newest = newestKnown(snaps)
			if rt.Newest == nil && len(snaps) > 0 {
				rt.Note = "no backup of known time: " + snaps[0].Info
			}
			if rt.Newest != nil {
				age := now.Sub(rt.Newest.Time).Round(time.Second).Seconds()
				rt.AgeSeconds = &age
			}
			switch {
			case maxAge > 0 && rt.Newest == nil:
				rt.Problem = state.ProblemNever
				msg := what + ": no backup in " + backupPlace(t)
				if len(snaps) > 0 {
					msg = what + ": no backup of known time (a mirror without the marker of a verified sync)"
				}
				sum.Problems = append(sum.Problems, msg)
				sum.Stale = true
			case maxAge > 0 && now.Sub(rt.Newest.Time) > maxAge:
				rt.Problem = state.ProblemStale
				sum.Problems = append(sum.Problems, fmt.Sprintf("%s: newest backup %s made %s, %s ago (more than --max-age %s)",
					what, rt.Newest.ID, rt.Newest.Time.UTC().Format(time.RFC3339), now.Sub(rt.Newest.Time).Round(time.Second), maxAge))
				sum.Stale = true
			}
		}
		sum.Targets = append(sum.Targets, rt)
	}
	if c.Bool("json") {
		out, _ := json.MarshalIndent(sum, "", "  ")
		fmt.Fprintln(c.App.Writer, string(out))
	} else {
		printRepoStatus(c.App.Writer, sum)
	}
	return statusExit(sum.Failed, sum.Stale, sum.Problems)
}

// backupPlace names where a target's backups are, for a message.
func backupPlace(t *drivers.Target) string {
	if r := t.Repository(); r != "" {
		return r
	}
	return "its repository, dump directory or mirror"
}

// newestKnown is the newest backup whose time is known.
func newestKnown(snaps []drivers.Snapshot) *drivers.Snapshot {
	var n *drivers.Snapshot
	for i, s := range snaps {
		if !s.Time.IsZero() && (n == nil || s.Time.After(n.Time)) {
			n = &snaps[i]
		}
	}
	return n
}

func printRepoStatus(w io.Writer, sum *repoSummary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tNEWEST BACKUP\tMADE\tSIZE\tPOINT\tBACKUPS")
	for _, t := range sum.Targets {
		switch {
		case t.Error != "":
			fmt.Fprintf(tw, "%s\tcannot list: %s\t-\t-\t-\t-\n", t.Target, firstLine(t.Error))
		case t.Newest == nil && t.Backups > 0:
			fmt.Fprintf(tw, "%s\tnone of known time (no marker of a verified sync)\t-\t-\t-\t%d\n", t.Target, t.Backups)
		case t.Newest == nil:
			fmt.Fprintf(tw, "%s\tnone\t-\t-\t-\t0\n", t.Target)
		default:
			n := t.Newest
			status := when(n.Time, sum.CheckedAt)
			if t.Problem == state.ProblemStale {
				status += " (too old)"
			}
			size := "-"
			if n.Bytes >= 0 {
				size = humanize.Bytes(n.Bytes)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", t.Target, n.ID, status, size, dash(n.Point), t.Backups)
		}
	}
	tw.Flush()
}
