package plan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/all"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// UsageError is a mistake on the command line (an unknown plan or target):
// nothing ran.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usageErr(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// Runtime is what running targets needs from outside the plan.
type Runtime struct {
	Exec proc.Executor
	Log  *slog.Logger
	// Driver finds a target's driver; nil means drivers.Lookup. Tests
	// swap in fakes.
	Driver func(name string) (drivers.Driver, bool)
	// Progress, when set, is shown what each running target is doing, and
	// the tools are asked for their progress: main sets it when a person
	// watches a terminal.
	Progress ProgressView
}

// ProgressView is shown what running targets are doing.
type ProgressView interface {
	// Phase says a target entered a phase (backup, verify, ...).
	Phase(target string, phase drivers.Phase)
	// Update is a progress report of the tool working for the target.
	Update(target string, p proc.Progress)
	// Done says the target has finished.
	Done(target string)
}

type noView struct{}

func (noView) Phase(string, drivers.Phase)  {}
func (noView) Update(string, proc.Progress) {}
func (noView) Done(string)                  {}

func (rt Runtime) view() ProgressView {
	if rt.Progress == nil {
		return noView{}
	}
	return rt.Progress
}

func (rt Runtime) driver(name string) drivers.Driver {
	lookup := rt.Driver
	if lookup == nil {
		lookup = all.Lookup
	}
	d, ok := lookup(name)
	if !ok {
		panic("plan: no driver " + name + " (validation should have refused it)")
	}
	return d
}

func (rt Runtime) log() *slog.Logger {
	if rt.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return rt.Log
}

// RunOptions are `run`'s flags.
type RunOptions struct {
	Only     []string // --target: run only these targets of the plan
	DryRun   bool
	NoVerify bool
	NoPrune  bool
	Out      io.Writer // where --dry-run prints
	// Rotation picks what each verify reads besides the new backup; nil
	// reads everything.
	Rotation Rotation
	// Reclaims says when each repository's space was last reclaimed, for
	// prune_every; nil: whenever the tool's own rule says.
	Reclaims drivers.ReclaimLog
	// KeepPoints are the recovery points retention keeps whole
	// (drivers.Target.KeepPoints).
	KeepPoints []string
}

// Select returns the targets `run group` covers, in the plan's order,
// limited to only when given.
func (p *Plan) Select(group string, only []string) ([]*drivers.Target, error) {
	g, ok := p.Plans[group]
	if !ok {
		return nil, usageErr("no plan %q in %s (plans: %s)%s", group, p.Path, strings.Join(sortedKeys(toAny(p.Plans)), ", "), suggest(group, sortedKeys(toAny(p.Plans))))
	}
	for _, name := range only {
		if !contains(g.Targets, name) {
			return nil, usageErr("target %q is not in plan %q (its targets: %s)", name, group, strings.Join(g.Targets, ", "))
		}
	}
	var out []*drivers.Target
	for _, name := range g.Targets {
		if len(only) == 0 || contains(only, name) {
			out = append(out, p.Targets[name])
		}
	}
	return out, nil
}

// Pick resolves the TARGET... arguments and --plan of verify, prune, init
// and snapshots: named targets, a plan's targets, or every target.
func (p *Plan) Pick(names []string, group string) ([]*drivers.Target, error) {
	if len(names) > 0 && group != "" {
		return nil, usageErr("name targets or --plan, not both")
	}
	if group != "" {
		return p.Select(group, nil)
	}
	if len(names) == 0 {
		names = p.Order
	}
	var out []*drivers.Target
	for _, n := range names {
		t, ok := p.Targets[n]
		if !ok {
			return nil, usageErr("no target %q in %s%s", n, p.Path, suggest(n, p.Order))
		}
		out = append(out, t)
	}
	return out, nil
}

