package rclone

// A destination that holds a repository: when the source is the local
// directory of a restic target's repository, the plan loader links the
// two (Target.Holds), and the drill opens the destination as that
// repository (drivers.CopyDriller) instead of comparing files: a
// repository is proven by restoring from it, and its files by their
// content hashes, which the restore checks. This file says where the
// copy is and what reaching it takes; the repository's driver builds its
// own commands.

import (
	"context"
	"path/filepath"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

var _ drivers.DirCopier = Driver{}

// CopiedDir is the source when it is a local directory path.
func (Driver) CopiedDir(t *drivers.Target) string {
	if src := t.Settings.Str("source"); !rcloneIsRemote(src) {
		return filepath.Clean(src)
	}
	return ""
}

// heldCopy is the destination as a repository copy: its local path, or
// the remote path with what rclone needs to reach it, as environment
// (rclone reads every flag from RCLONE_<FLAG>): the config file, no
// password prompt, the config password and the target's `env`.
func heldCopy(t *drivers.Target, env []proc.EnvVar) drivers.RepositoryCopy {
	dest := t.Settings.Str("destination")
	if !rcloneIsRemote(dest) {
		return drivers.RepositoryCopy{Dir: filepath.Clean(dest)}
	}
	reach := []proc.EnvVar{{Name: "RCLONE_ASK_PASSWORD", Value: "false"}}
	if c := t.Settings.Str("config"); c != "" {
		reach = append(reach, proc.EnvVar{Name: "RCLONE_CONFIG", Value: c})
	}
	return drivers.RepositoryCopy{Remote: dest, Env: append(reach, env...)}
}

// drillHeld drills the repository the destination holds, through the
// driver of the targets that keep their backups in it.
func drillHeld(ctx context.Context, x proc.Executor, t *drivers.Target, env []proc.EnvVar) (drivers.DrillResult, bool, error) {
	if len(t.Holds) == 0 {
		return drivers.DrillResult{}, false, nil
	}
	d, ok := t.Holds[0].Impl.(drivers.CopyDriller)
	if !ok {
		return drivers.DrillResult{}, false, nil
	}
	res, err := d.DrillCopy(ctx, x, t, heldCopy(t, env))
	return res, true, err
}
