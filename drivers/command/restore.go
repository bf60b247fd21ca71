package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

var _ drivers.Restorer = Driver{}

// Restore runs restore_command on one of the target's own backup files
// (the latest, or the one req.From names as `snapshots` lists it), after
// checking it as verify does: a file that fails verify_command, or cannot
// be read whole, is never handed to it. Where the data goes is the
// command's business, so there is no --to or --database.
func (c Driver) Restore(ctx context.Context, x proc.Executor, t *drivers.Target, req drivers.RestoreRequest) (drivers.RestoreResult, error) {
	switch {
	case req.File != "" || req.Unverified:
		return drivers.RestoreResult{}, errors.New("--file and --unverified are for pg_dump targets: restore one of this target's backup files with --from ID")
	case req.To != "" || req.Force || req.Database != "" || req.Clean:
		return drivers.RestoreResult{}, errors.New("a command target is restored by its restore_command, which decides where the data goes: give no --to, --force, --database or --clean")
	case !t.Settings.Has("restore_command"):
		return drivers.RestoreResult{}, drivers.KeyErr("restore_command", "not set for target %s: hand one of its files (see `snapshots %s`) to the application's own restore by hand, or set restore_command", t.Name, t.Name)
	}
	path, err := c.resolve(t, req.From)
	if err != nil {
		return drivers.RestoreResult{}, err
	}
	if err := c.check(ctx, x, t, path); err != nil {
		return drivers.RestoreResult{}, fmt.Errorf("%s does not verify, so it was not restored: %w", path, err)
	}
	cmd := cmdArgv(t, "restore_command", cmdInputWord, path)
	if !cmdUses(t.Settings.List("restore_command"), cmdInputWord) {
		f, err := os.Open(path)
		if err != nil {
			return drivers.RestoreResult{}, err
		}
		defer f.Close()
		cmd.Stdin = f
	}
	if _, err := x.Run(ctx, cmd); err != nil {
		return drivers.RestoreResult{}, err
	}
	return drivers.RestoreResult{From: path, Where: "what " + cmd.String() + " restores to", Files: -1}, nil
}

// resolve finds the backup file id names, as `snapshots` lists it or by
// its base name; "" is the newest. Nothing but the target's own files in
// dir: never a path from elsewhere, nor a symlink planted in dir.
func (c Driver) resolve(t *drivers.Target, id string) (string, error) {
	files, err := c.list(t)
	if err != nil {
		return "", err
	}
	if id == "" {
		if len(files) == 0 {
			return "", fmt.Errorf("no backups of target %s in %s", t.Name, t.Settings.Str("dir"))
		}
		return files[0].Path, nil
	}
	clean := filepath.Clean(id)
	for _, f := range files {
		if clean == filepath.Base(f.Path) || clean == filepath.Clean(f.Path) {
			return f.Path, nil
		}
	}
	return "", fmt.Errorf("--from %q is not one of target %s's backup files in %s (see `snapshots %s`)", id, t.Name, t.Settings.Str("dir"), t.Name)
}

func (Driver) PlainRestore(t *drivers.Target) []drivers.Step {
	dir, ext := t.Settings.Str("dir"), commandExt(t)
	file := filepath.Join(dir, t.Name+"-<TIME>."+ext)
	steps := []drivers.Step{drivers.RestoreNote("the newest backup file: ls -1 %s | tail -n 1", proc.ShellQuote(filepath.Join(dir, t.Name+"-"))+"*."+ext)}
	if !t.Settings.Has("restore_command") {
		return append(steps, drivers.RestoreNote("no restore_command: restore %s with the application's own tool", file))
	}
	if t.Settings.Has("verify_command") {
		steps = append(steps, cmdCheckSteps(t, "restore", file)...)
	}
	cmd := cmdArgv(t, "restore_command", cmdInputWord, file)
	steps = append(steps, drivers.RestoreCmd(cmd))
	if !cmdUses(t.Settings.List("restore_command"), cmdInputWord) {
		steps = append(steps, drivers.RestoreNote("with %s as its standard input", file))
	}
	return steps
}
