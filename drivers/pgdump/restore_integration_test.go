package pgdump_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// One server for the restore tests (starting one costs about a second).
func TestPgDumpRestore(t *testing.T) {
	t.Parallel()
	f := drivertest.NewPgRestoreFixture(t)
	t.Run("formats", func(t *testing.T) { testPgRestoreFormats(t, f) })
	t.Run("refusals", func(t *testing.T) { testPgRestoreRefusals(t, f) })
	// Last: it restores into the source database.
	t.Run("defaults", func(t *testing.T) { testPgRestoreDefaults(t, f) })
}

// Restores of every format into an empty database bring back exactly the
// dumped counts; a database with tables is refused without Clean (and left
// alone), replaced with it.
func testPgRestoreFormats(t *testing.T, f *drivertest.PgFixture) {
	ctx := context.Background()
	d := pgdump.Driver{}
	source := pgCounts(t, f.Srv, "alexandria")
	newDB := func(t *testing.T, name string) {
		t.Helper()
		if err := f.Srv.CreateDatabase(ctx, name); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name     string
		settings drivers.Values
	}{
		{"custom", drivers.Values{"compress": 6}},
		{"sql", drivers.Values{"format": "sql"}},
		{"sql.gz", drivers.Values{"format": "sql", "compress": 5}},
		{"directory", drivers.Values{"format": "directory", "jobs": 2}},
		{"tar", drivers.Values{"format": "tar"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.settings["dir"] = filepath.Join(f.Dir, "restore-"+tc.name)
			tg := f.Target(t, tc.settings)
			a, err := d.Backup(ctx, f.X, tg)
			if err != nil {
				t.Fatal(err)
			}
			db := "r_" + strings.ReplaceAll(tc.name, ".", "_")
			newDB(t, db)
			res, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{Database: db})
			if err != nil {
				t.Fatal(err)
			}
			if res.From != a.ID || res.Files != len(source) || !strings.HasSuffix(res.Where, "/"+db+"?sslmode=disable") {
				t.Errorf("result %+v", res)
			}
			if got := pgCounts(t, f.Srv, db); !sameCounts(got, source) {
				t.Fatalf("restored %v, source %v", got, source)
			}

			// Again, into the now non-empty database: refused, untouched.
			if err := f.Srv.Exec(ctx, db, "DELETE FROM books WHERE id <= 10; CREATE TABLE junk (x int)"); err != nil {
				t.Fatal(err)
			}
			_, err = d.Restore(ctx, f.X, tg, drivers.RestoreRequest{Database: db})
			if err == nil || !strings.Contains(err.Error(), "already has 8 tables") || !strings.Contains(err.Error(), "--clean") {
				t.Fatalf("restore into a database with tables: %v", err)
			}
			if got := pgCounts(t, f.Srv, db); got["public.books"] != 2990 {
				t.Fatalf("a refused restore changed the database: %v", got)
			}

			// With Clean: the dump's tables are replaced.
			if _, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{Database: db, Clean: true}); err != nil {
				t.Fatal(err)
			}
			got := pgCounts(t, f.Srv, db)
			if got["public.books"] != 3000 {
				t.Fatalf("clean restore: %v", got)
			}
			// pg_restore --clean drops what the dump holds; a plain dump's
			// clean drops every schema first.
			_, junk := got["public.junk"]
			delete(got, "public.junk")
			if !sameCounts(got, source) || junk != (tc.name != "sql" && tc.name != "sql.gz") {
				t.Fatalf("clean restore: %v (junk kept: %v)", got, junk)
			}
		})
	}
}

// Scenario "database corruption": restore --clean into the plan's own
// database (the default), from a dump named by base name or by path.
func testPgRestoreDefaults(t *testing.T, f *drivertest.PgFixture) {
	ctx := context.Background()
	d := pgdump.Driver{}
	source := pgCounts(t, f.Srv, "alexandria")
	tg := f.Target(t, drivers.Values{"dir": filepath.Join(f.Dir, "defaults")})
	old, err := d.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Srv.Exec(ctx, "alexandria", "DELETE FROM users"); err != nil {
		t.Fatal(err)
	}
	newest, err := d.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Srv.Exec(ctx, "alexandria", "DELETE FROM books WHERE id > 100"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{}); err == nil || !strings.Contains(err.Error(), "--clean") {
		t.Fatalf("restore into the plan's database without clean: %v", err)
	}
	res, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{Clean: true})
	if err != nil || res.From != newest.ID {
		t.Fatalf("default is the newest dump: %+v %v", res, err)
	}
	if got := pgCounts(t, f.Srv, "alexandria"); got["public.books"] != 3000 || got["public.users"] != 0 {
		t.Fatalf("after restoring the newest: %v", got)
	}
	for _, from := range []string{filepath.Base(old.ID), old.ID} {
		res, err = d.Restore(ctx, f.X, tg, drivers.RestoreRequest{From: from, Clean: true})
		if err != nil || res.From != old.ID {
			t.Fatalf("--from %s: %+v %v", from, res, err)
		}
		if got := pgCounts(t, f.Srv, "alexandria"); !sameCounts(got, source) {
			t.Fatalf("after restoring %s: %v", from, got)
		}
	}
	if _, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{From: "database-20200101T000000Z.dump"}); err == nil || !strings.Contains(err.Error(), "is not one of target database's dumps") {
		t.Fatalf("a missing dump: %v", err)
	}
	if _, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{File: old.ID + ".manifest.json"}); err == nil || !strings.Contains(err.Error(), "restore the dump itself") {
		t.Fatalf("a manifest as the dump: %v", err)
	}
	partial := filepath.Join(filepath.Dir(old.ID), ".database-20261126T020000Z.dump.partial")
	drivertest.WriteFile(t, filepath.Dir(partial), filepath.Base(partial), "PGDMP", 0o600)
	if _, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{From: filepath.Base(partial)}); err == nil || !strings.Contains(err.Error(), "is not one of") {
		t.Fatalf("an unfinished dump by name: %v", err)
	}
	if _, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{File: partial, Unverified: true}); err == nil || !strings.Contains(err.Error(), "never restored") {
		t.Fatalf("an unfinished dump: %v", err)
	}
	if _, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: "/tmp/x"}); err == nil {
		t.Fatal("a pg_dump restore accepted a directory")
	}
}

