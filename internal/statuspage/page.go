// Package statuspage is `status --html FILE`: one self-contained HTML page
// with each target's last outcome, last verify and drill, and its history
// (size and duration over its last runs) drawn as inline SVG bar charts.
//
// The page loads nothing: no external stylesheet, script, font or image,
// and no JavaScript at all, so it opens from a file, a mail attachment or
// a static web server on a host with no network. It is rendered with
// html/template: target names, errors, paths and commands are text from
// the plan, the tools and the disk, and must never become markup.
package statuspage

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/atomicfile"
	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/state"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

//go:embed page.html.tmpl
var pageTemplate string

var tmpl = template.Must(template.New("page").Parse(pageTemplate))

// Bar colours, one per outcome. The Chromium test looks for these exact
// colours in a screenshot, so nothing else on the page uses them.
const (
	ColourOK      = "#2e7d32" // green
	ColourWarning = "#f9a825" // amber
	ColourFailed  = "#c62828" // red: failed or interrupted
	ColourSkipped = "#90a4ae" // blue-grey (no text greys match it): not run, its `after` failed
)

// Chart geometry, in CSS pixels: the SVG is drawn at this size.
const (
	ChartWidth  = 300
	ChartHeight = 60
	maxBarWidth = 24 // a few runs make wide bars, not one wall of colour
	minBar      = 2  // a run of no size (or that made none) still shows its colour
)

// Page is what the page shows.
type Page struct {
	PlanFile string
	StateDir string
	Summary  *state.Summary
	// History is each target's runs, oldest first (ReadHistory).
	History map[string][]Run
	// Skipped names the reports that could not be read.
	Skipped []string

	// Audit is the hook for the checklist of `audit` (internal/audit,
	// built apart, not in this tree yet): when a caller fills it, the
	// page shows each item in an "Audit" section; nil leaves the section
	// out. To wire it, status --html would run the checklist and copy
	// each audit.Item's Title, Status, Evidence and Fix.
	Audit []AuditItem
}

// AuditItem is one line of the backup checklist as the page shows it:
// the shape of audit's items (title, "ok"/"failed"/"n/a", the evidence
// read, the exact fix), so filling Audit is one loop.
type AuditItem struct {
	Title    string
	Status   string
	Evidence []string
	Fix      []string
}

// New gathers a page: the status summary and the history kept in stateDir.
// skip hears of each report that could not be read.
func New(sum *state.Summary, planFile, stateDir string, skip func(error)) (*Page, error) {
	p := &Page{PlanFile: planFile, StateDir: stateDir, Summary: sum}
	hist, err := ReadHistory(stateDir, func(err error) {
		p.Skipped = append(p.Skipped, err.Error())
		skip(err)
	})
	if err != nil {
		return nil, fmt.Errorf("reading the run reports: %w", err)
	}
	p.History = hist
	return p, nil
}

// WriteFile writes the page to path atomically, mode 0644: the page holds
// no secret (errors are masked as in the reports), and a web server or
// another user may serve or read it.
func (p *Page) WriteFile(path string) error {
	var buf bytes.Buffer
	if err := p.Render(&buf); err != nil {
		return err
	}
	return atomicfile.Write(path, buf.Bytes(), 0o644)
}

// Render writes the page's HTML.
func (p *Page) Render(w io.Writer) error {
	return tmpl.Execute(w, p.view())
}

// The view: everything the template prints, already worded, so the
// template is layout only.

type pageView struct {
	Title     string
	PlanFile  string
	StateDir  string
	CheckedAt string
	NoBackups bool
	Running   string
	Problems  []string
	Targets   []targetView
	Skipped   []string
	Audit     []auditView
	MaxRuns   int
}

type targetView struct {
	Name, Driver, Plans, Status, StatusClass string
	LastSuccess, LastRun, Size, Duration     string
	Verify, VerifyClass, Drill, DrillClass   string
	Artifact                                 string
	Error, VerifyError, DrillError           string
	Runs                                     int
	SizeChart, DurationChart                 chart
}

