// Package cli is alexandria-backup's command line: the urfave/cli App, one
// file per command, and the one place that maps errors to exit codes.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/progress"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// Version is the program's version; main sets it from its own version,
// which the build sets with -ldflags "-X main.version=...".
var Version = "dev"

// Exit codes, as SPEC.md promises them.
const (
	exitOK       = 0
	exitFailed   = 1 // at least one target failed
	exitUsage    = 2 // usage error or invalid plan; nothing ran
	exitWarnings = 3 // finished with warnings only
)

// exitError carries an exit code up to Main, the one place that maps
// outcomes to exit codes.
type exitError struct {
	code int
	err  error // printed to stderr; nil when everything was already said
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func usage(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// Main executes the command line and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signalContext()
	defer stop()
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, normalizeArgs(app, args))
	if sig := caughtSignal(ctx); sig != 0 {
		// SIGINT and SIGTERM: 130 and 143, as a shell would report.
		if err != nil {
			fmt.Fprintln(stderr, "alexandria-backup:", err)
		}
		return 128 + int(sig)
	}
	return exitCode(err, stderr)
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	var pe *plan.Error
	var ue *plan.UsageError
	code := exitFailed
	switch {
	case errors.As(err, &ee):
		code = ee.code
		if ee.err == nil {
			return code
		}
	case errors.As(err, &pe), errors.As(err, &ue):
		code = exitUsage
	}
	fmt.Fprintln(stderr, "alexandria-backup:", err)
	return code
}

type sigKey struct{}

// signalContext is cancelled by SIGINT or SIGTERM; caughtSignal tells which.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	got := new(syscall.Signal)
	ctx = context.WithValue(ctx, sigKey{}, got)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		if s, ok := <-ch; ok {
			*got = s.(syscall.Signal)
			cancel()
		}
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

func caughtSignal(ctx context.Context) syscall.Signal {
	if ctx.Err() == nil {
		return 0
	}
	if p, ok := ctx.Value(sigKey{}).(*syscall.Signal); ok {
		return *p
	}
	return 0
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := appDefinition(stdout, stderr)
	app.Commands = append(app.Commands, restoreCommands()...)
	app.Commands = append(app.Commands, statusCommands()...)
	app.Commands = append(app.Commands, opsCommands()...)
	for _, c := range app.Commands {
		c.OnUsageError = app.OnUsageError
	}
	return app
}

func appDefinition(stdout, stderr io.Writer) *cli.App {
	planFlag := &cli.StringFlag{Name: "plan", Usage: "the targets of this plan"}
	return &cli.App{
		Name:      "alexandria-backup",
		Usage:     "back up an Alexandria library with pg_dump, restic and friends, from one plan",
		Version:   Version,
		Writer:    stdout,
		ErrWriter: stderr,
		// Errors come back to Main, which alone decides the exit code, so
		// deferred cleanup always runs.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return usage("%v (see --help)", err)
		},
		Suggest:              true,
		HideHelpCommand:      true,
		EnableBashCompletion: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "plan file `FILE` (default: $ALEXANDRIA_BACKUP_CONFIG, ./alexandria-backup.toml, /etc/alexandria-backup/alexandria-backup.toml)"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error (default: info on a terminal, warn elsewhere, so cron mails nothing on success)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only errors"},
			&cli.BoolFlag{Name: "no-progress", Usage: "no progress lines for run and drill (they are shown only on a terminal anyway)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usage("unknown command %q (commands: %s)", c.Args().First(), strings.Join(commandNames(c.App), ", "))
			}
			cli.ShowAppHelp(c)
			return &exitError{code: exitUsage}
		},
		Commands: []*cli.Command{
			{
				Name:      "run",
				Usage:     "back up, verify and prune every target of PLAN",
				ArgsUsage: "PLAN",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "target", Usage: "run only this target of the plan (repeatable)"},
					&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "print the exact commands and run nothing"},
					&cli.BoolFlag{Name: "json", Usage: "print the run report as JSON on stdout"},
					&cli.BoolFlag{Name: "no-verify", Usage: "skip verification (retention is then skipped too)"},
					&cli.BoolFlag{Name: "no-prune", Usage: "skip retention"},
					waitFlag,
				},
				Action: cmdRun,
			},
			{
				Name:   "validate",
				Usage:  "check the plan file",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "tools", Usage: "also check that each driver's programs are installed at a supported version"}},
				Action: cmdValidate,
			},
			{
				Name:      "verify",
				Usage:     "verify the latest backup of each target",
				ArgsUsage: "[TARGET...]",
				Flags:     []cli.Flag{planFlag, waitFlag},
				Action:    cmdVerify,
			},
			{
				Name:      "snapshots",
				Usage:     "list a target's backups",
				ArgsUsage: "TARGET",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
				Action:    cmdSnapshots,
			},
			{
				Name:      "init",
				Usage:     "create repositories and dump directories (idempotent)",
				ArgsUsage: "[TARGET...]",
				Flags:     []cli.Flag{planFlag},
				Action:    cmdInit,
			},
			{
				Name:      "prune",
				Usage:     "apply retention only",
				ArgsUsage: "[TARGET...]",
				Flags: []cli.Flag{planFlag,
					&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "only say what would be removed"}, waitFlag},
				Action: cmdPrune,
			},
		},
	}
}