// A restore refuses a dump that does not match its manifest before
// touching the database; a database that does not exist is not created; a
// plain dump cut short at a statement boundary commits nothing; a dump
// whose roles are missing rolls back and says to create them.
func testPgRestoreRefusals(t *testing.T, f *drivertest.PgFixture) {
	ctx := context.Background()
	d := pgdump.Driver{}
	tables := func(db string) int { return len(pgCounts(t, f.Srv, db)) }

	t.Run("flipped byte", func(t *testing.T) {
		tg := f.Target(t, drivers.Values{"dir": filepath.Join(f.Dir, "flip")})
		a, err := d.Backup(ctx, f.X, tg)
		if err != nil {
			t.Fatal(err)
		}
		pgFlipByte(t, a.ID)
		f.Srv.CreateDatabase(ctx, "flip")
		_, err = d.Restore(ctx, f.X, tg, drivers.RestoreRequest{Database: "flip"})
		if err == nil || !strings.Contains(err.Error(), "SHA-256") || !strings.Contains(err.Error(), "not touched") {
			t.Fatalf("got %v", err)
		}
		if n := tables("flip"); n != 0 {
			t.Fatalf("the database was touched: %d tables", n)
		}
	})

	t.Run("missing database", func(t *testing.T) {
		tg := f.Target(t, drivers.Values{"dir": filepath.Join(f.Dir, "missing")})
		if _, err := d.Backup(ctx, f.X, tg); err != nil {
			t.Fatal(err)
		}
		_, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{Database: "no_such_db"})
		if err == nil || !strings.Contains(err.Error(), `database "no_such_db" does not exist`) || !strings.Contains(err.Error(), "createdb") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("plain dump cut at a statement", func(t *testing.T) {
		tg := f.Target(t, drivers.Values{"dir": filepath.Join(f.Dir, "cut"), "format": "sql"})
		a, err := d.Backup(ctx, f.X, tg)
		if err != nil {
			t.Fatal(err)
		}
		// Keep everything up to the end of the first COPY block: every
		// statement in it is complete, so psql alone would run them all.
		b, _ := os.ReadFile(a.ID)
		end := bytes.Index(b, []byte("\n\\.\n"))
		if end < 0 {
			t.Fatal("no COPY block in the dump")
		}
		os.WriteFile(a.ID, b[:end+4], 0o600)
		os.Remove(a.ID + ".manifest.json") // an old dump: nothing to check it against first
		f.Srv.CreateDatabase(ctx, "cut")
		_, err = d.Restore(ctx, f.X, tg, drivers.RestoreRequest{Database: "cut", Unverified: true})
		if err == nil || !strings.Contains(err.Error(), "is incomplete") {
			t.Fatalf("got %v", err)
		}
		t.Logf("refused: %v", err)
		if n := tables("cut"); n != 0 {
			t.Fatalf("half a restore was committed: %d tables", n)
		}
	})

	t.Run("missing role", func(t *testing.T) {
		if err := f.Srv.CreateDatabase(ctx, "owned"); err != nil {
			t.Fatal(err)
		}
		if err := f.Srv.Exec(ctx, "owned", `CREATE ROLE librarian; CREATE TABLE shelves (id int); INSERT INTO shelves VALUES (1), (2);
			ALTER TABLE shelves OWNER TO librarian`); err != nil {
			t.Fatal(err)
		}
		tg := f.Target(t, drivers.Values{"dir": filepath.Join(f.Dir, "owned"), "database": f.Srv.URL("owned")})
		plain := f.Target(t, drivers.Values{"dir": filepath.Join(f.Dir, "owned-sql"), "database": f.Srv.URL("owned"), "format": "sql"})
		for _, tg := range []*drivers.Target{tg, plain} {
			if _, err := d.Backup(ctx, f.X, tg); err != nil {
				t.Fatal(err)
			}
		}
		// As on a new server: the role is gone.
		if err := f.Srv.Exec(ctx, "owned", "REASSIGN OWNED BY librarian TO postgres; DROP ROLE librarian"); err != nil {
			t.Fatal(err)
		}
		f.Srv.CreateDatabase(ctx, "newserver")
		for _, tg := range []*drivers.Target{tg, plain} {
			_, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{Database: "newserver"})
			if err == nil || !strings.Contains(err.Error(), `role "librarian" does not exist`) || !strings.Contains(err.Error(), "create the dump's roles") {
				t.Fatalf("%s: got %v", tg.Settings.Str("format"), err)
			}
			t.Logf("refused: %v", err)
			if n := tables("newserver"); n != 0 {
				t.Fatalf("a failed restore left %d tables", n)
			}
		}
		// A drill restores without owners: it passes all the same.
		if res, err := d.Drill(ctx, f.X, tg); err != nil || res.Checked != 1 {
			t.Fatalf("drill without the role: %+v %v", res, err)
		}
		if err := f.Srv.Exec(ctx, "postgres", "CREATE ROLE librarian"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{Database: "newserver"}); err != nil {
			t.Fatalf("with the role created: %v", err)
		}
		if got := pgCounts(t, f.Srv, "newserver"); got["public.shelves"] != 2 {
			t.Fatalf("restored %v", got)
		}
	})
}