type chart struct {
	Width, Height int
	Bars          []bar
	Max           string // the value of a full-height bar, worded
	Empty         bool
}

type bar struct {
	X, Y, W, H float64
	Fill       string
	Title      string
}

type auditView struct {
	AuditItem
	Class string
}

func (p *Page) view() pageView {
	sum := p.Summary
	now := sum.CheckedAt
	v := pageView{
		Title:     "alexandria-backup status",
		PlanFile:  p.PlanFile,
		StateDir:  p.StateDir,
		CheckedAt: sum.CheckedAt.UTC().Format(time.RFC3339),
		NoBackups: sum.NoBackupsYet,
		Skipped:   p.Skipped,
		MaxRuns:   MaxRuns,
	}
	for _, pr := range sum.Problems {
		v.Problems = append(v.Problems, proc.MaskURLPasswords(pr))
	}
	if r := sum.Running; r != nil {
		v.Running = fmt.Sprintf("pid %d", r.PID)
		if r.Command != "" {
			v.Running += " (" + proc.MaskURLPasswords(r.Command) + ")"
		}
		if r.StartedAt != nil {
			v.Running += ", started " + when(*r.StartedAt, now)
		}
	}
	for _, t := range sum.Targets {
		v.Targets = append(v.Targets, targetOf(t, p.History[t.Target], now))
	}
	for _, a := range p.Audit {
		v.Audit = append(v.Audit, auditView{AuditItem: a, Class: statusClass(a.Status)})
	}
	return v
}

func targetOf(t state.TargetStatus, runs []Run, now time.Time) targetView {
	tv := targetView{Name: t.Target, Driver: t.Driver, Status: t.Status, StatusClass: statusClass(t.Status),
		LastSuccess: "never", LastRun: "never", Size: "-", Duration: "-", Verify: "-", Drill: "-", Runs: len(runs)}
	for i, g := range t.Plans {
		if i > 0 {
			tv.Plans += ", "
		}
		tv.Plans += g
	}
	switch t.Problem {
	case state.ProblemStale:
		tv.Status += " (too old)"
		tv.StatusClass = "failed"
	case state.ProblemNever:
		tv.Status, tv.StatusClass = "never succeeded", "failed"
		if t.LastRunAt == nil {
			tv.Status = "never ran"
		}
	}
	if t.Running {
		tv.Status += ", running now"
	}
	if t.LastSuccessAt != nil {
		tv.LastSuccess = when(*t.LastSuccessAt, now)
	}
	if t.LastRunAt != nil {
		tv.LastRun = when(*t.LastRunAt, now)
		if t.Plan != "" {
			tv.LastRun += " by plan " + t.Plan
		}
		tv.Duration = seconds(t.DurationSeconds)
	}
	if t.Bytes != nil && *t.Bytes >= 0 {
		tv.Size = humanize.Bytes(*t.Bytes)
	}
	if t.Artifact != nil {
		tv.Artifact = proc.MaskURLPasswords(*t.Artifact)
	}
	if t.Error != nil && !state.Succeeded(t.Status) {
		tv.Error = proc.MaskURLPasswords(*t.Error)
	}
	if vs := t.Verify; vs != nil {
		tv.Verify = "never passed"
		if vs.LastVerifiedAt != nil {
			tv.Verify = "passed " + when(*vs.LastVerifiedAt, now)
		}
		switch {
		case vs.Cycle > 1 && vs.WholeReadAt != nil:
			tv.Verify += fmt.Sprintf("; %d of %d slices read, all read %s", vs.SlicesRead, vs.Cycle, ago(*vs.WholeReadAt, now))
		case vs.Cycle > 1:
			tv.Verify += fmt.Sprintf("; %d of %d slices read", vs.SlicesRead, vs.Cycle)
		case vs.Full:
			tv.Verify += "; read in full"
		}
		// A verify that failed since the last pass is a problem like a
		// failed backup: it leads, in the failure's colour.
		if vs.LastFailedAt != nil {
			tv.Verify, tv.VerifyClass = "failed "+when(*vs.LastFailedAt, now)+"; "+tv.Verify, statusClass(plan.StatusFailed)
			if vs.Error != nil {
				tv.VerifyError = proc.MaskURLPasswords(*vs.Error)
			}
		}
	}
	if d := t.Drill; d != nil {
		tv.Drill, tv.DrillClass = d.Status+" "+when(d.LastDrillAt, now), statusClass(d.Status)
		if d.Error != nil && !state.Succeeded(d.Status) {
			tv.DrillError = proc.MaskURLPasswords(*d.Error)
		}
	}
	tv.SizeChart = drawChart(runs, func(r Run) (float64, bool) {
		if r.Bytes == nil || *r.Bytes < 0 {
			return 0, false
		}
		return float64(*r.Bytes), true
	}, func(v float64) string { return humanize.Bytes(int64(v)) })
	tv.DurationChart = drawChart(runs, func(r Run) (float64, bool) { return r.DurationSeconds, true }, seconds)
	return tv
}

