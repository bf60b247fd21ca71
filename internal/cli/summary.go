package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/progress"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// summaryTerminal is the terminal that gets the summary table at the end
// of a run or drill, nil when none: stderr is a terminal a person
// watches, logs are text, neither --quiet nor --dry-run. Under cron,
// systemd or a pipe nothing changes (cron mails only warnings and errors).
func summaryTerminal(c *cli.Context) *os.File {
	if c.Bool("quiet") || c.Bool("dry-run") || c.String("log-format") != "text" {
		return nil
	}
	f, ok := c.App.ErrWriter.(*os.File)
	if !ok || !isTerminal(f) {
		return nil
	}
	return f
}

// terminalLog is the log's way to stderr. While hidden, what is logged
// does not reach it: the summary table says it there, and every other
// handler (the log tail pings and alerts carry) still gets it.
type terminalLog struct {
	w      io.Writer
	hidden atomic.Bool
}

func (t *terminalLog) Write(p []byte) (int, error) {
	if t.hidden.Load() {
		return len(p), nil
	}
	return t.w.Write(p)
}

// besideTable logs, with log, what the summary table on tty will show:
// to every handler but the terminal's (to all of them when tty is nil).
func (e *env) besideTable(tty *os.File, log func()) {
	if tty != nil && e.term != nil {
		e.term.hidden.Store(true)
		defer e.term.hidden.Store(false)
	}
	log()
}

// stdoutIsTerminal: what run and drill print on stdout is shown on a
// terminal too (the table then says it already).
func stdoutIsTerminal(c *cli.Context) bool {
	f, ok := c.App.Writer.(*os.File)
	return ok && isTerminal(f)
}

// showSummary draws the table in the style the environment allows
// (NO_COLOR, TERM=dumb).
func showSummary(tty *os.File, s progress.Summary) {
	s.Render(tty, terminalWidth(tty), progress.StyleFrom(os.Getenv))
}

// runSummary is a run's table: what each target did, and where the
// report is.
func runSummary(rep *plan.Report, reportPath string) progress.Summary {
	s := progress.Summary{Header: []string{"TARGET", "STATUS", "DURATION", "SIZE", "VERIFIED", "PRUNED"}}
	for _, t := range rep.Targets {
		size := "–"
		if t.Bytes != nil {
			size = humanize.Bytes(*t.Bytes)
		}
		s.Rows = append(s.Rows, progress.Row{
			Cells: []string{t.Name, t.Status, duration(t.DurationSeconds), size, yesNo(t.Verified, t.Status), yesNo(t.Pruned, t.Status)},
			Tone:  tone(t.Status),
			Note:  note(t.Error, t.Warnings),
		})
	}
	return withReport(s, "run "+rep.Plan, rep, reportPath)
}

// drillSummary is a drill's table: what was restored and how much of it
// compared equal. group is --plan's value, "" when targets were named.
func drillSummary(rep *plan.Report, group, reportPath string) progress.Summary {
	s := progress.Summary{Header: []string{"TARGET", "STATUS", "DURATION", "RESTORED", "COMPARED"}}
	for _, t := range rep.Targets {
		restored, compared := "–", "–"
		if d := t.Drill; d != nil {
			if d.Artifact != "" {
				// A dump's path is long; its file name tells it apart.
				restored = filepath.Base(d.Artifact)
			}
			compared = fmt.Sprint(d.Checked)
		}
		row := progress.Row{
			Cells: []string{t.Name, t.Status, duration(t.DurationSeconds), restored, compared},
			Tone:  tone(t.Status),
			Note:  note(t.Error, t.Warnings),
		}
		if row.Note == "" && t.Drill != nil {
			row.Note = t.Drill.Detail // what was proven, as the stdout lines say it
		}
		s.Rows = append(s.Rows, row)
	}
	what := "drill"
	if group != "" {
		what += " " + group
	}
	return withReport(s, what, rep, reportPath)
}

// withReport adds the footer: "run daily: failed in 3.4s" (what, the
// command and its plan) and where the report is.
func withReport(s progress.Summary, what string, rep *plan.Report, path string) progress.Summary {
	s.Footer = append(s.Footer, fmt.Sprintf("%s: %s in %s", what, rep.Status, duration(rep.DurationSeconds)))
	if path != "" {
		s.Footer = append(s.Footer, "report: "+path)
	}
	return s
}

func tone(status string) progress.Tone {
	switch status {
	case plan.StatusOK:
		return progress.Good
	case plan.StatusWarning:
		return progress.Warn
	case plan.StatusFailed, plan.StatusSkipped, plan.StatusInterrupted:
		return progress.Bad
	}
	return progress.Neutral
}

// yesNo: "–" when the target did not get that far.
func yesNo(done bool, status string) string {
	switch {
	case done:
		return "yes"
	case status == plan.StatusOK || status == plan.StatusWarning:
		return "no"
	}
	return "–"
}

// note is the one thing to say under the table: the error, else the
// first warning and how many more the report holds.
func note(err *string, warnings []string) string {
	switch {
	case err != nil:
		return *err
	case len(warnings) == 1:
		return warnings[0]
	case len(warnings) > 1:
		return fmt.Sprintf("%s (and %d more warnings in the report)", strings.TrimSpace(warnings[0]), len(warnings)-1)
	}
	return ""
}

// duration reads as a person would say it: tenths under ten seconds
// (most targets of a small plan take a few), else humanize.Duration.
func duration(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	if d < 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return humanize.Duration(d)
}
