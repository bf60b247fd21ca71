// Package schedule turns the plans' `schedule` keys into what runs them
// unattended: systemd service and timer units, an /etc/cron.d file, or
// Kubernetes CronJob manifests, as files; install.go writes them on their
// own, puts systemd and cron files in place and enables the timers.
package schedule

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/cronexpr"
	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// Options say how the scheduled command is started.
type Options struct {
	Binary string // absolute path of alexandria-backup
	Config string // absolute path of the plan file
	// Wait is passed to `run --wait` so that plans starting together queue
	// for the run lock instead of failing; 0 leaves it out.
	Wait time.Duration
	// User runs the jobs ("" or "root": root).
	User string
	// Kubernetes only.
	Image    string
	TimeZone string
}

// DefaultTargetTimeout is what a target without a `timeout` counts for
// when the whole run's time limit is worked out.
const DefaultTargetTimeout = 6 * time.Hour

// CheckTargetBudget is each target's share of a scheduled check's time
// limit (verify, verify-full, drill): its `timeout` is its backup's.
const CheckTargetBudget = 24 * time.Hour

// margin is added to the targets' timeouts for everything around them:
// loading the plan, reports, notifications.
const margin = 10 * time.Minute

// Job is one scheduled plan.
type Job struct {
	Plan string
	// Group is the plan's table: its action (a backup, or a check:
	// verify, verify --full, drill) decides the command the job runs.
	Group   *plan.Group
	Expr    *cronexpr.Expr
	Targets []*drivers.Target
	// Budget bounds the whole run: the targets' timeouts one after the
	// other (DefaultTargetTimeout for those without), the lock wait and a
	// margin. It is a backstop for a hang the tool itself cannot stop.
	Budget time.Duration
}

// Set is what a format renders: the plan's scheduled plans and the
// comments for those left out.
type Set struct {
	Plan    *plan.Plan
	Jobs    []Job
	Skipped []string // plans without a schedule
	Opts    Options
}

// Jobs reads the schedules of the plan's plans, or of the one named only.
// Plans without a schedule are listed as skipped, unless only names one:
// then that is an error, as is a plan file with no schedule at all.
func Jobs(p *plan.Plan, only string, o Options) (*Set, error) {
	names := make([]string, 0, len(p.Plans))
	for n := range p.Plans {
		names = append(names, n)
	}
	sort.Strings(names)
	if only != "" {
		if _, ok := p.Plans[only]; !ok {
			return nil, fmt.Errorf("no plan %q in %s (plans: %s)", only, p.Path, strings.Join(names, ", "))
		}
		names = []string{only}
	}
	s := &Set{Plan: p, Opts: o}
	for _, name := range names {
		g := p.Plans[name]
		if g.Schedule == "" {
			if only != "" {
				return nil, fmt.Errorf("plan %q has no schedule: set plans.%s.schedule (hourly, daily, weekly, monthly or a cron expression)", name, name)
			}
			s.Skipped = append(s.Skipped, name)
			continue
		}
		if !nameRE(name) {
			return nil, fmt.Errorf("plans.%s: a scheduled plan's name may only use letters, digits, '.', '_' and '-' (it names units and jobs)", name)
		}
		e, err := cronexpr.Parse(g.Schedule)
		if err != nil {
			return nil, fmt.Errorf("%s: plans.%s.schedule: %v", p.Path, name, err)
		}
		j := Job{Plan: name, Group: g, Expr: e, Budget: o.Wait + margin}
		for _, tn := range g.Targets {
			t := p.Targets[tn]
			j.Targets = append(j.Targets, t)
			switch {
			case g.IsCheck():
				// A target's timeout bounds its backup, which a check
				// does not run: a full read of a large repository takes
				// far longer than an everyday backup. Only a hang is
				// stopped.
				j.Budget += CheckTargetBudget
			case t.Timeout > 0:
				j.Budget += t.Timeout
			default:
				j.Budget += DefaultTargetTimeout
			}
		}
		s.Jobs = append(s.Jobs, j)
	}
	if len(s.Jobs) == 0 {
		return nil, fmt.Errorf("no plan in %s has a schedule: set plans.NAME.schedule (hourly, daily, weekly, monthly or a cron expression)", p.Path)
	}
	return s, nil
}

func nameRE(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return s != "" && s[0] != '-' && s[0] != '.'
}

// args is the command line after the program name.
// Never --quiet: off a terminal the tool prints nothing on success and
// its warnings and errors otherwise, which is what cron mails and the
// journal keeps (a partial backup, exit 3, must not be silent).
// A check plan runs its own command (verify, verify --full, drill) with
// --plan, which takes the same --wait.
func (s *Set) args(j Job) []string {
	var flags []string
	if s.Opts.Wait > 0 {
		flags = []string{"--wait", humanize.Duration(s.Opts.Wait)}
	}
	return append([]string{"--config", s.Opts.Config}, j.Group.Args(flags...)...)
}

// verb says what a job does, for descriptions: "back up", "verify",
// "verify all of", "drill".
func (j Job) verb() string {
	switch j.Group.Action {
	case plan.ActionVerify:
		return "verify"
	case plan.ActionVerifyFull:
		return "verify all of"
	case plan.ActionDrill:
		return "drill"
	}
	return "back up"
}

// describe says when a job runs, for comments.
func (j Job) describe() string {
	if j.Expr.Word != "" {
		return fmt.Sprintf("%s (cron %q)", j.Expr.Word, j.Expr.Source)
	}
	return fmt.Sprintf("cron %q", j.Expr.Source)
}

func (j Job) hasDriver(name string) bool {
	for _, t := range j.Targets {
		if t.Driver == name || (t.Into != nil && t.Into.Driver == name) {
			return true
		}
	}
	return false
}

// File is one file a format gives.
type File struct {
	// Path is where the file goes: an absolute path on the host (systemd,
	// cron), or a file name (Kubernetes manifests, for kubectl apply).
	Path    string
	Content string
}

// Output is what a format gives: its files, and how they are printed as
// one stream.
type Output struct {
	Intro string // comment lines before the files in the stream
	Sep   string // written before each file (after the first, for "---")
	Files []File
}

// WriteTo prints the files as one stream, as `schedule FORMAT` does
// without --output-dir or --install.
func (o *Output) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	b.WriteString(o.Intro)
	for i, f := range o.Files {
		if i > 0 || o.Intro != "" {
			b.WriteString(o.Sep)
		}
		b.WriteString(f.Content)
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// Marker is the second line of every unit and cron file schedule writes:
// what --uninstall recognises as its own, for this plan file only.
func Marker(config string) string {
	return "# Written by alexandria-backup schedule for " + strconv.Quote(config) + "."
}

// Format is one output format.
type Format func(s *Set) (*Output, error)

// Formats are the formats by name, as `schedule FORMAT` takes them.
var Formats = map[string]Format{
	"systemd":    Systemd,
	"cron":       Cron,
	"kubernetes": Kubernetes,
}

// FormatNames lists the formats in the order help shows them.
var FormatNames = []string{"systemd", "cron", "kubernetes"}

func lines(w io.Writer, ls ...string) {
	for _, l := range ls {
		fmt.Fprintln(w, l)
	}
}
