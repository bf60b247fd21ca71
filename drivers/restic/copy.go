package restic

// A copy: a restic target with copy_from instead of paths. Its backup is
// `restic copy` of the source target's snapshots from the source's
// repository into its own; verify, retention (its own keep_*), snapshots,
// restore and drill then work on its own repository as on any restic
// target's. That is the point: a copy in another place that is proven to
// restore on its own.
//
// restic copy keeps a snapshot as it is: its host, tags, paths and time.
// The copy's snapshots are therefore the source's, selected by the
// source's host and tag alexandria:SOURCE (owner), and every command that
// selects snapshots of a copy uses that selection.
//
// restic 0.14 names the source with --from-repo / --from-password-file
// or, as here, their variables RESTIC_FROM_REPOSITORY (_FILE) and
// RESTIC_FROM_PASSWORD_FILE (_COMMAND): no secret and no location in
// argv, like the copy's own repository.
//
// Which snapshots: restic copy itself skips a snapshot the destination
// already holds (0.14 compares the original snapshot's id and its tree,
// paths, host and time). But one the copy's retention forgot is no longer
// there, and would be copied again on every run when the copy keeps fewer
// than its source. So a copy offers restic only the source's snapshots no
// older than the newest the copy holds (all of them the first time),
// oldest first: an interrupted copy leaves the older ones copied, and the
// next run takes up from the newest. The newest held one is offered too,
// so restic's own check of what is already there runs every time.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/drill"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// owner is the target whose snapshots t's repository holds under its
// host and tag: t itself, or for a copy the target it copies from.
func owner(t *drivers.Target) *drivers.Target {
	if t.CopyFrom != nil {
		return t.CopyFrom
	}
	return t
}

// backupOnlyKeys shape what a backup reads and how it labels its
// snapshot. A copy makes no backup of its own: its snapshots are the
// source's, as they are, so these keys would do nothing there.
var backupOnlyKeys = []string{"paths", "exclude", "exclude_file", "tags", "host", "allow_empty_source"}

// validateCopy: a target either backs up paths or copies another
// target's snapshots (copy_from). Whether copy_from names a restic target
// of the plan is the plan loader's to check; it links it as t.CopyFrom.
func validateCopy(t *drivers.Target) error {
	if !t.Settings.Has("copy_from") {
		return nil // paths is required unless copy_from: the loader says so
	}
	from := t.Settings.Str("copy_from")
	if from == "" {
		return drivers.KeyErr("copy_from", "must name the restic target of the plan whose snapshots this one copies")
	}
	if t.Settings.Has("paths") {
		return drivers.KeyErr("copy_from", "set either `paths` (back them up) or `copy_from` (copy the snapshots of %q), not both", from)
	}
	for _, k := range backupOnlyKeys {
		if t.Settings.Has(k) {
			return drivers.KeyErr(k, "does not apply to a copy (copy_from = %q): its snapshots are those of %q as they are; set it there", from, from)
		}
	}
	return nil
}

// copySource is the target a copy copies from, linked by the plan loader.
func copySource(t *drivers.Target) (*drivers.Target, error) {
	if t.CopyFrom == nil {
		return nil, drivers.KeyErr("copy_from", "target %q is not linked to %q (a copy runs from a loaded plan)", t.Name, t.Settings.Str("copy_from"))
	}
	return t.CopyFrom, nil
}

// fromEnv is how restic learns the source repository: RESTIC_FROM_*, the
// counterparts of resticEnv's variables. The source's own `env` (cloud
// credentials for its backend) comes along, except for the names the copy
// sets itself: restic has one environment for both repositories, and the
// copy's own repository is the one it writes.
func fromEnv(t, src *drivers.Target) []proc.EnvVar {
	env := repositoryEnv(src, "RESTIC_FROM_")
	for _, v := range src.EnvVars() {
		if _, own := t.Env[v.Name]; !own {
			env = append(env, v)
		}
	}
	return env
}

// fromCmd is a restic command on t's repository that also reads src's.
func (r Driver) fromCmd(t, src *drivers.Target, args ...string) proc.Command {
	c := r.cmd(t, args...)
	c.Env = append(c.Env, fromEnv(t, src)...)
	return c
}

// copyCommand copies the snapshots ids (full ids, oldest first: restic
// copies them in that order) of src into t's repository. The host and
// tag select what restic compares them with in t's repository; restic
// 0.14 says on stderr that it ignores them for the source, where the ids
// decide.
func (r Driver) copyCommand(t, src *drivers.Target, ids []string) proc.Command {
	args := append([]string{"copy"}, selectArgs(t)...)
	return r.fromCmd(t, src, append(append(args, "--"), ids...)...)
}

// initCopy creates a copy's repository. When the source's repository
// exists, the copy takes over its chunker parameters (init
// --copy-chunker-params): copied data is stored in the source's chunks as
// they are, and anything backed up straight into the copy's repository
// (another target sharing it) then deduplicates with them. When the
// source has none yet, a plain init: restic would refuse the other.
func (r Driver) initCopy(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	src, err := copySource(t)
	if err != nil {
		return err
	}
	res, err := x.Run(ctx, r.cmd(src, "cat", "config"))
	switch {
	case err == nil:
		_, err = x.Run(ctx, r.fromCmd(t, src, "init", "--copy-chunker-params"))
	case repoMissing(res):
		_, err = x.Run(ctx, r.cmd(t, "init"))
	default:
		err = fmt.Errorf("reading the repository of %s (copy_from), to copy its chunker parameters: %w", src.Name, err)
	}
	return err
}

