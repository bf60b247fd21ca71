package restic

// A drill of a copy of a restic repository that another target keeps
// file for file (an rclone copy of a local repository, offsite): the copy
// is opened as a restic repository of its own, at its local directory or
// through restic's rclone backend (`-r rclone:REMOTE:PATH`: restic starts
// `rclone serve restic --stdio` itself, which inherits restic's
// environment, so the keeper's RCLONE_CONFIG and RCLONE_CONFIG_* reach
// it and nothing of it goes in argv). Then `restic check`, and each held
// target's own drill (restore.go), unchanged, on the copy.
//
// Nothing is written to the copy: every command runs with --no-lock, so
// the copy stays exactly what the keeper sent (its verify compares it
// with that) and a read-only remote can be drilled; the run lock keeps
// the keeper's sync away meanwhile. And with --no-cache: the copy has the
// repository's id, so restic's cache of the repository itself would
// answer for the copy's index and trees (check uses a fresh cache of
// its own anyway).

import (
	"context"
	"fmt"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

var _ drivers.CopyDriller = Driver{}

// LocalRepository is t's repository's directory when it is a local path
// (a path, or local:PATH); "" for other backends and repository_file.
func (Driver) LocalRepository(t *drivers.Target) string { return localRepo(t) }

// copyLocation is the copy as restic's repository location.
func copyLocation(at drivers.RepositoryCopy) string {
	if at.Dir != "" {
		return at.Dir
	}
	return "rclone:" + at.Remote
}

// copyFlags come right after the subcommand, so that every command's
// first argument stays its subcommand.
var copyFlags = []string{"--no-lock", "--no-cache"}

// openCopy is cmd's environment and arguments for t's repository opened
// at the copy: the copy's location, t's password settings and env, then
// what reaching the copy takes (the keeper's, last: it wins).
func openCopy(t *drivers.Target, at drivers.RepositoryCopy, args []string) ([]proc.EnvVar, []string) {
	env := []proc.EnvVar{{Name: "RESTIC_REPOSITORY", Value: copyLocation(at)}}
	for _, v := range repositoryEnv(t, "RESTIC_") {
		if v.Name != "RESTIC_REPOSITORY" && v.Name != "RESTIC_REPOSITORY_FILE" {
			env = append(env, v)
		}
	}
	env = append(append(env, t.EnvVars()...), at.Env...)
	if len(args) > 0 {
		args = append(append(append([]string{}, args[0]), copyFlags...), args[1:]...)
	}
	return env, args
}

// DrillCopy checks the copy (restic check: the index, every snapshot and
// tree; pack data only as the restores below read it), then drills each
// held target's newest snapshot from the copy as its own drill does: a
// sample restored with --verify, compared with the live files that are
// unchanged since.
func (Driver) DrillCopy(ctx context.Context, x proc.Executor, keeper *drivers.Target, at drivers.RepositoryCopy) (drivers.DrillResult, error) {
	if len(keeper.Holds) == 0 {
		return drivers.DrillResult{}, fmt.Errorf("%s holds no restic repository", keeper.Name)
	}
	c := Driver{at: &at}
	what := fmt.Sprintf("the copy %s (of %s's repository) as a restic repository", at.Where(), keeper.Holds[0].Name)
	if err := drivers.CheckSecrets(keeper.Holds[0]); err != nil {
		return drivers.DrillResult{}, err
	}
	if _, err := x.Run(ctx, c.cmd(keeper.Holds[0], "check")); err != nil {
		return drivers.DrillResult{}, fmt.Errorf("restic check of %s: %w", what, err)
	}
	var out drivers.DrillResult
	var ids, details []string
	for _, h := range keeper.Holds {
		held := *h
		held.TempDir, held.DrillSample = keeper.TempDir, keeper.DrillSample
		res, err := c.Drill(ctx, x, &held)
		if err != nil {
			return out, fmt.Errorf("drill of target %s in %s: %w", h.Name, what, err)
		}
		ids = append(ids, res.Artifact)
		out.Checked += res.Checked
		details = append(details, fmt.Sprintf("%s's snapshot %s: %s", h.Name, res.Artifact, res.Detail))
	}
	out.Artifact = strings.Join(ids, ", ")
	out.Detail = fmt.Sprintf("opened %s: restic check found no errors; %s", what, strings.Join(details, "; "))
	return out, nil
}