func toAny[V any](m map[string]V) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Run backs up every selected target of the plan group: targets wait for
// the ones they run `after`, at most Parallel run at once, and each goes
// backup → verify → prune. A failed target's dependents are skipped;
// independent targets go on. With DryRun it prints what would run and
// returns a nil report.
func (p *Plan) Run(ctx context.Context, group string, o RunOptions, rt Runtime) (*Report, error) {
	targets, err := p.Select(group, o.Only)
	if err != nil {
		return nil, err
	}
	if g := p.Plans[group]; g.IsCheck() {
		// Refused rather than done: verify and drill keep their own
		// records and reports, and a second way into them would have to
		// be kept in step with the first.
		return nil, usageErr("plan %q checks backups (action = %q), it does not make them: run `alexandria-backup %s`", group, g.Action, strings.Join(g.Args(), " "))
	}
	for _, t := range targets {
		t.KeepPoints = o.KeepPoints // also in a dry run: it prints the forget the run would run
	}
	if o.DryRun {
		return nil, p.dryRun(group, targets, o, rt)
	}
	ctx = proc.WithMemo(ctx) // each tool's version is asked once per run
	rep := &Report{Command: "run", Plan: group, StartedAt: time.Now().UTC()}
	rep.Point = drivers.NewPoint(rep.StartedAt)
	stored, err := p.StoredPlan(rep.Point)
	if err != nil {
		rt.log().Warn("the plan will not be stored in the repositories", "error", err)
	}
	for _, t := range targets {
		t.Reclaims = o.Reclaims
		t.Point = rep.Point
		t.Plan = stored
		if t.Into != nil {
			t.Into.Reclaims = o.Reclaims
		}
	}
	logName := LogName(rep.Command, rep.Plan, rep.StartedAt)
	rep.Targets = p.schedule(ctx, targets, func(t *drivers.Target) TargetReport {
		return p.runTarget(ctx, t, o, rt, logName)
	})
	rep.finish(ctx.Err() != nil)
	return rep, nil
}

// schedule runs targets as their `after` dependencies allow, at most
// Parallel at once, starting ready targets in plan order (so parallel = 1
// runs the plan exactly in its order), and never two that share a
// repository at once. A target whose dependency did not
// succeed is skipped; once ctx ends, nothing new starts. Results come back
// in plan order.
func (p *Plan) schedule(ctx context.Context, targets []*drivers.Target, run func(*drivers.Target) TargetReport) []TargetReport {
	results := make([]TargetReport, len(targets))
	index := map[string]int{}
	for i, t := range targets {
		index[t.Name] = i
	}
	const (
		pending = iota
		running
		finished
	)
	state := make([]int, len(targets))
	type done struct {
		i int
		r TargetReport
	}
	completed := make(chan done)
	active, left := 0, len(targets)
	busy := map[string]bool{} // repositories a running target holds
	for left > 0 {
		before := left
		for i, t := range targets {
			if state[i] != pending {
				continue
			}
			if ctx.Err() != nil {
				results[i], state[i] = interrupted(t, "the run was interrupted before it started"), finished
				left--
				continue
			}
			ready, blocked := true, ""
			for _, dep := range waitsFor(t) {
				j, inRun := index[dep]
				if !inRun {
					// Outside this run (other plan, or left out by --target).
					continue
				}
				switch {
				case state[j] != finished:
					ready = false
				case results[j].Status != StatusOK && results[j].Status != StatusWarning && contains(t.After, dep):
					blocked = fmt.Sprintf("not run: it runs after %q, which %s", dep, pastTense(results[j].Status))
				}
				// A copy waits for its source (copy_from) so that it takes
				// the source's new snapshot along, but runs even when the
				// source failed: the snapshots the source made before are
				// still worth having offsite, and copying them is what a
				// copy is for. Only `after` makes a failure skip it.
			}
			if blocked != "" {
				results[i], state[i] = skipped(t, blocked), finished
				left--
				continue
			}
			repos := repositories(t)
			if !ready || active >= p.Parallel || anyBusy(busy, repos) {
				continue
			}
			state[i] = running
			active++
			for _, repo := range repos {
				busy[repo] = true
			}
			go func() { completed <- done{i, run(t)} }()
		}
		if active == 0 {
			if left == before {
				// Validation refuses cycles; never spin if one slipped through.
				panic("plan: targets wait on each other: a cycle in `after`")
			}
			continue // everything left was just skipped or marked
		}
		d := <-completed
		results[d.i], state[d.i] = d.r, finished
		for _, repo := range repositories(targets[d.i]) {
			delete(busy, repo)
		}
		active--
		left--
	}
	return results
}

