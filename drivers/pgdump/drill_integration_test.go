package pgdump_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/pgserver"
	"github.com/jackc/pgx/v5"
)

// pgDrillDatabases lists the scratch databases left on the server.
func pgDrillDatabases(t *testing.T, srv *pgserver.Server) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.ConnString("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1", pgdump.PgDrillPrefix+"%")
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// A drill passes on a good dump of each format, and fails on each kind of
// damage, naming it; the scratch database is gone afterwards every time.
func TestPgDumpDrill(t *testing.T) {
	t.Parallel()
	f := drivertest.NewPgRestoreFixture(t)
	ctx := context.Background()
	d := pgdump.Driver{}

	for _, tc := range []struct {
		name     string
		settings drivers.Values
		backupX  proc.Executor // default f.x
		damage   func(t *testing.T, dump string)
		wantErr  string // "" = the drill passes
	}{
		{name: "custom", settings: drivers.Values{}},
		{name: "sql.gz", settings: drivers.Values{"format": "sql", "compress": 4}},
		{name: "directory", settings: drivers.Values{"format": "directory"}},
		{name: "truncated", settings: drivers.Values{}, damage: truncate, wantErr: "SHA-256"},
		{name: "truncated, no manifest", settings: drivers.Values{},
			damage: func(t *testing.T, dump string) {
				truncate(t, dump)
				os.Remove(dump + ".manifest.json")
			},
			wantErr: "does not restore"},
		// pg_restore 15 would spin forever on this one.
		{name: "truncated tar, no manifest", settings: drivers.Values{"format": "tar"},
			damage: func(t *testing.T, dump string) {
				truncate(t, dump)
				os.Remove(dump + ".manifest.json")
			},
			wantErr: "the tar archive is damaged"},
		{name: "flipped byte", settings: drivers.Values{}, damage: pgFlipByte, wantErr: "SHA-256"},
		{name: "flipped byte in plain sql", settings: drivers.Values{"format": "sql"}, damage: pgFlipByte, wantErr: "SHA-256"},
		// The dump holds one row fewer than the snapshot had.
		{name: "deleted row", settings: drivers.Values{},
			damage: func(t *testing.T, dump string) {
				m := pgReadManifest(t, dump)
				for i := range m.Tables {
					if m.Tables[i].Name == "books" {
						m.Tables[i].Rows++
					}
				}
				pgWriteManifest(t, dump, m)
			},
			wantErr: "table public.books has 3000 rows, the manifest says 3001"},
		{name: "missing and extra table", settings: drivers.Values{},
			damage: func(t *testing.T, dump string) {
				m := pgReadManifest(t, dump)
				for i := range m.Tables {
					if m.Tables[i].Name == `Shelf "A"` {
						m.Tables[i].Name = "Shelf B"
					}
				}
				pgWriteManifest(t, dump, m)
			},
			wantErr: `table "Cata log"."Shelf B" is missing (the manifest has 7 rows); table "Cata log"."Shelf ""A""" (7 rows) is not in the manifest`},
		{name: "no manifest", settings: drivers.Values{},
			damage:  func(t *testing.T, dump string) { os.Remove(dump + ".manifest.json") },
			wantErr: "restored into a scratch database without errors (7 tables), but it has no manifest"},
		// pg_dump dumped something other than what was counted (here:
		// its own snapshot, taken after 5 rows were deleted). Last: it
		// changes the source database.
		{name: "dump lacks rows", settings: drivers.Values{}, backupX: pgExecutor{before: func(ctx context.Context, c proc.Command) {
			if c.Program == "pg_dump" && len(c.Args) > 1 {
				if err := f.Srv.Exec(ctx, "alexandria", "DELETE FROM books WHERE id <= 5"); err != nil {
					t.Error(err)
				}
			}
		}, rewrite: func(c proc.Command) proc.Command {
			var args []string
			for _, a := range c.Args {
				if !strings.HasPrefix(a, "--snapshot=") {
					args = append(args, a)
				}
			}
			c.Args = args
			return c
		}}, wantErr: "table public.books has 2995 rows, the manifest says 3000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.settings["dir"] = filepath.Join(f.Dir, "drill-"+strings.NewReplacer(" ", "-", ",", "").Replace(tc.name))
			tg := f.Target(t, tc.settings)
			x := tc.backupX
			if x == nil {
				x = f.X
			}
			a, err := d.Backup(ctx, x, tg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.damage != nil {
				tc.damage(t, a.ID)
			}
			res, err := d.Drill(ctx, f.X, tg)
			if left := pgDrillDatabases(t, f.Srv); len(left) > 0 {
				t.Errorf("scratch databases left behind: %v", left)
			}
			if res.Artifact != a.ID {
				t.Errorf("drilled %q, want %q", res.Artifact, a.ID)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				want := regexp.MustCompile(`^7 tables, 3507 rows match the manifest of database-\d{8}T\d{6}Z\.(dump|sql\.gz|dir)$`)
				if res.Checked != 7 || !want.MatchString(res.Detail) {
					t.Fatalf("result %+v", res)
				}
				t.Logf("drill passed: %s", res.Detail)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
			}
			t.Logf("drill failed as it must: %v", err)
		})
	}
	if err := f.Srv.Exec(ctx, "alexandria", "SELECT 1"); err != nil {
		t.Fatalf("the source database is gone: %v", err)
	}
	t.Run("cancelled", func(t *testing.T) { testPgDrillCancelled(t, f) })
}

// Cancelled in the middle of the restore, the drill still drops its
// scratch database; a drill without dumps says so.
func testPgDrillCancelled(t *testing.T, f *drivertest.PgFixture) {
	d := pgdump.Driver{}
	tg := f.Target(t, drivers.Values{"dir": filepath.Join(f.Dir, "cancelled")})
	if _, err := d.Drill(context.Background(), f.X, tg); err == nil || !strings.Contains(err.Error(), "no dumps") {
		t.Fatalf("drill without dumps: %v", err)
	}
	if _, err := d.Backup(context.Background(), f.X, tg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var during []string
	x := pgExecutor{before: func(_ context.Context, c proc.Command) {
		if c.Program == "pg_restore" {
			during = pgDrillDatabases(t, f.Srv)
			cancel()
		}
	}}
	_, err := d.Drill(ctx, x, tg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if len(during) != 1 {
		t.Fatalf("no scratch database while restoring: %v", during)
	}
	if left := pgDrillDatabases(t, f.Srv); len(left) > 0 {
		t.Fatalf("scratch database %v left after cancellation", left)
	}
}