func commandNames(app *cli.App) []string {
	var names []string
	for _, c := range app.Commands {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	return names
}

// env is what every command needs: the plan, a logger and an executor.
type env struct {
	plan    *plan.Plan
	log     *slog.Logger
	rt      plan.Runtime
	display *progress.Display // nil unless progress is shown
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
	log, err := newLogger(c, logTo)
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
	e := &env{plan: p, log: log, rt: plan.Runtime{Exec: exec, Log: log}}
	if display != nil {
		e.display, e.rt.Progress = display, display
		display.Start()
	}
	return e, nil
}

// showProgress says whether run or drill shows progress, and on which
// terminal: only when a person watches stderr (never under cron, systemd
// or a CronJob), logs are text, and neither --quiet nor --no-progress.
func showProgress(c *cli.Context) (*os.File, bool) {
	if name := c.Command.Name; name != "run" && name != "drill" {
		return nil, false
	}
	if c.Bool("no-progress") || c.Bool("quiet") || c.Bool("dry-run") || c.String("log-format") != "text" {
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
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
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
		return nil, usage("%s: expected %s, got %q", c.Command.Name, want, c.Args().Slice())
	}
	return c.Args().Slice(), nil
}

func cmdRun(c *cli.Context) (err error) {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	group := a[0]
	dryRun := c.Bool("dry-run")
	// Alerts start before the plan is read: a run that cannot start (an
	// invalid plan, the lock held) must still reach monitoring.
	var rep *plan.Report
	al := startAlerts(c, "run", group, dryRun)
	defer func() { al.finish(rep, err) }()

	e, err := setup(c)
	if err != nil {
		return err
	}
	defer e.close()
	al.setPlan(e.plan)
	// Like a plan that does not load: refused before the lock is taken.
	if err := e.plan.CheckPrivate(); err != nil {
		return err
	}
	if !dryRun {
		unlock, err := lockRun(c, e)
		if err != nil {
			return err
		}
		defer unlock()
		al.started(e)
	}
	targets, err := e.plan.Select(group, c.StringSlice("target"))
	if err != nil {
		return err
	}
	if !dryRun {
		// After /start, as an unknown plan name is. A dry run reads no
		// secret, so it does not check secret files.
		if err := e.plan.CheckSecretFiles(targets); err != nil {
			return err
		}
	}
	warnInherited(e.log, targets)
	opts := plan.RunOptions{
		Only:     c.StringSlice("target"),
		DryRun:   dryRun,
		NoVerify: c.Bool("no-verify"),
		NoPrune:  c.Bool("no-prune"),
		Out:      c.App.Writer,
	}
	rep, err = e.plan.Run(c.Context, group, opts, e.rt)
	e.close() // what follows goes to stdout, which shares the terminal
	if err != nil || rep == nil {
		return err
	}
	path, werr := rep.Write(e.plan.StateDir)
	if werr != nil {
		e.log.Error("could not write the run report", "error", werr)
	} else {
		e.log.Info("report written", "path", path)
		al.reportWritten(path)
	}
	if rerr := recordRun(e, rep); rerr != nil {
		e.log.Error("could not record the run's state or metrics", "error", rerr)
		werr = errors.Join(werr, rerr)
	}
	if c.Bool("json") {
		out, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(c.App.Writer, string(out))
	}
	for _, t := range rep.Targets {
		e.log.Info("target finished", "target", t.Name, "status", t.Status, "duration", time.Duration(t.DurationSeconds*float64(time.Second)).Round(time.Millisecond))
	}
	switch {
	case rep.Status == plan.StatusInterrupted:
		return errors.New("run interrupted")
	case rep.Status == plan.StatusFailed:
		return &exitError{code: exitFailed, err: rep.Err()}
	case werr != nil:
		return &exitError{code: exitFailed, err: fmt.Errorf("writing the run report: %w", werr)}
	case rep.Status == plan.StatusWarning:
		return &exitError{code: exitWarnings}
	}
	return nil
}

func cmdValidate(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	if err := errors.Join(e.plan.CheckPrivate(), e.plan.CheckSecretFiles(e.plan.AllTargets())); err != nil {
		return err
	}
	warnInherited(e.log, e.plan.AllTargets())
	w := c.App.Writer
	fmt.Fprintf(w, "%s: ok: %d targets (%s), plans: %s\n", e.plan.Path, len(e.plan.Order),
		strings.Join(e.plan.Order, ", "), strings.Join(planNames(e.plan), ", "))
	if !c.Bool("tools") {
		return nil
	}
	failed := 0
	for _, o := range e.plan.CheckTools(c.Context, e.rt) {
		if o.Err != nil {
			failed++
			fmt.Fprintf(w, "driver %s: %v\n", o.Target, o.Err)
		} else {
			fmt.Fprintf(w, "driver %s: tools ok\n", o.Target)
		}
	}
	if failed > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d driver(s) lack a usable tool", failed)}
	}
	return nil
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
		fmt.Fprintf(w, "%s: %s\n", o.Target, verb)
	}
	if failed > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d targets failed", failed, len(list))}
	}
	return nil
}