// repositories are the repositories a running target holds: its own, and
// for a copy the one it copies from, which restic copy locks too (a prune
// there, by a target sharing it, would make the copy fail on the lock),
// and for a file-for-file copy of a repository (Holds) that repository.
func repositories(t *drivers.Target) []string {
	var out []string
	if repo := t.Repository(); repo != "" {
		out = append(out, repo)
	}
	if t.CopyFrom != nil {
		if repo := t.CopyFrom.Repository(); repo != "" && !contains(out, repo) {
			out = append(out, repo)
		}
	}
	// A copy of a repository (rclone) would copy one half-written by a
	// backup or prune running at the same time.
	for _, h := range t.Holds {
		if repo := h.Repository(); repo != "" && !contains(out, repo) {
			out = append(out, repo)
		}
	}
	return out
}

func anyBusy(busy map[string]bool, repos []string) bool {
	for _, r := range repos {
		if busy[r] {
			return true
		}
	}
	return false
}

func pastTense(status string) string {
	switch status {
	case StatusSkipped:
		return "was skipped"
	case StatusInterrupted:
		return "was interrupted"
	}
	return "failed"
}

func newTargetReport(t *drivers.Target, status string) TargetReport {
	return TargetReport{Name: t.Name, Driver: t.Driver, Status: status, Warnings: []string{}}
}

func skipped(t *drivers.Target, why string) TargetReport {
	r := newTargetReport(t, StatusSkipped)
	r.Error = &why
	return r
}

func interrupted(t *drivers.Target, why string) TargetReport {
	r := newTargetReport(t, StatusInterrupted)
	r.Error = &why
	return r
}

var errTimeout = errors.New("timed out")

