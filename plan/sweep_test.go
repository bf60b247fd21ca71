package plan

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Sweep removes exactly what killed runs left: every shape of a partial
// backup of the plan's own targets, never a promoted backup, another
// target's partial file or a stranger's file; every temporary file; and
// leaves a driver's marker to that driver (here one it refuses, so kept).
func TestSweepRemovesOnlyLeftovers(t *testing.T) {
	dir := t.TempDir()
	dumps, app, state := filepath.Join(dir, "dumps"), filepath.Join(dir, "app"), filepath.Join(dir, "state")
	src := []byte(`state_dir = "` + state + `"
[targets.db]
driver = "pg_dump"
database = "postgres://alexandria@localhost/alexandria"
dir = "` + dumps + `"
[targets.app]
driver = "command"
command = ["/bin/true", "{output}"]
dir = "` + app + `"
[plans.daily]
targets = ["db", "app"]
`)
	p, err := Parse("plan.toml", src, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{ // path: a leftover the sweep must remove
		"dumps/.db-20261126T020000Z.dump.partial":        true,
		"dumps/.db-20261126T020000Z-1.dump.partial":      true,
		"dumps/.db-20261126T020000Z.sql.gz.partial":      true,
		"dumps/.db-20261126T020000Z.dir.partial/toc.dat": true, // a directory dump
		"dumps/db-20261126T020000Z.dump":                 false,
		"dumps/db-20261126T020000Z.dump.manifest.json":   false,
		"dumps/.dbx-20261126T020000Z.dump.partial":       false, // another target's
		"dumps/.db-notes.partial":                        false, // not a name the driver writes
		"dumps/notes.txt":                                false,
		"app/.app-20261126T020000Z.backup.partial":       true,
		"app/.app-20261126T020000Z-2.backup.partial":     true,
		"app/app-20261126T020000Z.backup":                false,
		"app/.app-20261126T020000Z.tar.partial":          false, // not its extension
		"app/.other-20261126T020000Z.backup.partial":     false,
		"state/tmp/pgpass-123":                           true,
		"state/tmp/drill-456/lib/book.epub":              true,
		"state/tmp/scratch-database-x.json":              false, // pg_dump's marker, refused: not a scratch name
	}
	for f := range files {
		path := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		content := "x"
		if filepath.Base(f) == "scratch-database-x.json" {
			content = `{"database":"postgres","target":"db","server":"localhost:5432"}`
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	p.Sweep(context.Background(), slog.New(slog.NewTextHandler(&logs, nil)))
	for f, gone := range files {
		_, err := os.Stat(filepath.Join(dir, f))
		if gone != os.IsNotExist(err) {
			t.Errorf("%s: removed=%v, want %v", f, os.IsNotExist(err), gone)
		}
	}
	if !bytes.Contains(logs.Bytes(), []byte("refusing to drop a database that is not a drill's scratch database")) {
		t.Errorf("the refused marker was not reported:\n%s", logs.String())
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "state", "tmp")); !slices.ContainsFunc(left, func(e os.DirEntry) bool { return e.Name() == "scratch-database-x.json" }) {
		t.Error("the marker must stay until what it records is gone")
	}
}
