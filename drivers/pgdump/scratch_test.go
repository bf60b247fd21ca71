package pgdump_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/jackc/pgx/v5"
)

// scratchMarkers reads the scratch database markers in dir.
func scratchMarkers(t *testing.T, dir string) map[string]pgdump.ScratchMarker {
	t.Helper()
	out := map[string]pgdump.ScratchMarker{}
	for _, name := range drivertest.DirNames(t, dir) {
		if !pgdump.IsScratchMarker(name) {
			continue
		}
		p := filepath.Join(dir, name)
		m, err := pgdump.ReadScratchMarker(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("marker %s: %v, %v; want mode 0600", p, fi, err)
		}
		out[p] = m
	}
	return out
}

func TestIsScratchMarker(t *testing.T) {
	for name, want := range map[string]bool{
		"scratch-database-alexandria_drill_0123456789abcdef.json":          true,
		".scratch-database-alexandria_drill_0123456789abcdef.json.tmp-123": false, // atomicfile's temporary name
		"pgpass-123":        false,
		"drill-library-456": false,
	} {
		if got := pgdump.IsScratchMarker(name); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
}

// While a drill's scratch database exists, a marker in TempDir names it,
// its target and its server; once the drill dropped it, the marker is
// gone too.
func TestPgDumpDrillRecordsItsScratchDatabase(t *testing.T) {
	t.Parallel()
	f := drivertest.NewPgFixture(t)
	ctx := context.Background()
	tg := f.Target(t, drivers.Values{})
	if _, err := (pgdump.Driver{}).Backup(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	var during map[string]pgdump.ScratchMarker
	var dbs []string
	x := pgExecutor{before: func(_ context.Context, c proc.Command) {
		if c.Program == "pg_restore" && strings.Contains(strings.Join(c.Args, " "), "--single-transaction") {
			during = scratchMarkers(t, tg.TempDir)
			dbs = pgDrillDatabases(t, f.Srv)
		}
	}}
	if _, err := (pgdump.Driver{}).Drill(ctx, x, tg); err != nil {
		t.Fatal(err)
	}
	if len(during) != 1 || len(dbs) != 1 {
		t.Fatalf("while restoring: markers %v, scratch databases %v", during, dbs)
	}
	for _, m := range during {
		if m.Database != dbs[0] || m.Target != "database" || m.Server != pgdump.PgServer(tg) || m.PID != os.Getpid() || m.CreatedAt.IsZero() {
			t.Errorf("marker %+v; the scratch database is %s on %s", m, dbs[0], pgdump.PgServer(tg))
		}
	}
	if left := scratchMarkers(t, tg.TempDir); len(left) != 0 {
		t.Errorf("markers left after the drill: %v", left)
	}
	if left := pgDrillDatabases(t, f.Srv); len(left) != 0 {
		t.Errorf("scratch databases left after the drill: %v", left)
	}
}

// DropScratchDatabase drops a scratch database still in use, is content
// when it is gone already, and refuses every other name before connecting.
func TestDropScratchDatabase(t *testing.T) {
	t.Parallel()
	f := drivertest.NewPgFixture(t)
	ctx := context.Background()
	tg := f.Target(t, drivers.Values{})
	name := pgdump.PgDrillPrefix + "0123456789abcdef"
	if err := f.Srv.CreateDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	// A pg_restore of the killed drill may still be connected.
	conn, err := pgx.Connect(ctx, f.Srv.ConnString(name))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	for _, bad := range []string{"alexandria", "postgres", name + "0", strings.ToUpper(name)} {
		if err := pgdump.DropScratchDatabase(ctx, tg, bad); err == nil || !strings.Contains(err.Error(), "refusing to drop") {
			t.Errorf("%q: got %v", bad, err)
		}
	}
	if err := f.Srv.Exec(ctx, "alexandria", "SELECT 1"); err != nil {
		t.Fatalf("the source database is gone: %v", err)
	}
	restic := &drivers.Target{Name: "library", Driver: "restic", Impl: restic.Driver{}, Settings: drivers.Values{}}
	if err := pgdump.DropScratchDatabase(ctx, restic, name); err == nil {
		t.Error("dropped through a restic target")
	}

	if err := pgdump.DropScratchDatabase(ctx, tg, name); err != nil {
		t.Fatal(err)
	}
	if left := pgDrillDatabases(t, f.Srv); len(left) != 0 {
		t.Fatalf("still there: %v", left)
	}
	if err := pgdump.DropScratchDatabase(ctx, tg, name); err != nil {
		t.Errorf("dropping it again: %v", err)
	}
}
