package pgdump_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// containerWrapper writes an exec_prefix program that stands for `docker
// exec -i`: it logs the tool's argv to log, then runs the tool as a
// container would. It refuses any argument naming a path under hostDir
// (the container cannot see the host's files), runs the tool from / with
// an environment of PATH alone (docker exec passes nothing of its own
// environment on: no PGPASSFILE, no PGPASSWORD), and connects the tool's
// standard input and output through pipes (docker's are pipes: a tool
// cannot seek in them). Like docker exec, it exits with the tool's code.
func containerWrapper(t *testing.T, hostDir, log string) string {
	t.Helper()
	drivertest.RequireTool(t, "bash")
	script := `#!/bin/bash
printf '%s\n' "$*" >> ` + proc.ShellQuote(log) + `
case "$*" in *` + proc.ShellQuote(hostDir) + `*)
	echo "container: no such file: a host path in $*" >&2; exit 97;;
esac
cd / || exit 96
cat | env -i PATH="$PATH" "$@" | cat
exit "${PIPESTATUS[1]}"
`
	return drivertest.WriteFile(t, t.TempDir(), "in-container", script, 0o755)
}

// toolsOutside records the PostgreSQL client tools an executor was asked
// to run directly, not behind the prefix.
type toolsOutside struct {
	x     proc.Executor
	mu    sync.Mutex
	names []string
}

func (o *toolsOutside) note(cs ...proc.Command) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range cs {
		switch filepath.Base(c.Program) {
		case "pg_dump", "pg_restore", "psql":
			o.names = append(o.names, c.String())
		}
	}
}

func (o *toolsOutside) Run(ctx context.Context, c proc.Command) (proc.Result, error) {
	o.note(c)
	return o.x.Run(ctx, c)
}

func (o *toolsOutside) RunPipe(ctx context.Context, from, to proc.Command, tap io.Writer) (proc.Result, proc.Result, error) {
	o.note(from, to)
	return o.x.(proc.Piper).RunPipe(ctx, from, to, tap)
}

// logHas fails the test unless the wrapper's log has a line starting with
// each of prefixes.
func logHas(t *testing.T, log string, prefixes ...string) {
	t.Helper()
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prefixes {
		found := false
		for _, line := range strings.Split(string(data), "\n") {
			found = found || strings.HasPrefix(line, p)
		}
		if !found {
			t.Errorf("no %q ran through the prefix; it ran:\n%s", p, data)
		}
	}
}

// Behind an exec_prefix that hides the host's files and environment, a
// backup to dir, its verify, a restore and a drill work in every format
// that streams, and every client tool ran through the prefix.
func TestExecPrefixDumpRestoreDrill(t *testing.T) {
	f := drivertest.NewPgRestoreFixture(t)
	ctx := context.Background()
	d := pgdump.Driver{}
	source := pgCounts(t, f.Srv, "alexandria")
	for _, tc := range []struct {
		name     string
		settings drivers.Values
		restorer string
	}{
		{"custom", drivers.Values{}, "pg_restore --format=custom"},
		{"tar", drivers.Values{"format": "tar"}, "pg_restore --format=tar"},
		{"sql.gz", drivers.Values{"format": "sql", "compress": 5}, "psql "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "tools.log")
			tc.settings["exec_prefix"] = []string{containerWrapper(t, f.Dir, log)}
			tc.settings["dir"] = filepath.Join(f.Dir, tc.name)
			tg := f.Target(t, tc.settings)
			// The host's own environment does not cross either: a password
			// file here would be no use in there.
			tg.Env = map[string]string{"PGPASSFILE": filepath.Join(f.Dir, "no-such-pgpass")}
			if err := d.Validate(tg); err != nil {
				t.Fatal(err)
			}
			x := &toolsOutside{x: proc.ProcessExecutor{}}
			if err := d.Preflight(ctx, x, tg); err != nil {
				t.Fatalf("preflight: %v", err)
			}
			a, err := d.Backup(ctx, x, tg)
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(a.ID); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != a.Bytes || !a.Verified {
				t.Fatalf("dump %+v: %v %v", a, fi, err)
			}
			if err := d.Verify(ctx, x, tg, drivers.Artifact{}); err != nil {
				t.Fatalf("verify: %v", err)
			}
			db := "prefixed_" + strings.ReplaceAll(tc.name, ".", "_")
			if err := f.Srv.CreateDatabase(ctx, db); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Restore(ctx, x, tg, drivers.RestoreRequest{Database: db}); err != nil {
				t.Fatalf("restore: %v", err)
			}
			if got := pgCounts(t, f.Srv, db); !sameCounts(got, source) {
				t.Fatalf("restored %v, source %v", got, source)
			}
			dr, err := d.Drill(ctx, x, tg)
			if err != nil || dr.Checked != len(source) {
				t.Fatalf("drill %+v: %v", dr, err)
			}
			logHas(t, log, "pg_dump --version", "pg_dump --format=", tc.restorer)
			if tc.name != "sql.gz" {
				logHas(t, log, "pg_restore --format="+tc.name+" --file=/dev/null") // the read-back
			}
			if len(x.names) > 0 {
				t.Errorf("ran outside the prefix: %v", x.names)
			}
		})
	}
}

