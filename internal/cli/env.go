package cli

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/progress"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// env is what every command needs: the plan, a logger and an executor.
type env struct {
	plan    *plan.Plan
	log     *slog.Logger
	rt      plan.Runtime
	display *progress.Display // nil unless progress is shown
	term    *terminalLog      // the log's way to stderr (summary.go)
}

// close ends the progress display, if any; it may be called again.
func (e *env) close() {
	if e.display != nil {
		e.display.Stop()
	}
}

func setup(c *cli.Context) (*env, error) {
	var display *progress.Display
	logTo := c.App.ErrWriter
	if tty, ok := showProgress(c); ok {
		display = progress.New(tty, func() int { return terminalWidth(tty) })
		logTo = display.Writer()
	}
	term := &terminalLog{w: logTo}
	log, err := newLogger(c, term)
	if err != nil {
		return nil, err
	}
	path, err := plan.Find(c.String("config"))
	if err != nil {
		return nil, usage("%v", err)
	}
	p, err := plan.Load(path)
	if err != nil {
		var pe *plan.Error
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, usage("reading plan: %v", err)
	}
	exec := proc.ProcessExecutor{Log: func(cmdline string) { log.Debug("exec", "command", cmdline) }}
	e := &env{plan: p, log: log, rt: plan.Runtime{Exec: exec, Log: log}, term: term}
	if display != nil {
		e.display, e.rt.Progress = display, display
		display.Start()
	}
	return e, nil
}

// showProgress says whether run or drill shows progress, and on which
// terminal: only when a person watches stderr (never under cron, systemd
// or a CronJob), logs are text, neither --quiet nor --no-progress, and
// TERM is not dumb.
func showProgress(c *cli.Context) (*os.File, bool) {
	if name := c.Command.Name; name != "run" && name != "drill" {
		return nil, false
	}
	// TERM=dumb cannot rewrite lines: the log lines alone tell the phases.
	if c.Bool("no-progress") || c.Bool("quiet") || c.Bool("dry-run") || c.String("log-format") != "text" || !progress.StyleFrom(os.Getenv).Cursor {
		return nil, false
	}
	f, ok := c.App.ErrWriter.(*os.File)
	if !ok || !isTerminal(f) {
		return nil, false
	}
	return f, true
}

// newLogger builds the logger for stderr. Without --log-level it fits where
// it runs: on a terminal, info; elsewhere (cron, systemd, a CronJob) only
// warnings and errors, so cron mails nothing on success. Text logs carry a
// timestamp except on a terminal, where the person watching has the time.
func newLogger(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(cmp.Or(c.String("log-level"), "info"))); err != nil {
		return nil, usage("--log-level: %q is not one of debug, info, warn, error", c.String("log-level"))
	}
	tty := false
	if f, ok := c.App.ErrWriter.(*os.File); ok {
		tty = isTerminal(f)
	}
	if !c.IsSet("log-level") && !tty {
		level = slog.LevelWarn
	}
	if c.Bool("quiet") {
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.String("log-format") {
	case "text":
		if tty {
			opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}
		}
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		opts.ReplaceAttr = durationSeconds
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usage("--log-format: %q is not text or json", c.String("log-format"))
}

// args checks the positional arguments count.
func args(c *cli.Context, min, max int) ([]string, error) {
	n := c.NArg()
	if n < min || (max >= 0 && n > max) {
		want := c.Command.ArgsUsage
		if want == "" {
			want = "no arguments"
		}
		if n == 0 && strings.Contains(want, "|") {
			return nil, usage("%s needs one of %s", c.Command.Name, strings.ReplaceAll(want, "|", ", "))
		}
		if n == 0 {
			return nil, usage("%s needs a %s%s", c.Command.Name, strings.ToLower(want), choices(c, want))
		}
		return nil, usage("%s: expected %s, got %s (see %s --help)", c.Command.Name, want, strings.Join(c.Args().Slice(), " "), c.Command.Name)
	}
	return c.Args().Slice(), nil
}

// choices lists, for a missing PLAN or TARGET, the ones the plan file has:
// ": the plans in FILE are daily, weekly". "" when the plan cannot be
// read (that error comes with the command that needs it).
func choices(c *cli.Context, want string) string {
	path, err := plan.Find(c.String("config"))
	if err != nil {
		return ""
	}
	p, err := plan.Load(path)
	if err != nil {
		return ""
	}
	var names []string
	kind := "plans"
	switch want {
	case "PLAN":
		names = slices.Sorted(maps.Keys(p.Plans))
	case "TARGET":
		names, kind = p.Order, "targets"
	default:
		return ""
	}
	return fmt.Sprintf(": the %s in %s are %s", kind, path, strings.Join(names, ", "))
}

// warnInherited names, never shows, the password and repository variables
// of our own environment that the targets' tools do not get: the plan's
// own settings are used instead.
func warnInherited(log *slog.Logger, targets []*drivers.Target) {
	for _, t := range targets {
		if names := drivers.InheritedEnv(t); len(names) > 0 {
			log.Warn("not passing these variables of alexandria-backup's environment on: the plan's own repository and password settings are used",
				"target", t.Name, "variables", strings.Join(names, ","))
		}
	}
}

func planNames(p *plan.Plan) []string {
	var names []string
	for n := range p.Plans {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// outcomes prints one line per target and turns failures into exit 1.
func outcomes(w io.Writer, verb string, list []plan.Outcome) error {
	failed := 0
	for _, o := range list {
		if o.Err != nil {
			failed++
			fmt.Fprintf(w, "%s: FAILED: %v\n", o.Target, o.Err)
			continue
		}
		if c := o.Coverage; c != nil && c.Detail != "" {
			fmt.Fprintf(w, "%s: %s (read %s)\n", o.Target, verb, c.Detail)
			continue
		}
		fmt.Fprintf(w, "%s: %s\n", o.Target, verb)
	}
	if failed > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d targets failed", failed, len(list))}
	}
	return nil
}

func pick(c *cli.Context) (*env, []*drivers.Target, error) {
	names, err := args(c, 0, -1)
	if err != nil {
		return nil, nil, err
	}
	e, err := setup(c)
	if err != nil {
		return nil, nil, err
	}
	targets, err := e.plan.Pick(names, c.String("plan"))
	return e, targets, err
}

// pickLocked is pick for commands that change repositories or databases:
// it also takes the run lock; the caller defers unlock. al, when not nil,
// is the command's alerts (a check's): it learns the plan as soon as it is
// read, so that a check that cannot start still alerts through it.
func pickLocked(c *cli.Context, al *alerts) (*env, []*drivers.Target, func(), error) {
	e, targets, err := pick(c)
	if e != nil && al != nil {
		al.setPlan(e.plan)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	unlock, err := lockRun(c, e)
	if err != nil {
		return nil, nil, nil, err
	}
	if al != nil {
		al.started(e)
	}
	return e, targets, unlock, nil
}

// pickOne resolves the single TARGET argument of snapshots and restore.
func pickOne(c *cli.Context) (*env, *drivers.Target, error) {
	a, err := args(c, 1, 1)
	if err != nil {
		return nil, nil, err
	}
	e, err := setup(c)
	if err != nil {
		return nil, nil, err
	}
	targets, err := e.plan.Pick(a, "")
	if err != nil {
		return nil, nil, err
	}
	return e, targets[0], nil
}

// isTerminal reports whether f is a terminal (not merely a character
// device: /dev/null is one too, and cron gives us that).
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// terminalWidth is the terminal's width in columns, 80 when it won't say.
func terminalWidth(f *os.File) int {
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil || w <= 0 {
		return 80
	}
	return w
}