// listSnapshots lists the snapshots of t (owner's host and tag) in t's
// repository, oldest first.
func (r Driver) listSnapshots(ctx context.Context, x proc.Executor, t *drivers.Target) ([]resticSnapshot, error) {
	cmd := r.cmd(t, append([]string{"snapshots", "--json"}, selectArgs(t)...)...)
	cmd.StdoutTail = 64 << 20
	res, err := x.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	var snaps []resticSnapshot
	if err := json.Unmarshal(res.Stdout, &snaps); err != nil {
		return nil, fmt.Errorf("restic snapshots: unreadable JSON: %v", err)
	}
	sort.SliceStable(snaps, func(i, j int) bool { return snaps[i].Time.Before(snaps[j].Time) })
	return snaps, nil
}

// toCopy picks, from the source's snapshots (oldest first), those no
// older than the newest the copy holds: all of them when it holds none.
func toCopy(offered, held []resticSnapshot) []string {
	var ids []string
	for _, s := range offered {
		if len(held) == 0 || !s.Time.Before(held[len(held)-1].Time) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// copyBackup is a copy's backup: restic copy of the source's snapshots
// not yet copied (see the top of this file). Written lists the packs that
// appeared in the copy's repository meanwhile, which verify reads back,
// as after a backup. The artifact is the newest snapshot the copy holds
// afterwards; none at all fails the target, as an empty backup would.
func (r Driver) copyBackup(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.Artifact, error) {
	src, err := copySource(t)
	if err != nil {
		return drivers.Artifact{}, err
	}
	// The source's secret files too (Resources), under copy_from.
	if err := drivers.CheckSecrets(t); err != nil {
		return drivers.Artifact{}, err
	}
	lockNotes, err := r.applyLockPolicy(ctx, x, t)
	if err != nil {
		return drivers.Artifact{}, err
	}
	a := drivers.Artifact{Bytes: -1, Warnings: lockNotes}
	fail := func(err error) (drivers.Artifact, error) {
		if len(lockNotes) > 0 {
			err = fmt.Errorf("%w (%s)", err, strings.Join(lockNotes, "; "))
		}
		return drivers.Artifact{}, err
	}
	held, err := r.listSnapshots(ctx, x, t)
	if err != nil {
		return fail(err)
	}
	offered, err := r.listSnapshots(ctx, x, src)
	if err != nil {
		return fail(fmt.Errorf("listing the snapshots of %s (copy_from): %w", src.Name, err))
	}
	if ids := toCopy(offered, held); len(ids) > 0 {
		packsBefore, err := r.listPacks(ctx, x, t)
		if err != nil {
			return fail(err)
		}
		for _, batch := range drill.ArgBatches(ids) {
			if _, err := r.runWriting(ctx, x, t, r.copyCommand(t, src, batch)); err != nil {
				return fail(err)
			}
		}
		if packsAfter, err := r.listPacks(ctx, x, t); err != nil {
			a.Warnings = append(a.Warnings, fmt.Sprintf("could not list the packs this copy added, so verify reads only its share of the rest: %v", err))
		} else {
			a.Written = newPacks(packsBefore, packsAfter)
		}
		if held, err = r.listSnapshots(ctx, x, t); err != nil {
			return fail(err)
		}
	}
	if len(held) == 0 {
		return fail(fmt.Errorf("the copy holds no snapshot: %s (copy_from) has none in its repository to copy (host %s, tag %s)", src.Name, resticHost(src), resticTag(src)))
	}
	// The artifact is the snapshot of this run's recovery point, which
	// the source made in this run and the copy now holds: the newest
	// snapshot held may be another run's (the source failed, or was not
	// in this run), and a point must not pair it with this run's dump.
	a.ID = held[len(held)-1].ID
	if t.Point != "" {
		i := slices.IndexFunc(held, func(s resticSnapshot) bool { return drivers.PointFromLabels(s.Tags...) == t.Point })
		if i < 0 {
			a.Warnings = append(a.Warnings, fmt.Sprintf("%s made no snapshot in this run: the copy's newest, %s, is from an earlier run", src.Name, resticShortID(a.ID)))
			a.Earlier = true
		} else {
			a.ID = held[i].ID
		}
	}
	return a, nil
}

// copySteps is what a copy's run does, for --dry-run.
func (r Driver) copySteps(t *drivers.Target) []drivers.Step {
	steps := []drivers.Step{lockStep(t)}
	src := t.CopyFrom
	if src == nil {
		return append(steps, drivers.Step{Phase: drivers.PhaseBackup, Note: "copy the snapshots of " + t.Settings.Str("copy_from") + " (not linked: load the plan)"})
	}
	listOwn := r.cmd(t, append([]string{"snapshots", "--json"}, selectArgs(t)...)...)
	listSrc := r.cmd(src, append([]string{"snapshots", "--json"}, selectArgs(src)...)...)
	copyCmd := r.copyCommand(t, src, []string{"ID..."})
	steps = append(steps,
		drivers.Step{Phase: drivers.PhaseBackup, Command: &listOwn},
		drivers.Step{Phase: drivers.PhaseBackup, Command: &listSrc},
		drivers.Step{Phase: drivers.PhaseBackup, Command: &copyCmd},
		drivers.Step{Phase: drivers.PhaseBackup, Note: "runs after " + src.Name + ", also when that failed; ID...: the snapshots of " + src.Name + " no older than the newest this copy holds (all of them the first time), oldest first; " +
			"restic skips those already here, and one this copy's retention forgot is not copied again. A copy holding no snapshot afterwards fails"},
	)
	steps = append(steps, r.verifySteps(t)...)
	if forget, ok := r.forgetCommand(t, false, true); ok {
		steps = append(steps, drivers.Step{Phase: drivers.PhasePrune, Command: &forget})
		steps = append(steps, reclaimNote(t)...)
	}
	return steps
}