// runTarget is everything that happens to one target, and the one place
// that decides its outcome.
func (p *Plan) runTarget(ctx context.Context, t *drivers.Target, o RunOptions, rt Runtime, logName string) (r TargetReport) {
	d := rt.driver(t.Driver)
	start := time.Now()
	r = newTargetReport(t, StatusOK)
	ctx, log, logPath, closeLog := p.watch(ctx, t, logName, rt)
	r.Log = logPath
	view := rt.view()
	defer func() {
		r.DurationSeconds = seconds(time.Since(start))
		log.Debug("target finished", "status", r.Status, "duration_seconds", r.DurationSeconds)
		view.Done(t.Name)
		closeLog()
	}()
	if rt.Progress != nil {
		// A copy: the plan's targets stay as loaded.
		watched := *t
		watched.Progress = true
		t = &watched
	}
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, t.Timeout, errTimeout)
		defer cancel()
	}
	fail := func(phase drivers.Phase, err error) TargetReport {
		msg := fmt.Sprintf("%s: %v", phase, err)
		r.Status = StatusFailed
		switch {
		case errors.Is(context.Cause(ctx), errTimeout):
			msg = fmt.Sprintf("timed out after %s (timeout) during %s: %v", t.Timeout, phase, err)
		case ctx.Err() != nil:
			r.Status = StatusInterrupted
			msg = fmt.Sprintf("interrupted during %s", phase)
		}
		r.Error = &msg
		log.Error(string(phase)+" failed", "error", msg)
		return r
	}
	if err := os.MkdirAll(t.TempDir, 0o700); err != nil {
		return fail(drivers.PhasePreflight, err)
	}
	var art drivers.Artifact
	for attempt := 1; ; attempt++ {
		r.Attempts = attempt
		view.Phase(t.Name, drivers.PhaseBackup)
		phase, err := backupOnce(ctx, d, t, rt, log, &art)
		if err == nil {
			break
		}
		if attempt > t.Retries || !drivers.Transient(d, err) {
			return fail(phase, err)
		}
		wait := t.RetryWait << (attempt - 1)
		log.Warn(string(phase)+" failed; trying again", "attempt", attempt, "wait", wait, "error", err)
		view.Phase(t.Name, "waiting to retry")
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fail(phase, err)
		}
	}
	r.Artifact = &art.ID
	r.EarlierArtifact = art.Earlier
	if art.Bytes >= 0 {
		r.Bytes = &art.Bytes
	}
	r.Warnings = append(r.Warnings, art.Warnings...)
	for _, w := range art.Warnings {
		log.Warn("backup warning", "warning", w)
	}
	log.Info("backup done", "artifact", art.ID, "bytes", art.Bytes)
	if w := storePlan(ctx, t, rt, log); w != "" {
		r.Warnings = append(r.Warnings, w)
		log.Warn("plan not stored", "warning", w)
	}

	r.Verified = art.Verified
	if !r.Verified && t.Verify && !o.NoVerify {
		view.Phase(t.Name, drivers.PhaseVerify)
		cov, err := verifyWith(ctx, d, rt.Exec, t, art, o.Rotation)
		if err != nil {
			return fail(drivers.PhaseVerify, err)
		}
		r.Verified, r.Coverage = true, cov
		if cov != nil {
			log.Info("verified", "artifact", art.ID, "read", cov.Detail)
		} else {
			log.Info("verified", "artifact", art.ID)
		}
	}

	if t.Drill && r.Verified {
		view.Phase(t.Name, drivers.PhaseDrill)
		dr, err := drill(ctx, d, t, rt)
		r.Drill = dr
		if err != nil {
			// A backup that does not restore must not let retention
			// remove the older ones that do.
			return fail(drivers.PhaseDrill, err)
		}
		log.Info("drill passed", "detail", dr.Detail)
	}

	// A mirror carries its point only once the run proved it (Sealer):
	// an unverified mirror stays in no point.
	if s, ok := d.(drivers.Sealer); ok && r.Verified && t.Point != "" {
		if err := s.Seal(ctx, rt.Exec, t, art); err != nil {
			return fail(drivers.PhaseVerify, fmt.Errorf("the mirror was verified, but recording recovery point %s in it failed (it is in no point): %w", t.Point, err))
		}
		log.Info("recovery point recorded in the mirror", "point", t.Point)
	} else if ok && t.Point != "" {
		log.Info("the mirror was not verified, so it is in no recovery point (recover does not use it)")
	}

	if !o.NoPrune {
		if !r.Verified && t.Settings.HasRetention() {
			// Retention must never remove the newest verified backup, and
			// this one is not verified: leave everything in place. (A
			// target with no retention keys has nothing to skip.)
			const w = "retention skipped: the new backup was not verified"
			r.Warnings = append(r.Warnings, w)
			log.Warn(w)
		} else if r.Verified {
			view.Phase(t.Name, drivers.PhasePrune)
			res, err := d.Prune(ctx, rt.Exec, t, false)
			if err != nil {
				return fail(drivers.PhasePrune, err)
			}
			r.Pruned, r.Reclaimed = res.Policy, res.Reclaimed
			if res.Policy {
				log.Info("retention applied", "removed", len(res.Removed), "kept", res.Kept)
			}
		}
	}
	if len(r.Warnings) > 0 {
		r.Status = StatusWarning
	}
	return r
}

// backupOnce runs the preflight and the backup once, and says which phase
// failed.
func backupOnce(ctx context.Context, d drivers.Driver, t *drivers.Target, rt Runtime, log *slog.Logger, art *drivers.Artifact) (drivers.Phase, error) {
	if pf, ok := d.(drivers.Preflighter); ok {
		log.Debug("preflight")
		if err := pf.Preflight(ctx, rt.Exec, t); err != nil {
			return drivers.PhasePreflight, err
		}
	}
	log.Info("backup started")
	a, err := d.Backup(ctx, rt.Exec, t)
	if err != nil {
		return drivers.PhaseBackup, err
	}
	*art = a
	return drivers.PhaseBackup, nil
}

// DryRunPoint stands for the recovery point's id in a dry run: each run
// makes its own (drivers.NewPoint).
const DryRunPoint = "<this-run>"