func cmdVerify(c *cli.Context) error {
	// restic check takes an exclusive repository lock: unguarded, a manual
	// verify would make a scheduled run's backup fail.
	e, targets, unlock, err := pickLocked(c)
	if err != nil {
		return err
	}
	defer unlock()
	return outcomes(c.App.Writer, "verified", e.plan.Verify(c.Context, targets, e.rt))
}

func cmdInit(c *cli.Context) error {
	e, targets, err := pick(c)
	if err != nil {
		return err
	}
	return outcomes(c.App.Writer, "ready", e.plan.Init(c.Context, targets, e.rt))
}

func cmdPrune(c *cli.Context) error {
	// Also with --dry-run: restic forget and borg prune lock the
	// repository, which would make a running backup fail.
	e, targets, unlock, err := pickLocked(c)
	if err != nil {
		return err
	}
	defer unlock()
	dry := c.Bool("dry-run")
	list := e.plan.Prune(c.Context, targets, dry, e.rt)
	w := c.App.Writer
	for _, o := range list {
		if o.Err != nil {
			continue
		}
		switch {
		case !o.Prune.Policy:
			fmt.Fprintf(w, "%s: no retention keys set; nothing removed\n", o.Target)
		case dry:
			fmt.Fprintf(w, "%s: would remove %d, keep %d\n", o.Target, len(o.Prune.Removed), o.Prune.Kept)
		default:
			fmt.Fprintf(w, "%s: removed %d, kept %d\n", o.Target, len(o.Prune.Removed), o.Prune.Kept)
		}
		for _, r := range o.Prune.Removed {
			fmt.Fprintf(w, "  - %s\n", r)
		}
	}
	var failed []plan.Outcome
	for _, o := range list {
		if o.Err != nil {
			failed = append(failed, o)
		}
	}
	return outcomes(c.App.ErrWriter, "", failed)
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
// it also takes the run lock; the caller defers unlock.
func pickLocked(c *cli.Context) (*env, []*drivers.Target, func(), error) {
	e, targets, err := pick(c)
	if err != nil {
		return nil, nil, nil, err
	}
	unlock, err := lockRun(c, e)
	if err != nil {
		return nil, nil, nil, err
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

func cmdSnapshots(c *cli.Context) error {
	e, t, err := pickOne(c)
	if err != nil {
		return err
	}
	snaps, err := e.plan.Snapshots(c.Context, t, e.rt)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if snaps == nil {
			snaps = []drivers.Snapshot{}
		}
		out, _ := json.MarshalIndent(snaps, "", "  ")
		fmt.Fprintln(c.App.Writer, string(out))
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tSIZE")
	for _, s := range snaps {
		size := "-"
		if s.Bytes >= 0 {
			size = humanize.Bytes(s.Bytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.ID, s.Time.UTC().Format(time.RFC3339), size)
	}
	return tw.Flush()
}
