package rclone

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/pointmark"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// The destination's recovery-point marker (drivers/internal/pointmark):
// rclone itself moves it, so every remote (and a crypt one, which
// encrypts it like any file) is handled alike. Every sync, listing and
// check excludes it (markerExclude, first among the filters): a sync
// never deletes an excluded file on the destination (rclone deletes
// excluded files only with --delete-excluded), restores never bring it
// into the source's place, and verify, the guard and drills never count
// it.

var (
	_ drivers.Sealer         = Driver{}
	_ drivers.RestoreChecker = Driver{}
)

// markerExclude keeps the marker out of every transfer and listing,
// anchored at the top of the source and the destination.
const markerExclude = "--exclude=/" + pointmark.Name

// markerRemote is the marker's place as rclone names it.
func markerRemote(t *drivers.Target) string {
	return rcloneJoin(t.Settings.Str("destination"), pointmark.Name)
}

// takeMarkerCommand deletes the marker, and only it: the top of the
// destination is listed and every other file filtered out. A destination
// with no marker deletes nothing; one that does not exist yet exits 3.
func (r Driver) takeMarkerCommand(t *drivers.Target, env []proc.EnvVar) proc.Command {
	c := r.cmd(t, env, "delete", []string{"--max-depth=1", "--include=/" + pointmark.Name}, t.Settings.Str("destination"))
	c.Codes = proc.ExitCodes{OK: []int{3}}
	return c
}

// readMarkerCommand prints the marker. rclone 1.60 exits 3 when there is
// none (it then takes the name for a directory, which it does not find);
// a bucket-based remote may print nothing instead.
func (r Driver) readMarkerCommand(t *drivers.Target, env []proc.EnvVar) proc.Command {
	c := r.cmd(t, env, "cat", nil, markerRemote(t))
	c.Codes = proc.ExitCodes{OK: []int{3}}
	c.StdoutTail = 64 << 10 // a marker is a few hundred bytes
	return c
}

// writeMarkerCommand copies the marker file to the top of the
// destination.
func (r Driver) writeMarkerCommand(t *drivers.Target, env []proc.EnvVar, file string) proc.Command {
	return r.cmd(t, env, "copyto", nil, file, markerRemote(t))
}

// takeMarker takes the destination out of any recovery point before a
// run changes it.
func (r Driver) takeMarker(ctx context.Context, x proc.Executor, t *drivers.Target, env []proc.EnvVar) error {
	if _, err := x.Run(ctx, r.takeMarkerCommand(t, env)); err != nil {
		return fmt.Errorf("removing the destination's recovery-point marker %s before changing the destination: %w", markerRemote(t), err)
	}
	return nil
}

// readMarker reads the destination's marker: nil when it has none. A
// file there that is no valid marker puts it in no point, and note says
// why.
func (r Driver) readMarker(ctx context.Context, x proc.Executor, t *drivers.Target, env []proc.EnvVar) (m *pointmark.Mark, note string, err error) {
	res, err := x.Run(ctx, r.readMarkerCommand(t, env))
	if err != nil {
		return nil, "", fmt.Errorf("reading the destination's recovery-point marker %s: %w", markerRemote(t), err)
	}
	if res.ExitCode == 3 || strings.TrimSpace(string(res.Stdout)) == "" {
		return nil, "", nil
	}
	mk, err := pointmark.Decode(res.Stdout, markerRemote(t))
	if err != nil {
		return nil, err.Error(), nil
	}
	return &mk, "", nil
}

// checkPoint refuses a restore or proof of point that the destination
// does not hold now.
func (r Driver) checkPoint(ctx context.Context, x proc.Executor, t *drivers.Target, env []proc.EnvVar, point string) (*pointmark.Mark, error) {
	if point == "" {
		return nil, nil
	}
	m, _, err := r.readMarker(ctx, x, t, env)
	if err != nil {
		return nil, err
	}
	return m, pointmark.Check(point, m, t.Settings.Str("destination"))
}

// Seal records the run's recovery point in the destination, after the
// plan saw its sync verified.
func (r Driver) Seal(ctx context.Context, x proc.Executor, t *drivers.Target, a drivers.Artifact) error {
	if !drivers.ValidPoint(t.Point) {
		return fmt.Errorf("no recovery point to record (%q)", t.Point)
	}
	env, err := rcloneSecrets(t)
	if err != nil {
		return err
	}
	file, cleanup, err := pointmark.WriteTemp(t.TempDir, pointmark.New(t, "rclone"))
	if err != nil {
		return err
	}
	defer cleanup()
	if _, err := x.Run(ctx, r.writeMarkerCommand(t, env, file)); err != nil {
		return fmt.Errorf("writing %s: %w", markerRemote(t), err)
	}
	return nil
}

// CheckRestore refuses, before recover touches anything, a restore of a
// recovery point the destination does not hold.
func (r Driver) CheckRestore(ctx context.Context, x proc.Executor, t *drivers.Target, req drivers.RestoreRequest) error {
	if _, err := recoverPlace(t, req); err != nil {
		return err
	}
	if req.Point == "" {
		return nil
	}
	env, err := rcloneSecrets(t)
	if err != nil {
		return err
	}
	_, err = r.checkPoint(ctx, x, t, env, req.Point)
	return err
}

// markerSteps are the marker's commands as --dry-run shows them: taken
// out before the sync, written after the verify.
func (r Driver) markerSteps(t *drivers.Target, env []proc.EnvVar) (take, seal []drivers.Step) {
	tc := r.takeMarkerCommand(t, env)
	wc := r.writeMarkerCommand(t, env, filepath.Join("<temporary directory>", pointmark.Name))
	take = []drivers.Step{
		{Phase: drivers.PhaseBackup, Note: "take the destination out of any recovery point before changing it: delete its marker " + pointmark.Name},
		{Phase: drivers.PhaseBackup, Command: &tc}}
	seal = []drivers.Step{
		{Phase: drivers.PhaseVerify, Note: "once verified, record the run's recovery point in the destination (a marker; without verification it stays in no point):"},
		{Phase: drivers.PhaseVerify, Command: &wc}}
	return take, seal
}