// dryRun prints every step a run would take, commands shell-quoted with
// secrets masked, and runs nothing.
func (p *Plan) dryRun(group string, targets []*drivers.Target, o RunOptions, rt Runtime) error {
	w := o.Out
	fmt.Fprintf(w, "# dry run of plan %q from %s: nothing below is executed\n", group, p.Path)
	stored, _ := p.StoredPlan(DryRunPoint)
	for _, t := range targets {
		t.Point = DryRunPoint
		t.Plan = stored
		defer func() { t.Point, t.Plan = "", nil }() // the plan may run for real next (a test, a daemon)
		fmt.Fprintf(w, "\n# target %s (%s)", t.Name, t.Driver)
		if deps := waitsFor(t); len(deps) > 0 {
			fmt.Fprintf(w, ", after %s", strings.Join(deps, ", "))
		}
		fmt.Fprintln(w)
		steps := rt.driver(t.Driver).Steps(t)
		// The plan is stored right after the backup.
		last := -1
		for i, s := range steps {
			if s.Phase == drivers.PhasePreflight || s.Phase == drivers.PhaseBackup {
				last = i
			}
		}
		steps = append(steps[:last+1:last+1], append(storePlanSteps(t, rt), steps[last+1:]...)...)
		for _, s := range steps {
			if s.Phase == drivers.PhaseVerify && (o.NoVerify || !t.Verify) {
				continue
			}
			if s.Phase == drivers.PhasePrune && o.NoPrune {
				continue
			}
			fmt.Fprintln(w, s.String())
		}
	}
	return nil
}

// drill runs a target's restore drill.
func drill(ctx context.Context, d drivers.Driver, t *drivers.Target, rt Runtime) (*DrillReport, error) {
	dd, ok := d.(drivers.Driller)
	if !ok {
		err := fmt.Errorf("driver %s cannot drill", t.Driver)
		msg := err.Error()
		return &DrillReport{Status: StatusFailed, Error: &msg}, err
	}
	res, err := dd.Drill(ctx, rt.Exec, t)
	if err != nil {
		msg := err.Error()
		return &DrillReport{Status: StatusFailed, Artifact: res.Artifact, Checked: res.Checked, Error: &msg}, err
	}
	return &DrillReport{Status: StatusOK, Artifact: res.Artifact, Checked: res.Checked, Detail: res.Detail}, nil
}

// Drill restores each target's latest backup into scratch space and
// compares it with what was backed up: the `drill` command. It returns a
// report like a run's, with each target's drill outcome.
func (p *Plan) Drill(ctx context.Context, group string, targets []*drivers.Target, rt Runtime) *Report {
	rep := &Report{Command: "drill", Plan: group, StartedAt: time.Now().UTC()}
	if rep.Plan == "" {
		rep.Plan = "targets"
	}
	logName := LogName(rep.Command, rep.Plan, rep.StartedAt)
	for _, t := range targets {
		start := time.Now()
		r := newTargetReport(t, StatusOK)
		ctx, log, logPath, closeLog := p.watch(ctx, t, logName, rt)
		r.Log = logPath
		rt.view().Phase(t.Name, drivers.PhaseDrill)
		if err := os.MkdirAll(t.TempDir, 0o700); err != nil {
			msg := err.Error()
			r.Status, r.Error = StatusFailed, &msg
		} else {
			dr, err := drill(ctx, rt.driver(t.Driver), t, rt)
			r.Drill = dr
			if dr.Artifact != "" {
				r.Artifact = &dr.Artifact
			}
			if err != nil {
				msg := "drill: " + err.Error()
				r.Status, r.Error = StatusFailed, &msg
				if ctx.Err() != nil {
					r.Status = StatusInterrupted
				}
				log.Error("drill failed", "error", err)
			} else {
				log.Info("drill passed", "detail", dr.Detail)
			}
		}
		rt.view().Done(t.Name)
		closeLog()
		r.DurationSeconds = seconds(time.Since(start))
		rep.Targets = append(rep.Targets, r)
	}
	rep.finish(ctx.Err() != nil)
	return rep
}

// Restore brings a target's backup back, as the request says.
func (p *Plan) Restore(ctx context.Context, t *drivers.Target, req drivers.RestoreRequest, rt Runtime) (drivers.RestoreResult, error) {
	r, ok := rt.driver(t.Driver).(drivers.Restorer)
	if !ok {
		return drivers.RestoreResult{}, fmt.Errorf("driver %s cannot restore", t.Driver)
	}
	if err := os.MkdirAll(t.TempDir, 0o700); err != nil {
		return drivers.RestoreResult{}, err
	}
	return r.Restore(ctx, rt.Exec, t, req)
}

