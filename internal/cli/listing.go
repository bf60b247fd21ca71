package cli

import (
	"os"
	"path/filepath"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// listOnly prepares the plan's targets for listing their backups from the
// repositories alone (`status`, `audit` and `points --from-repositories`,
// and `recover` on a new machine): no repository lock (restic
// --no-lock, borg --bypass-lock: a listing must never delay or fail a
// backup, nor wait behind one) and temporary files in a private
// directory, never under state_dir, which may not exist there. done puts
// every target back as it was and removes that directory.
func listOnly(e *env) (done func(), err error) {
	tmp, err := os.MkdirTemp("", "alexandria-listing-")
	if err != nil {
		return nil, err
	}
	type saved struct {
		noLocks       bool
		tempDir, keep string
	}
	was := map[*drivers.Target]saved{}
	for name, t := range e.plan.Targets {
		was[t] = saved{t.ListWithoutLocks, t.TempDir, t.KeepDir}
		t.ListWithoutLocks = true
		t.TempDir, t.KeepDir = filepath.Join(tmp, name), ""
	}
	return func() {
		for t, s := range was {
			t.ListWithoutLocks, t.TempDir, t.KeepDir = s.noLocks, s.tempDir, s.keep
		}
		os.RemoveAll(tmp)
	}, nil
}
