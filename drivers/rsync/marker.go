package rsync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/pointmark"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// The mirror's recovery-point marker (drivers/internal/pointmark): rsync
// itself moves it, so a remote mirror over ssh is handled as a local one.
// Every transfer, listing and comparison of the mirror excludes it
// (markerExclude, first among the filters): --delete never removes it
// (an excluded file is protected on the receiving side), restores never
// bring it into the source's place, and verify, the guard and drills
// never count it.

var _ drivers.Sealer = Driver{}

// markerExclude keeps the marker out of every transfer, anchored at the
// top of the transfer (the mirror's, or the source's).
const markerExclude = "--exclude=/" + pointmark.Name

// markerRemote is the marker's place as rsync names it.
func markerRemote(t *drivers.Target) string { return rsyncMirrorRoot(t) + pointmark.Name }

// takeMarkerCommand moves the marker out of the mirror into dir: rsync
// removes it from the mirror (the sending side) once it has a copy. A
// mirror without one is no error (--ignore-missing-args).
func (r Driver) takeMarkerCommand(t *drivers.Target, dir string) proc.Command {
	args := append([]string{"--remove-source-files", "--ignore-missing-args"}, rsyncRsh(t)...)
	return r.cmd(t, append(args, "--", markerRemote(t), dir+"/")...)
}

// readMarkerCommand copies the marker into dir, when there is one.
func (r Driver) readMarkerCommand(t *drivers.Target, dir string) proc.Command {
	args := append([]string{"--ignore-missing-args"}, rsyncRsh(t)...)
	return r.cmd(t, append(args, "--", markerRemote(t), dir+"/")...)
}

// writeMarkerCommand copies the marker file (named pointmark.Name) into
// the top of the mirror; rsync writes it under a temporary name and
// renames it, so a reader sees the old state or the new, never half.
func (r Driver) writeMarkerCommand(t *drivers.Target, file string) proc.Command {
	return r.cmd(t, append(rsyncRsh(t), "--", file, rsyncMirrorRoot(t))...)
}

// noMirrorDir says whether rsync failed only because the mirror's
// directory does not exist (yet): then it has no marker either.
func noMirrorDir(res proc.Result, err error) bool {
	s := string(res.Stderr)
	return err != nil && res.ExitCode == 23 && strings.Contains(s, "change_dir") && strings.Contains(s, "No such file or directory")
}

// takeMarker takes the mirror out of any recovery point before a run
// changes it.
func (r Driver) takeMarker(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	dir, cleanup, err := pointmark.TempDir(t.TempDir)
	if err != nil {
		return err
	}
	defer cleanup()
	res, err := x.Run(ctx, r.takeMarkerCommand(t, dir))
	if err != nil && !noMirrorDir(res, err) {
		return fmt.Errorf("removing the mirror's recovery-point marker %s before changing the mirror: %w", markerRemote(t), err)
	}
	return nil
}

// readMarker reads the mirror's marker: nil when it has none. A file
// there that is no valid marker puts the mirror in no point, and note
// says why.
func (r Driver) readMarker(ctx context.Context, x proc.Executor, t *drivers.Target) (m *pointmark.Mark, note string, err error) {
	dir, cleanup, err := pointmark.TempDir(t.TempDir)
	if err != nil {
		return nil, "", err
	}
	defer cleanup()
	res, err := x.Run(ctx, r.readMarkerCommand(t, dir))
	if noMirrorDir(res, err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading the mirror's recovery-point marker %s: %w", markerRemote(t), err)
	}
	data, err := os.ReadFile(filepath.Join(dir, pointmark.Name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	mk, err := pointmark.Decode(data, markerRemote(t))
	if err != nil {
		return nil, err.Error(), nil
	}
	return &mk, "", nil
}

// checkPoint refuses a restore or proof of point that the mirror does
// not hold now.
func (r Driver) checkPoint(ctx context.Context, x proc.Executor, t *drivers.Target, point string) (*pointmark.Mark, error) {
	if point == "" {
		return nil, nil
	}
	m, _, err := r.readMarker(ctx, x, t)
	if err != nil {
		return nil, err
	}
	return m, pointmark.Check(point, m, t.Settings.Str("destination"))
}

// Seal records the run's recovery point in the mirror, after the plan saw
// its sync verified.
func (r Driver) Seal(ctx context.Context, x proc.Executor, t *drivers.Target, a drivers.Artifact) error {
	if !drivers.ValidPoint(t.Point) {
		return fmt.Errorf("no recovery point to record (%q)", t.Point)
	}
	file, cleanup, err := pointmark.WriteTemp(t.TempDir, pointmark.New(t, "rsync"))
	if err != nil {
		return err
	}
	defer cleanup()
	if _, err := x.Run(ctx, r.writeMarkerCommand(t, file)); err != nil {
		return fmt.Errorf("writing %s: %w", markerRemote(t), err)
	}
	return nil
}

// CheckRestore refuses, before recover touches anything, a restore of a
// recovery point the mirror does not hold.
func (r Driver) CheckRestore(ctx context.Context, x proc.Executor, t *drivers.Target, req drivers.RestoreRequest) error {
	if _, err := recoverPlace(t, req); err != nil {
		return err
	}
	_, err := r.checkPoint(ctx, x, t, req.Point)
	return err
}

var _ drivers.RestoreChecker = Driver{}