// Outcome is the result of verify, prune or init for one target.
type Outcome struct {
	Target string
	Err    error
	Prune  drivers.PruneResult
	// Coverage is what a verify read (nil: the driver reads no slices).
	Coverage *CoverageReport
	// Init is what init did (nil: the driver does not say).
	Init *drivers.InitResult
	// Took is how long the target's part took.
	Took time.Duration
}

// Verify verifies the latest backup of each target, reading what rot
// picks (FullRotation: everything).
func (p *Plan) Verify(ctx context.Context, targets []*drivers.Target, rot Rotation, rt Runtime) []Outcome {
	return each(targets, func(t *drivers.Target) Outcome {
		d := rt.driver(t.Driver)
		if err := tendLocks(ctx, d, t, rt); err != nil {
			return Outcome{Target: t.Name, Err: err}
		}
		cov, err := verifyWith(ctx, d, rt.Exec, t, drivers.Artifact{}, rot)
		return Outcome{Target: t.Name, Err: err, Coverage: cov}
	})
}

// Prune applies retention only. A dry run changes nothing, stale locks
// included.
func (p *Plan) Prune(ctx context.Context, targets []*drivers.Target, dryRun bool, rt Runtime) []Outcome {
	return each(targets, func(t *drivers.Target) Outcome {
		d := rt.driver(t.Driver)
		if !dryRun {
			if err := tendLocks(ctx, d, t, rt); err != nil {
				return Outcome{Target: t.Name, Err: err}
			}
		}
		res, err := d.Prune(ctx, rt.Exec, t, dryRun)
		return Outcome{Target: t.Name, Err: err, Prune: res}
	})
}

// tendLocks applies the stale-lock policy of a driver that has one
// before verify or prune, which need the repository's exclusive lock: a
// backup does it itself first, these commands run without one. What it
// did is logged as warnings.
func tendLocks(ctx context.Context, d drivers.Driver, t *drivers.Target, rt Runtime) error {
	lt, ok := d.(drivers.LockTender)
	if !ok {
		return nil
	}
	notes, err := lt.TendLocks(ctx, rt.Exec, t)
	for _, n := range notes {
		rt.log().Warn("repository lock", "target", t.Name, "detail", n)
	}
	return err
}

// Init creates repositories and dump directories; it is idempotent. A
// copy (copy_from) is initialised after the other targets, so that its
// source's repository exists and the copy's takes over its chunker
// parameters (restic init --copy-chunker-params), without which the
// copied data does not deduplicate with what the copy already holds.
// The outcomes come back in that order.
func (p *Plan) Init(ctx context.Context, targets []*drivers.Target, rt Runtime) []Outcome {
	ordered := make([]*drivers.Target, 0, len(targets))
	for _, copies := range []bool{false, true} {
		for _, t := range targets {
			if (t.CopyFrom != nil) == copies {
				ordered = append(ordered, t)
			}
		}
	}
	return each(ordered, func(t *drivers.Target) Outcome {
		d := rt.driver(t.Driver)
		if ir, ok := d.(drivers.InitReporter); ok {
			res, err := ir.InitReport(ctx, rt.Exec, t)
			return Outcome{Target: t.Name, Err: err, Init: &res}
		}
		return Outcome{Target: t.Name, Err: d.Init(ctx, rt.Exec, t)}
	})
}

// CheckTools checks each driver's programs once per driver, and once per
// place they run behind (drivers.ToolsKey).
func (p *Plan) CheckTools(ctx context.Context, rt Runtime) []Outcome {
	seen := map[string]bool{}
	var out []Outcome
	for _, name := range p.Order {
		t := p.Targets[name]
		key := drivers.ToolsKey(t)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, Outcome{Target: t.Driver, Err: rt.driver(t.Driver).CheckTools(ctx, rt.Exec, t)})
	}
	return out
}

// Snapshots lists one target's backups.
func (p *Plan) Snapshots(ctx context.Context, t *drivers.Target, rt Runtime) ([]drivers.Snapshot, error) {
	return rt.driver(t.Driver).Snapshots(ctx, rt.Exec, t)
}

func each(targets []*drivers.Target, f func(*drivers.Target) Outcome) []Outcome {
	out := make([]Outcome, 0, len(targets))
	for _, t := range targets {
		start := time.Now()
		o := f(t)
		o.Took = time.Since(start)
		out = append(out, o)
	}
	return out
}
