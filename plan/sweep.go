package plan

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// Sweep removes what a killed command left behind; call it only under the
// run lock (the CLI calls it once it holds the lock). It removes:
//   - partial backups in the targets' dump dirs (drivers.PartialBackups:
//     a dump is promoted by rename only once complete and verified, so a
//     partial one is never anyone's backup);
//   - what a driver recorded with a marker in the temporary directory
//     before creating it outside (drivers.MarkerSweeper: pg_dump's drill
//     scratch databases);
//   - everything else in the targets' temporary directory (state_dir/tmp):
//     private pgpass files holding a password, drill scratch directories,
//     streamed-dump manifests, restore staging, and the records of what a
//     backup wrote that its verify reads and removes (rsync's files sent,
//     borg's patterns file of the files stored). Only run, drill and
//     restore create files there, and they hold the lock while they do.
//
// Failures are logged, not fatal: a leftover must not stop the backup.
func (p *Plan) Sweep(ctx context.Context, log *slog.Logger) {
	removed := func(path, what string, err error) {
		if err != nil {
			log.Warn("could not remove a leftover of an interrupted run", "path", path, "error", err)
			return
		}
		log.Warn("removed a leftover of an interrupted run", "what", what, "path", path)
	}
	tmpDirs := map[string]bool{}
	for _, name := range p.Order {
		t := p.Targets[name]
		if t == nil {
			continue
		}
		if t.TempDir != "" {
			tmpDirs[t.TempDir] = true
		}
		partial, ok := t.Impl.(drivers.PartialBackups)
		if !ok {
			continue
		}
		for _, l := range t.Resources().Paths {
			if !l.Dumps {
				continue
			}
			entries, err := os.ReadDir(l.Path)
			if err != nil {
				continue // no dumps yet
			}
			for _, de := range entries {
				if partial.IsPartial(t, de.Name()) {
					leftover := filepath.Join(l.Path, de.Name())
					removed(leftover, "partial backup", removeAll(leftover))
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
			leftover := filepath.Join(dir, de.Name())
			if !p.sweepMarker(ctx, log, leftover) {
				removed(leftover, "temporary file", removeAll(leftover))
			}
		}
	}
}

// sweepMarker offers a temporary file to every driver of the plan that
// keeps markers there (drivers.MarkerSweeper); true when one handled it.
func (p *Plan) sweepMarker(ctx context.Context, log *slog.Logger, path string) bool {
	target := func(name string) *drivers.Target { return p.Targets[name] }
	seen := map[string]bool{}
	for _, name := range p.Order {
		t := p.Targets[name]
		if t == nil || seen[t.Driver] {
			continue
		}
		seen[t.Driver] = true
		if s, ok := t.Impl.(drivers.MarkerSweeper); ok && s.SweepMarker(ctx, log, path, target) {
			return true
		}
	}
	return false
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