// A dump streamed into restic goes through the prefix too: pg_dump's
// output into restic backup --stdin, the read-back, and a restore and a
// drill of the dump taken out of the repository.
func TestExecPrefixIntoRestic(t *testing.T) {
	f := drivertest.NewStreamFixture(t, "restic")
	ctx := context.Background()
	d := pgdump.Driver{}
	log := filepath.Join(t.TempDir(), "tools.log")
	delete(f.Target.Settings, "password_file") // refused with a prefix
	f.Target.Settings["exec_prefix"] = []string{containerWrapper(t, f.Pg.Dir, log)}
	if err := d.Validate(f.Target); err != nil {
		t.Fatal(err)
	}
	x := &toolsOutside{x: f.X}
	a, err := d.Backup(ctx, x, f.Target)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(ctx, x, f.Target, drivers.Artifact{ID: a.ID}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := f.Pg.Srv.CreateDatabase(ctx, "restored"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Restore(ctx, x, f.Target, drivers.RestoreRequest{Database: "restored"}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	source := pgCounts(t, f.Pg.Srv, "alexandria")
	if got := pgCounts(t, f.Pg.Srv, "restored"); !sameCounts(got, source) {
		t.Fatalf("restored %v, source %v", got, source)
	}
	if dr, err := d.Drill(ctx, x, f.Target); err != nil || dr.Checked != len(source) {
		t.Fatalf("drill %+v: %v", dr, err)
	}
	logHas(t, log, "pg_dump --version", "pg_dump --format=custom --compress=0", "pg_restore --format=custom --file=/dev/null",
		"pg_restore --format=custom --exit-on-error --single-transaction --no-password --dbname=")
	if len(x.names) > 0 {
		t.Errorf("ran outside the prefix: %v", x.names)
	}
}

// CheckTools asks the versions where the tools run: behind the prefix.
func TestExecPrefixCheckTools(t *testing.T) {
	drivertest.RequireTool(t, "pg_dump", "pg_restore")
	dir := t.TempDir()
	log := filepath.Join(dir, "tools.log")
	tg := &drivers.Target{Name: "db", Driver: "pg_dump", Settings: drivers.Values{
		"database": "postgres://app@localhost/app", "dir": filepath.Join(dir, "dumps"),
		"exec_prefix": []string{containerWrapper(t, filepath.Join(dir, "dumps"), log)}}}
	if err := (pgdump.Driver{}).CheckTools(context.Background(), proc.ProcessExecutor{}, tg); err != nil {
		t.Fatal(err)
	}
	logHas(t, log, "pg_dump --version", "pg_restore --version")

	// A container without the tools fails the check.
	tg.Settings["exec_prefix"] = []string{"env", "PATH=/nonexistent"}
	if err := (pgdump.Driver{}).CheckTools(context.Background(), proc.ProcessExecutor{}, tg); err == nil {
		t.Fatal("CheckTools passed behind a prefix that has no pg_dump")
	}
}
