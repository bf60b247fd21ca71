package drivers

// The contract between a target that copies a directory as it is (an
// rclone copy) and the driver of a repository that directory holds
// (restic): the plan loader links the two by their paths (Target.Holds),
// the copying driver says where the copy is and what reaching it takes
// (RepositoryCopy), and the repository's driver drills the copy as a
// repository of its own (CopyDriller). Neither builds the other's command
// lines.

import (
	"context"
	"os"
	"path/filepath"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// DirCopier is implemented by drivers whose target copies a local
// directory elsewhere file for file (rclone): a repository in that
// directory is then also a repository at the destination.
type DirCopier interface {
	// CopiedDir is the local directory t copies, "" when its source is
	// not on this machine.
	CopiedDir(t *Target) string
}

// RepositoryCopy is where a copy of a repository is, as the target that
// keeps it says.
type RepositoryCopy struct {
	// Dir is the copy's local directory, "" when it is on a remote.
	Dir string
	// Remote is the copy as an rclone remote path (remote:path), reached
	// through rclone itself (restic's rclone backend starts `rclone serve
	// restic --stdio`); "" when Dir is set.
	Remote string
	// Env is what reaching Remote takes (the rclone.conf's location and
	// password, the keeper's `env`), secrets marked as such. It goes into
	// the repository tool's environment, which its rclone inherits.
	Env []proc.EnvVar
}

// Where names the copy for people: its directory or remote path.
func (c RepositoryCopy) Where() string {
	if c.Dir != "" {
		return c.Dir
	}
	return c.Remote
}

// CopyDriller is implemented by drivers whose repository can be drilled
// in a copy another target keeps of it (restic): the copy is opened as a
// repository of its own, checked, and the newest backup of each held
// target restored from it in part and compared, as that target's own
// drill does. So "the offsite copy restores" is proven, not assumed.
type CopyDriller interface {
	// LocalRepository is the directory of t's repository when it is a
	// local path, "" otherwise (a remote, a location in a file).
	LocalRepository(t *Target) string
	// DrillCopy drills keeper's copy, at, of the repository keeper.Holds
	// keep their backups in (a repository can be shared): each held
	// target's newest backup, opened with that target's password
	// settings, a sample as large as keeper's drill_sample, in keeper's
	// scratch space. Nothing is written to the copy.
	DrillCopy(ctx context.Context, x proc.Executor, keeper *Target, at RepositoryCopy) (DrillResult, error)
}

// SamePlace reports whether two local paths name the same directory:
// both absolute and clean, with symlinks resolved where they exist (a
// repository reached through a symlink is still that repository).
func SamePlace(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return placeOf(a) == placeOf(b)
}

// placeOf is path made absolute and clean, its symlinks resolved when it
// exists.
func placeOf(path string) string {
	p, err := filepath.Abs(path)
	if err != nil {
		p = filepath.Clean(path)
	}
	if _, err := os.Lstat(p); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
	}
	return p
}