// drawChart lays out one bar per run, left to right from the oldest,
// scaled so the largest value fills the height. A run without a value (a
// backup that failed before making one) or of value 0 gets a stub of its
// outcome's colour, so a failure is never invisible.
func drawChart(runs []Run, value func(Run) (float64, bool), word func(float64) string) chart {
	c := chart{Width: ChartWidth, Height: ChartHeight, Empty: len(runs) == 0}
	if c.Empty {
		return c
	}
	max := 0.0
	for _, r := range runs {
		if v, ok := value(r); ok && v > max {
			max = v
		}
	}
	c.Max = word(max)
	slot := min(float64(ChartWidth)/float64(len(runs)), maxBarWidth)
	gap := slot / 5 // a fifth of each slot apart, so neighbours of one colour stay countable
	for i, r := range runs {
		h := float64(minBar)
		v, ok := value(r)
		if ok && max > 0 {
			h = max2(h, v/max*ChartHeight)
		}
		title := fmt.Sprintf("%s, plan %s: %s", r.At.UTC().Format(time.RFC3339), r.Plan, r.Status)
		if ok {
			title += ", " + word(v)
		}
		if r.Error != "" {
			title += ": " + firstLine(proc.MaskURLPasswords(r.Error))
		}
		c.Bars = append(c.Bars, bar{X: float64(i) * slot, Y: ChartHeight - h, W: slot - gap, H: h, Fill: colour(r.Status), Title: title})
	}
	return c
}

func max2(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

// colour is a run's bar colour by its outcome.
func colour(status string) string {
	switch status {
	case plan.StatusOK:
		return ColourOK
	case plan.StatusWarning:
		return ColourWarning
	case plan.StatusSkipped:
		return ColourSkipped
	}
	return ColourFailed
}

// statusClass is the CSS class of an outcome's badge.
func statusClass(status string) string {
	switch status {
	case plan.StatusOK:
		return "ok"
	case plan.StatusWarning:
		return "warning"
	case "n/a", "never ran", plan.StatusSkipped:
		return "none"
	}
	return "failed"
}

// seconds words a duration in seconds: "0.4s" under a minute (a pg_dump
// of a small database takes less than one), "2h5m" above.
func seconds(s float64) string {
	if s < 60 {
		return strconv.FormatFloat(s, 'f', 1, 64) + "s"
	}
	return humanize.Duration(time.Duration(s * float64(time.Second)))
}

// ago is an age in words, in days past two ("3d ago", not "72h0m0s ago"):
// a page is read at a glance.
func ago(t, now time.Time) string {
	age := now.Sub(t).Round(time.Second)
	if age >= 48*time.Hour {
		return strconv.Itoa(int(age/(24*time.Hour))) + "d ago"
	}
	return humanize.Duration(age) + " ago"
}

// when is a time in UTC with its age: "2026-11-26T02:13:32Z (3h12m ago)".
func when(t, now time.Time) string {
	return fmt.Sprintf("%s (%s)", t.UTC().Format(time.RFC3339), ago(t, now))
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
