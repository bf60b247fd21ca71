package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/metrics"
	"github.com/alexandria-backup/alexandria-backup/internal/runlock"
	"github.com/alexandria-backup/alexandria-backup/internal/state"
	"github.com/alexandria-backup/alexandria-backup/plan"
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
// killed (SIGKILL, OOM, power loss) before it could clean up: sweep removes
// it.
func lockRun(c *cli.Context, e *env) (func(), error) {
	dir := e.plan.StateDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	what := strings.Join(append([]string{c.Command.Name}, c.Args().Slice()...), " ")
	wait := c.Duration("wait")
	l, err := runlock.Acquire(c.Context, filepath.Join(dir, "lock"), runlock.Me(what), wait, func(h runlock.Holder) {
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
	sweep(c.Context, e)
	return func() {
		if err := l.Release(); err != nil {
			e.log.Warn("releasing the run lock", "error", err)
		}
	}, nil
}

// partialDump matches the temporary names the pg_dump driver writes a dump
// under (".<target>-<stamp>[-N].<ext>.partial", see drivers/pgdump.go), for
// one target. The stamp after the name keeps "db" from matching the
// partial dumps of a target "db-old".
func partialDump(target string) *regexp.Regexp {
	return regexp.MustCompile(`^\.` + regexp.QuoteMeta(target) + `-\d{8}T\d{6}Z(-\d+)?\.(dump|sql|sql\.gz|tar|dir)\.partial$`)
}

// sweep removes what a killed command left behind; call it only under the
// run lock. It removes:
//   - partial dumps of the plan's pg_dump targets in their dump dirs (a dump
//     is promoted by rename only once complete and verified: a .partial
//     is never anyone's backup);
//   - scratch databases of drills, each named by a marker the drill wrote
//     in the temporary directory before creating it (see sweepScratch);
//   - everything else in the targets' temporary directory (state_dir/tmp):
//     private pgpass files holding a password, drill scratch directories,
//     streamed-dump manifests and restore staging. Only run, drill and
//     restore create files there, and they hold the lock while they do.
//
// Scratch databases are never found by their alexandria_drill_ prefix: the
// database server is shared with other configurations and other hosts,
// whose drills this lock does not exclude. Only the markers in this
// state_dir say which are this configuration's, hence dead.
//
// Failures are logged, not fatal: a leftover must not stop the backup.
func sweep(ctx context.Context, e *env) {
	removed := func(path, what string, err error) {
		if err != nil {
			e.log.Warn("could not remove a leftover of an interrupted run", "path", path, "error", err)
			return
		}
		e.log.Warn("removed a leftover of an interrupted run", "what", what, "path", path)
	}
	tmpDirs := map[string]bool{}
	for _, name := range e.plan.Order {
		t := e.plan.Targets[name]
		if t == nil {
			continue
		}
		if t.TempDir != "" {
			tmpDirs[t.TempDir] = true
		}
		for _, l := range t.Resources().Paths {
			if !l.Dumps {
				continue
			}
			entries, err := os.ReadDir(l.Path)
			if err != nil {
				continue // no dumps yet
			}
			re := partialDump(t.Name)
			for _, de := range entries {
				if re.MatchString(de.Name()) {
					p := filepath.Join(l.Path, de.Name())
					removed(p, "partial dump", removeAll(p))
				}
			}
		}
	}
	dirs := make([]string, 0, len(tmpDirs))
	for d := range tmpDirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, de := range entries {
			p := filepath.Join(dir, de.Name())
			if drivers.IsScratchMarker(de.Name()) {
				sweepScratch(ctx, e, p)
				continue
			}
			removed(p, "temporary file", removeAll(p))
		}
	}
}

// scratchDropTimeout bounds the drop of one leftover scratch database: an
// unreachable server must not hold up the backup for long.
const scratchDropTimeout = 30 * time.Second

// sweepScratch drops the scratch database a killed drill recorded in the
// marker at path, then removes the marker. When it cannot (the target is
// gone from the plan or now points to another server, the server does not
// answer) it says so and keeps the marker: the next run tries again. A
// marker naming a database no drill would create is refused, and kept.
func sweepScratch(ctx context.Context, e *env, path string) {
	m, err := drivers.ReadScratchMarker(path)
	if err != nil {
		e.log.Warn("could not read the record of a drill's scratch database", "path", path, "error", err)
		return
	}
	keep := func(msg string, args ...any) {
		e.log.Warn(msg, append([]any{"database", m.Database, "server", m.Server, "target", m.Target, "marker", path}, args...)...)
	}
	if !drivers.IsScratchName(m.Database) {
		keep("refusing to drop a database that is not a drill's scratch database; remove the marker")
		return
	}
	byHand := "DROP DATABASE IF EXISTS " + m.Database + " WITH (FORCE)" // safe: 16 hex digits
	t := e.plan.Targets[m.Target]
	switch {
	case t == nil || t.Facts().Role != drivers.RoleDatabase:
		keep("an interrupted drill left a scratch database, and its target is no longer a pg_dump target of the plan: drop the database by hand, then remove the marker", "fix", byHand)
		return
	case drivers.PgServer(t) != m.Server:
		keep("an interrupted drill left a scratch database on a server its target no longer uses: drop the database there by hand, then remove the marker",
			"fix", byHand, "target_server", drivers.PgServer(t))
		return
	}
	dctx, cancel := context.WithTimeout(ctx, scratchDropTimeout)
	err = drivers.DropScratchDatabase(dctx, t, m.Database)
	cancel()
	if err != nil {
		keep("could not drop the scratch database of an interrupted drill; the next run tries again", "error", err)
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		keep("dropped the scratch database of an interrupted drill, but could not remove its marker", "error", err)
		return
	}
	e.log.Warn("removed a leftover of an interrupted run", "what", "scratch database of a drill", "database", m.Database, "server", m.Server, "target", m.Target, "path", path)
}

// removeAll is os.RemoveAll that first makes directories writable: a
// drill's restore reproduces modes, and a 0500 directory would otherwise
// keep its files when not running as root.
func removeAll(path string) error {
	if err := os.RemoveAll(path); err == nil {
		return nil
	}
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(path)
}

// recordRun keeps the outcome of a run or a drill for `status` (state_dir/
// state.json), keeps the last state.KeepReports reports of its plan, and
// after a run rewrites the metrics file. It runs under the run lock, so
// the state file's read-modify-write never interleaves with another's.
func recordRun(e *env, rep *plan.Report) error {
	dir := e.plan.StateDir
	var errs []error
	s, err := state.Update(dir, rep)
	if err != nil {
		errs = append(errs, fmt.Errorf("state: %w", err))
	}
	if gone, err := state.PruneReports(dir, rep, state.KeepReports); err != nil {
		errs = append(errs, fmt.Errorf("removing old reports: %w", err))
	} else if len(gone) > 0 {
		e.log.Debug("removed old reports", "count", len(gone))
	}
	if path := e.plan.Notify.MetricsFile; path != "" && rep.Command != "drill" && s != nil {
		if err := metrics.Write(path, metricsOf(e.plan, s)); err != nil {
			errs = append(errs, fmt.Errorf("metrics_file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// metricsOf is one metrics sample set per target of each plan of the plan
// file that has run: plans and targets removed from the file drop out of
// the metrics instead of alerting forever.
func metricsOf(p *plan.Plan, s *state.State) []metrics.Target {
	var out []metrics.Target
	for name, g := range p.Plans {
		ps := s.Plans[name]
		if ps == nil {
			continue
		}
		for _, target := range g.Targets {
			o := ps.Targets[target]
			if o == nil {
				continue
			}
			m := metrics.Target{Plan: name, Target: target, Driver: o.Driver, LastRun: o.LastRunAt,
				DurationSeconds: o.DurationSeconds, Status: metrics.StatusFailed, Bytes: o.Bytes}
			if m.Driver == "" && p.Targets[target] != nil {
				m.Driver = p.Targets[target].Driver
			}
			if o.LastSuccessAt != nil {
				m.LastSuccess = *o.LastSuccessAt
			}
			switch o.Status {
			case plan.StatusOK:
				m.Status = metrics.StatusOK
			case plan.StatusWarning:
				m.Status = metrics.StatusWarning
			}
			out = append(out, m)
		}
	}
	return out
}
