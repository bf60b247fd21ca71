package pgdump_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// drillCheckPassword is the drill role's password: nothing the check is
// handed but its private pgpass may hold it.
const drillCheckPassword = "dr1ll:check\\secret"

// writeScript writes an executable shell script into dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	return drivertest.WriteFile(t, dir, name, "#!/bin/sh\n"+body, 0o700)
}

// drill_check runs against the scratch database, with password
// authentication on: its verdict is the drill's, it sees the scratch
// database and only it, and the password reaches it only through the
// private pgpass file, never argv or the DSN.
func TestPgDumpDrillCheck(t *testing.T) {
	f := drivertest.NewPgFixture(t) // books: 3000 rows
	drivertest.RequireTool(t, "psql")
	ctx := context.Background()
	if err := f.Srv.Exec(ctx, "postgres", `CREATE ROLE driller LOGIN SUPERUSER PASSWORD 'dr1ll:check\secret'`); err != nil {
		t.Fatal(err)
	}
	hba := filepath.Join(f.Srv.DataDir, "pg_hba.conf")
	if err := os.WriteFile(hba, []byte("local all postgres trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Srv.Exec(ctx, "postgres", "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	t.Setenv("PGPASSFILE", "/nonexistent") // no fallback to the user's ~/.pgpass
	url := strings.Replace(f.Srv.URL("alexandria"), "postgres@", "driller@", 1)
	tg := f.Target(t, drivers.Values{"database": url,
		"password_file": drivertest.WriteFile(t, f.Dir, "db.pass", drillCheckPassword+"\n", 0o600)})
	d := pgdump.Driver{}
	if _, err := d.Backup(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	scripts := t.TempDir()

	// The check's view of the books table: a plain psql, as an
	// application's own script would run it.
	countBooks := func(want string) string {
		return `n=$(psql -X -A -t -v ON_ERROR_STOP=1 -c 'SELECT count(*) FROM books') || exit 2
[ "$n" = ` + want + ` ] || { echo "books has $n rows, want ` + want + `"; exit 1; }
echo "books: $n rows"
`
	}
	var lines strings.Builder
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&lines, "echo line %02d\n", i)
	}
	for _, tc := range []struct {
		name    string
		check   []string
		stop    bool     // end the drill's context once the check started
		wantErr []string // nil: the drill passes
		notErr  []string
	}{
		{name: "passes", check: []string{writeScript(t, scripts, "ok.sh", countBooks("3000"))}},
		{name: "sees a wrong count", check: []string{writeScript(t, scripts, "wrong.sh", countBooks("2999"))},
			wantErr: []string{"drill_check ", "wrong.sh exited 1: books has 3000 rows, want 2999", "2 tables, 3100 rows match the manifest of"}},
		{name: "exit 3 with output", check: []string{writeScript(t, scripts, "three.sh", lines.String()+"echo 'orphaned loans: 4' >&2\nexit 3\n"), "--strict"},
			wantErr: []string{"drill_check ", "three.sh --strict exited 3: ", "line 04 | line 05", "line 10 | orphaned loans: 4"},
			notErr:  []string{"line 03"}},
		{name: "killed", check: []string{writeScript(t, scripts, "killed.sh", "echo dying\nkill -KILL $$\n")},
			wantErr: []string{"killed.sh was killed by SIGKILL: dying"}},
		{name: "program missing", check: []string{filepath.Join(scripts, "missing.sh")},
			wantErr: []string{"drill_check ", "missing.sh could not run"}},
		// The drill's context ends (its timeout, a signal) while the
		// check runs: the check is stopped, the scratch database dropped.
		{name: "stopped", check: []string{writeScript(t, scripts, "slow.sh", "echo started\nexec sleep 60\n")}, stop: true,
			wantErr: []string{"drill_check ", "slow.sh: context canceled"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg.Settings["drill_check"] = tc.check
			dctx, cancel := context.WithCancel(ctx)
			defer cancel()
			x := pgExecutor{before: func(_ context.Context, c proc.Command) {
				if tc.stop && c.Program == tc.check[0] {
					time.AfterFunc(500*time.Millisecond, cancel)
				}
			}}
			began := time.Now()
			res, err := d.Drill(dctx, x, tg)
			if took := time.Since(began); took > 30*time.Second {
				t.Errorf("the drill took %v: the check was not stopped", took)
			}
			if left := pgDrillDatabases(t, f.Srv); len(left) > 0 {
				t.Errorf("scratch databases left behind: %v", left)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if want := "; drill_check " + tc.check[0] + " passed: books: 3000 rows"; !strings.HasSuffix(res.Detail, want) || !strings.HasPrefix(res.Detail, "2 tables, 3100 rows match") {
					t.Fatalf("detail %q, want it to end with %q", res.Detail, want)
				}
				t.Logf("drill passed: %s", res.Detail)
				return
			}
			if err == nil {
				t.Fatalf("the drill passed: %s", res.Detail)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, w := range tc.notErr {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q shows %q: more than the output's tail", err, w)
				}
			}
			if tc.stop && !errors.Is(err, context.Canceled) {
				t.Errorf("a check stopped with the drill says: %v", err)
			}
			t.Logf("drill failed as it must: %v", err)
		})
	}
	t.Run("environment", func(t *testing.T) { testPgDrillCheckEnv(t, f, tg, scripts) })
}

// The check gets the scratch database by name (PGDATABASE,
// ALEXANDRIA_DB_NAME) and as a DSN, both reach it while it still exists,
// and the password is in neither the DSN nor argv.
func testPgDrillCheckEnv(t *testing.T, f *drivertest.PgFixture, tg *drivers.Target, scripts string) {
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "env")
	script := writeScript(t, scripts, "env.sh", `out=$1
{
	echo "PGDATABASE=$PGDATABASE"
	echo "ALEXANDRIA_DB_NAME=$ALEXANDRIA_DB_NAME"
	echo "ALEXANDRIA_BACKUP_DRILL_DSN=$ALEXANDRIA_BACKUP_DRILL_DSN"
	echo "PGHOST=$PGHOST"
	echo "PGPORT=$PGPORT"
	echo "PGUSER=$PGUSER"
	echo "plain=$(psql -X -A -t -v ON_ERROR_STOP=1 -c 'SELECT current_database()')"
	echo "dsn=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$ALEXANDRIA_BACKUP_DRILL_DSN" -c 'SELECT current_database()')"
} > "$out"
env > "$out.all"
`)
	tg.Settings["drill_check"] = []string{script, out}
	var during []string
	var cmd proc.Command
	x := pgExecutor{before: func(_ context.Context, c proc.Command) {
		if c.Program == script {
			cmd = c
			during = pgDrillDatabases(t, f.Srv)
		}
	}}
	res, err := pgdump.Driver{}.Drill(ctx, x, tg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drill passed: %s", res.Detail)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		got[k] = v
	}
	name := got["PGDATABASE"]
	if !pgdump.IsScratchName(name) || got["ALEXANDRIA_DB_NAME"] != name {
		t.Fatalf("PGDATABASE %q, ALEXANDRIA_DB_NAME %q: want the same scratch database name", name, got["ALEXANDRIA_DB_NAME"])
	}
	if !slices.Equal(during, []string{name}) {
		t.Fatalf("scratch databases while the check ran: %v, want [%s]", during, name)
	}
	if left := pgDrillDatabases(t, f.Srv); len(left) > 0 {
		t.Fatalf("scratch database %v left after the check", left)
	}
	if got["plain"] != name || got["dsn"] != name {
		t.Fatalf("a plain psql reached %q, psql with the DSN %q; want %s", got["plain"], got["dsn"], name)
	}
	dsn := got["ALEXANDRIA_BACKUP_DRILL_DSN"]
	// The password: never in the DSN, argv, the command as shown, or any
	// variable but in the file PGPASSFILE names (gone afterwards).
	all, err := os.ReadFile(out + ".all")
	if err != nil {
		t.Fatal(err)
	}
	for what, s := range map[string]string{"the DSN": dsn, "argv": strings.Join(append([]string{cmd.Program}, cmd.Args...), " "),
		"the command as shown": cmd.String(), "the environment": string(all)} {
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, "dr1ll") {
				t.Errorf("the password is in %s: %s", what, l)
			}
		}
	}
	if !strings.Contains(dsn, "/"+name+"?") || !strings.Contains(dsn, "driller@127.0.0.1") {
		t.Fatalf("DSN %q does not name the scratch database on the plan's server", dsn)
	}
	if got["PGHOST"] != "127.0.0.1" || got["PGPORT"] != strconv.Itoa(f.Srv.Port()) || got["PGUSER"] != "driller" {
		t.Fatalf("PGHOST %q, PGPORT %q, PGUSER %q, from DSN %q", got["PGHOST"], got["PGPORT"], got["PGUSER"], dsn)
	}
	if !strings.Contains(string(all), "PGPASSFILE="+tg.TempDir+"/pgpass-") {
		t.Errorf("the check did not get the private pgpass: %s", all)
	}
	if names := drivertest.DirNames(t, tg.TempDir); len(names) != 0 {
		t.Fatalf("left in TempDir: %v", names)
	}
}

