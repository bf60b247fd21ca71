package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/internal/runlock"
)

// waitFlag is --wait of the commands that take the run lock.
func waitFlag() cli.Flag {
	return &cli.DurationFlag{Name: "wait", Usage: "when another run holds the lock, wait up to `DUR` (e.g. 30m) for it instead of exiting 75 at once"}
}

// lockRun takes the run lock, state_dir/lock, for a command that changes
// or reads repositories and databases (run, drill, prune, verify,
// restore), and returns its release. When another process holds it, the
// command exits 75 at once, naming the holder, or waits up to --wait.
//
// Once the lock is held no other such command of this state_dir is
// running, so anything its temporary names hold was left by one that was
// killed (SIGKILL, OOM, power loss) before it could clean up: the plan's
// Sweep removes it.
func lockRun(c *cli.Context, e *env) (func(), error) {
	dir := e.plan.StateDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	what := strings.Join(append([]string{c.Command.Name}, c.Args().Slice()...), " ")
	wait := c.Duration("wait")
	me := runlock.Me(what)
	me.Plan, me.Targets = lockScope(e, c.Command.Name, c.Args().Slice(), c.StringSlice("target"), c.String("plan"))
	l, err := runlock.Acquire(c.Context, filepath.Join(dir, "lock"), me, wait, func(h runlock.Holder) {
		e.log.Warn("waiting for the run lock", "holder_pid", h.PID, "holder", h.Command, "holder_started", h.StartedAt, "wait", wait)
	})
	var held *runlock.HeldError
	if errors.As(err, &held) {
		msg := held.Error() + "; nothing ran"
		if wait <= 0 {
			msg += " (wait for it with --wait DUR)"
		}
		return nil, &exitError{code: exitLocked, err: errors.New(msg)}
	}
	if err != nil {
		return nil, err
	}
	e.plan.Sweep(c.Context, e.log)
	return func() {
		if err := l.Release(); err != nil {
			e.log.Warn("releasing the run lock", "error", err)
		}
	}, nil
}

// lockScope is what a command holding the lock works on, for `status`:
// the plan named by its words or --plan, and the targets of that plan,
// those named by its words, or those of --target when given. Words that
// name neither (flags, paths) are ignored. A command that works on every
// target when it names none (allTargetsByDefault) and names none works on
// every target of the file. An older version's lock file records only the
// command line; `status` reads it with the same rule.
func lockScope(e *env, command string, words, only []string, planFlag string) (group string, targets []string) {
	seen := map[string]bool{}
	add := func(names ...string) {
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				targets = append(targets, n)
			}
		}
	}
	if planFlag != "" {
		words = append([]string{planFlag}, words...)
	}
	for _, w := range words {
		if g, ok := e.plan.Plans[w]; ok && group == "" {
			group = w
			add(g.Targets...)
		} else if _, ok := e.plan.Targets[w]; ok {
			add(w)
		}
	}
	if group == "" && len(targets) == 0 && allTargetsByDefault[command] {
		// As plan.Pick resolves no names: the file's targets, in order.
		add(e.plan.Order...)
	}
	if len(only) > 0 {
		targets = nil
		for _, n := range only {
			if _, ok := e.plan.Targets[n]; ok {
				targets = append(targets, n)
			}
		}
	}
	return group, targets
}

// allTargetsByDefault are the commands whose [TARGET...] means every
// target of the file when none is named (plan.Pick).
var allTargetsByDefault = map[string]bool{"verify": true, "prune": true, "drill": true, "init": true}
