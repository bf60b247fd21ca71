package plan

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
)

// Sweep removes what a killed command left behind; call it only under the
// run lock (the CLI calls it once it holds the lock). It removes:
//   - partial dumps of the plan's pg_dump targets in their dump dirs (a dump
//     is promoted by rename only once complete and verified: a .partial
//     is never anyone's backup);
//   - scratch databases of drills, each named by a marker the drill wrote
//     in the temporary directory before creating it (see sweepScratch);
//   - everything else in the targets' temporary directory (state_dir/tmp):
//     private pgpass files holding a password, drill scratch directories,
//     streamed-dump manifests and restore staging. Only run, drill and
//     restore create files there, and they hold the lock while they do.
//
// Scratch databases are never found by their alexandria_drill_ prefix: the
// database server is shared with other configurations and other hosts,
// whose drills this lock does not exclude. Only the markers in this
// state_dir say which are this configuration's, hence dead.
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
		for _, l := range t.Resources().Paths {
			if !l.Dumps {
				continue
			}
			entries, err := os.ReadDir(l.Path)
			if err != nil {
				continue // no dumps yet
			}
			for _, de := range entries {
				if pgdump.IsPartialDump(t.Name, de.Name()) {
					leftover := filepath.Join(l.Path, de.Name())
					removed(leftover, "partial dump", removeAll(leftover))
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
			if pgdump.IsScratchMarker(de.Name()) {
				p.sweepScratch(ctx, log, leftover)
				continue
			}
			removed(leftover, "temporary file", removeAll(leftover))
		}
	}
}

// ScratchDropTimeout bounds the drop of one leftover scratch database: an
// unreachable server must not hold up the backup for long.
const ScratchDropTimeout = 30 * time.Second

// sweepScratch drops the scratch database a killed drill recorded in the
// marker at path, then removes the marker. When it cannot (the target is
// gone from the plan or now points to another server, the server does not
// answer) it says so and keeps the marker: the next run tries again. A
// marker naming a database no drill would create is refused, and kept.
func (p *Plan) sweepScratch(ctx context.Context, log *slog.Logger, path string) {
	m, err := pgdump.ReadScratchMarker(path)
	if err != nil {
		log.Warn("could not read the record of a drill's scratch database", "path", path, "error", err)
		return
	}
	keep := func(msg string, args ...any) {
		log.Warn(msg, append([]any{"database", m.Database, "server", m.Server, "target", m.Target, "marker", path}, args...)...)
	}
	if !pgdump.IsScratchName(m.Database) {
		keep("refusing to drop a database that is not a drill's scratch database; remove the marker")
		return
	}
	byHand := "DROP DATABASE IF EXISTS " + m.Database + " WITH (FORCE)" // safe: 16 hex digits
	t := p.Targets[m.Target]
	switch {
	case t == nil || t.Facts().Role != drivers.RoleDatabase:
		keep("an interrupted drill left a scratch database, and its target is no longer a pg_dump target of the plan: drop the database by hand, then remove the marker", "fix", byHand)
		return
	case pgdump.PgServer(t) != m.Server:
		keep("an interrupted drill left a scratch database on a server its target no longer uses: drop the database there by hand, then remove the marker",
			"fix", byHand, "target_server", pgdump.PgServer(t))
		return
	}
	dctx, cancel := context.WithTimeout(ctx, ScratchDropTimeout)
	err = pgdump.DropScratchDatabase(dctx, t, m.Database)
	cancel()
	if err != nil {
		keep("could not drop the scratch database of an interrupted drill; the next run tries again", "error", err)
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		keep("dropped the scratch database of an interrupted drill, but could not remove its marker", "error", err)
		return
	}
	log.Warn("removed a leftover of an interrupted run", "what", "scratch database of a drill", "database", m.Database, "server", m.Server, "target", m.Target, "path", path)
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
