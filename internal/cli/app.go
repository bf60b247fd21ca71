// Package cli is alexandria-backup's command line: the urfave/cli App and
// its global flags (this file), one file per command, and the one place
// that maps errors to exit codes (exitCode).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/plan"
)

// Version is the program's version; main sets it from its own version,
// which the build sets with -ldflags "-X main.version=...".
var Version = "dev"

// Exit codes, as SPEC.md promises them. exitCode alone turns errors into
// them; a signal adds 128 + its number (130, 143).
const (
	exitOK       = 0
	exitFailed   = 1 // at least one target failed
	exitUsage    = 2 // usage error or invalid plan; nothing ran
	exitWarnings = 3 // finished with warnings only
	// exitStale: `status` found nothing failed, but with --max-age
	// something older, or that never succeeded (a missing backup too, with
	// --from-repositories). Distinct from 1 (something failed last) so a
	// monitor can tell "broken" from "late".
	exitStale = 4
	// exitLocked: another run holds the lock; nothing ran.
	exitLocked = 75
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

// usage is a mistake on the command line: exit 2, nothing ran. It is the
// plan's usage-error type, the one the plan returns for an unknown plan or
// target name, so exitCode knows a usage error by one type.
func usage(format string, args ...any) error {
	return &plan.UsageError{Msg: fmt.Sprintf(format, args...)}
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
	app := &cli.App{
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
		EnableBashCompletion: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "plan file `FILE` (default: $ALEXANDRIA_BACKUP_CONFIG, ./alexandria-backup.toml, /etc/alexandria-backup/alexandria-backup.toml)"},
			&cli.StringFlag{Name: "log-level", Usage: "log `LEVEL`: debug, info, warn or error (default: info on a terminal, warn elsewhere, so cron mails nothing on success)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log `FORMAT`: text or json"},
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
		// In the order --help lists them; each in its own file.
		Commands: []*cli.Command{
			runCommand(),
			validateCommand(),
			verifyCommand(),
			snapshotsCommand(),
			pointsCommand(),
			initCommand(),
			pruneCommand(),
			restoreCommand(),
			recoverCommand(),
			drillCommand(),
			runbookCommand(),
			statusCommand(),
			auditCommand(),
			doctorCommand(),
			scheduleCommand(),
			completionCommand(),
			manCommand(),
			completeCommand(),
		},
	}
	for _, c := range app.Commands {
		c.OnUsageError = app.OnUsageError
	}
	return app
}

// planFlag is --plan of the commands that take the targets of one plan.
func planFlag() cli.Flag {
	return &cli.StringFlag{Name: "plan", Usage: "only the targets of plan `PLAN`"}
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
