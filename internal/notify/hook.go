package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// DefaultHookTimeout bounds each hook: a hook that hangs is stopped (its
// whole process group) so the run still ends.
const DefaultHookTimeout = time.Minute

// Outcome is what a hook is told about the run, through its environment.
type Outcome struct {
	Plan     string // the plan group, e.g. weekly
	Command  string // run, verify, verify --full or drill
	Status   string // the run's status in plan's vocabulary (plan.StatusOK ... plan.StatusNotStarted)
	ExitCode int    // the exit code the run ends with
	Report   string // path of the JSON run report; empty when none was written
	Error    string // first line of what went wrong; empty on success
	// FailedTargets are the targets that did not succeed (failed, skipped
	// or interrupted).
	FailedTargets []string
	RunID         string // the healthchecks run id, to match pings and logs
}

// envPrefix starts every variable a hook gets.
const envPrefix = "ALEXANDRIA_BACKUP_"

// Env is the outcome as environment variables. Every variable is always
// set (empty when unknown), so a value inherited from the caller's
// environment can never pass for this run's.
func (o Outcome) Env() []proc.EnvVar {
	v := func(name, value string) proc.EnvVar { return proc.EnvVar{Name: envPrefix + name, Value: value} }
	return []proc.EnvVar{
		v("PLAN", o.Plan),
		v("COMMAND", o.Command),
		v("STATUS", o.Status),
		v("EXIT_CODE", strconv.Itoa(o.ExitCode)),
		v("REPORT", o.Report),
		v("ERROR", oneLine(o.Error, 1000)),
		v("FAILED_TARGETS", strings.Join(o.FailedTargets, ",")),
		v("RUN_ID", o.RunID),
	}
}

// Hooks runs the plan's on_success / on_failure commands.
type Hooks struct {
	// Exec starts the processes: never a shell, each in its own process
	// group stopped as a whole when its time is up. Nil: a real
	// proc.ProcessExecutor.
	Exec proc.Executor
	// Timeout bounds each hook; zero means DefaultHookTimeout.
	Timeout time.Duration
	Log     *slog.Logger
}

// Run runs each command in turn with the outcome in its environment and
// logs what it printed. A failing hook does not stop the next one; the
// failures come back joined.
//
// Only the program's name is logged, never its arguments: hooks are
// commonly curl calls whose URL holds a webhook token.
func (h Hooks) Run(ctx context.Context, event string, cmds [][]string, o Outcome) error {
	exec := h.Exec
	if exec == nil {
		exec = proc.ProcessExecutor{}
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	log := h.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	for _, argv := range cmds {
		if len(argv) == 0 {
			continue
		}
		log.Info("running hook", "event", event, "program", argv[0])
		c := proc.Command{Program: argv[0], Args: argv[1:], Env: o.Env(), StdoutTail: 16 << 10}
		hctx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		res, err := exec.Run(hctx, c)
		timedOut := errors.Is(hctx.Err(), context.DeadlineExceeded)
		cancel()
		attrs := []any{"event", event, "program", argv[0], "duration", time.Since(start).Round(time.Millisecond)}
		if out := proc.LastLines(res.Stdout, 20); out != "" {
			attrs = append(attrs, "stdout", out)
		}
		if timedOut {
			err = fmt.Errorf("%s: timed out after %s; its process group was stopped", argv[0], timeout)
		}
		if err != nil {
			// A ToolError already carries the tail of stderr.
			if _, isTool := errors.AsType[*proc.ToolError](err); !isTool {
				if out := proc.LastLines(res.Stderr, 8); out != "" {
					attrs = append(attrs, "stderr", out)
				}
			}
			log.Error("hook failed", append(attrs, "error", err)...)
			errs = append(errs, fmt.Errorf("%s hook %s: %w", event, argv[0], err))
			continue
		}
		if out := proc.LastLines(res.Stderr, 20); out != "" {
			attrs = append(attrs, "stderr", out)
		}
		log.Info("hook done", attrs...)
	}
	return errors.Join(errs...)
}

// oneLine is the first line of s, at most max bytes.
func oneLine(s string, max int) string {
	s = firstLine(s)
	if len(s) > max {
		s = s[:max]
	}
	return s
}