// A drill_check that names no program is refused when the plan loads,
// naming the key.
func TestPgDumpDrillCheckRefused(t *testing.T) {
	base := "[targets.db]\ndriver = \"pg_dump\"\ndatabase = \"postgres://a@localhost/db\"\ndir = \"/b\"\n"
	for _, tc := range []struct{ value, want string }{
		{`[]`, "must name a program, then its arguments"},
		{`[""]`, "the program (the first word) must not be empty"},
		{`["  ", "check"]`, "the program (the first word) must not be empty"},
		{`["-c", "check"]`, `must not start with "-"`},
		{`["./check.sh"]`, "is a relative path"},
		{`"uv run librarian check"`, "must be an array of strings, not a string"},
		{`["uv", 5]`, "must be an array of strings, not an array"},
		{`{ program = "uv" }`, "must be an array of strings, not a table"},
	} {
		path := filepath.Join(t.TempDir(), "plan.toml")
		os.WriteFile(path, []byte(base+"drill_check = "+tc.value+"\n"), 0o600)
		_, err := plan.Load(path)
		if err == nil || !strings.Contains(err.Error(), "targets.db.drill_check") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("drill_check = %s: want an error on targets.db.drill_check with %q, got: %v", tc.value, tc.want, err)
		}
	}
	path := filepath.Join(t.TempDir(), "plan.toml")
	os.WriteFile(path, []byte(base+`drill_check = ["uv", "run", "librarian", "check"]`+"\n"), 0o600)
	if _, err := plan.Load(path); err != nil {
		t.Fatalf("a good drill_check is refused: %v", err)
	}
}
