package pgdump_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

func TestPgDumpEveryFormat(t *testing.T) {
	f := drivertest.NewPgFixture(t)
	ctx := context.Background()
	d := pgdump.Driver{}
	for _, tc := range []struct {
		name     string
		settings drivers.Values
		suffix   string
	}{
		{"custom", drivers.Values{"compress": 6}, ".dump"},
		{"sql", drivers.Values{"format": "sql"}, ".sql"},
		{"sql.gz", drivers.Values{"format": "sql", "compress": 5}, ".sql.gz"},
		{"directory", drivers.Values{"format": "directory", "jobs": 2}, ".dir"},
		{"tar", drivers.Values{"format": "tar"}, ".tar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.settings["dir"] = filepath.Join(f.Dir, tc.name)
			tg := f.Target(t, tc.settings)
			if err := d.Preflight(ctx, f.X, tg); err != nil {
				t.Fatalf("preflight: %v", err)
			}
			a, err := d.Backup(ctx, f.X, tg)
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`/database-\d{8}T\d{6}Z`+regexp.QuoteMeta(tc.suffix)+`$`).MatchString(a.ID) || !a.Verified || a.Bytes <= 0 {
				t.Fatalf("artifact %+v", a)
			}
			fi, err := os.Stat(a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if want := os.FileMode(0o600); fi.IsDir() {
				if fi.Mode().Perm() != 0o700 {
					t.Errorf("dump dir mode %v", fi.Mode().Perm())
				}
			} else if fi.Mode().Perm() != want {
				t.Errorf("dump mode %v, want %v", fi.Mode().Perm(), want)
			}
			if names := drivertest.DirNames(t, tc.settings["dir"].(string)); len(names) != 2 || names[0] != filepath.Base(a.ID) || names[1] != filepath.Base(a.ID)+".manifest.json" {
				t.Errorf("dump dir holds %v, want only the dump and its manifest", names)
			}
			if err := d.Verify(ctx, f.X, tg, drivers.Artifact{}); err != nil {
				t.Errorf("verify latest: %v", err)
			}
			snaps, err := d.Snapshots(ctx, f.X, tg)
			if err != nil || len(snaps) != 1 || snaps[0].ID != a.ID || snaps[0].Bytes != a.Bytes {
				t.Errorf("snapshots %+v %v", snaps, err)
			}
		})
	}
}

// Two dumps in the same second get distinct names; neither is overwritten.
func TestPgDumpSameSecond(t *testing.T) {
	f := drivertest.NewPgFixture(t)
	drivertest.PinClock(t)
	d := pgdump.Driver{}
	tg := f.Target(t, nil)
	a, err := d.Backup(context.Background(), f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Backup(context.Background(), f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID || !strings.HasSuffix(b.ID, "database-20261126T020000Z-1.dump") {
		t.Fatalf("names %s and %s", a.ID, b.ID)
	}
	snaps, _ := d.Snapshots(context.Background(), f.X, tg)
	if len(snaps) != 2 || snaps[0].ID != b.ID {
		t.Fatalf("snapshots newest first: %+v", snaps)
	}
}

// truncate cuts a file to half its size.
func truncate(t *testing.T, path string) {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// A verifier must fail on a damaged dump, in every format, including the
// truncation that `pg_restore --list` does not notice.
func TestPgDumpVerifyCatchesTruncation(t *testing.T) {
	f := drivertest.NewPgFixture(t)
	ctx := context.Background()
	d := pgdump.Driver{}
	for _, tc := range []struct {
		name     string
		settings drivers.Values
		damage   func(t *testing.T, path string)
	}{
		{"custom", drivers.Values{}, truncate},
		{"sql", drivers.Values{"format": "sql"}, truncate},
		{"sql.gz", drivers.Values{"format": "sql", "compress": 6}, truncate},
		{"tar", drivers.Values{"format": "tar"}, truncate},
		{"directory", drivers.Values{"format": "directory"}, func(t *testing.T, path string) {
			// The biggest table's data file.
			files, _ := filepath.Glob(filepath.Join(path, "*.dat.gz"))
			var big string
			var size int64
			for _, p := range files {
				if fi, _ := os.Stat(p); fi.Size() > size {
					big, size = p, fi.Size()
				}
			}
			truncate(t, big)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.settings["dir"] = filepath.Join(f.Dir, "trunc-"+tc.name)
			tg := f.Target(t, tc.settings)
			a, err := d.Backup(ctx, f.X, tg)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, a.ID)
			err = d.Verify(ctx, f.X, tg, a)
			if err == nil {
				t.Fatal("verify passed a truncated dump")
			}
			t.Logf("verify failed as it must: %v", err)
			if tc.name == "custom" {
				// The trap this guards against: the table of contents
				// still reads.
				if _, err := f.X.Run(ctx, proc.Command{Program: "pg_restore", Args: []string{"--list", a.ID}}); err != nil {
					t.Logf("(pg_restore --list also failed here: %v)", err)
				}
			}
		})
	}
}

// shimPgDump puts a fake pg_dump first on PATH that writes part of a dump
// and exits with the given code.
func shimPgDump(t *testing.T, exitCode string) {
	dir := t.TempDir()
	script := `#!/bin/sh
for a in "$@"; do case "$a" in --file=*) out="${a#--file=}";; esac; done
printf 'PGDMP\001\016\000partial dump, the disk filled up' > "$out"
exit ` + exitCode + "\n"
	drivertest.WriteFile(t, dir, "pg_dump", script, 0o755)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// A failed or unreadable dump is never promoted, leaves no temporary file,
// and does not touch the dumps already there.
func TestPgDumpNeverPromotesAPartialDump(t *testing.T) {
	f := drivertest.NewPgFixture(t)
	ctx := context.Background()
	d := pgdump.Driver{}
	tg := f.Target(t, drivers.Values{})
	good, err := d.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	before := drivertest.DirNames(t, filepath.Dir(good.ID))

	for _, tc := range []struct{ name, exit string }{
		{"pg_dump fails", "1"},
		{"pg_dump claims success", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shimPgDump(t, tc.exit)
			_, err := d.Backup(ctx, f.X, tg)
			if err == nil {
				t.Fatal("a partial dump was accepted")
			}
			t.Logf("refused: %v", err)
			if got := drivertest.DirNames(t, filepath.Dir(good.ID)); strings.Join(got, ",") != strings.Join(before, ",") {
				t.Fatalf("dump dir changed: %v → %v", before, got)
			}
		})
	}
	// A complete, readable dump is still not kept when pg_dump says it
	// failed: the exit status decides, not whether the file reads back.
	t.Run("pg_dump fails after a complete dump", func(t *testing.T) {
		real, err := exec.LookPath("pg_dump")
		if err != nil {
			t.Fatal(err)
		}
		complete := filepath.Join(t.TempDir(), "complete.dump")
		dir := t.TempDir()
		drivertest.WriteFile(t, dir, "pg_dump", `#!/bin/sh
out=
for a in "$@"; do case "$a" in --file=*) out="${a#--file=}";; esac; done
"`+real+`" "$@" || exit
[ -z "$out" ] && exit 0 # --version
cp "$out" "`+complete+`"
echo 'pg_dump: error: query failed: server closed the connection' >&2
exit 1
`, 0o755)
		t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		_, err = d.Backup(ctx, f.X, tg)
		if err == nil || !strings.Contains(err.Error(), "server closed the connection") {
			t.Fatalf("a dump whose pg_dump exited 1: %v", err)
		}
		t.Logf("refused: %v", err)
		// The wrapper's copy proves the dump it refused was whole.
		if _, rerr := f.X.Run(ctx, proc.Command{Program: "pg_restore", Args: []string{"--file=/dev/null", complete}}); rerr != nil {
			t.Fatalf("the test proves nothing: the refused dump was not complete: %v", rerr)
		}
		if got := drivertest.DirNames(t, filepath.Dir(good.ID)); strings.Join(got, ",") != strings.Join(before, ",") {
			t.Fatalf("dump dir changed: %v → %v", before, got)
		}
		if left := drivertest.DirNames(t, tg.TempDir); len(left) != 0 {
			t.Fatalf("left in the temp dir: %v", left)
		}
	})
	t.Run("database missing", func(t *testing.T) {
		bad := f.Target(t, drivers.Values{"database": f.Srv.URL("no_such_db")})
		_, err := d.Backup(ctx, f.X, bad)
		if err == nil || !strings.Contains(err.Error(), `database "no_such_db" does not exist`) {
			t.Fatalf("got %v", err)
		}
		if got := drivertest.DirNames(t, filepath.Dir(good.ID)); len(got) != len(before) {
			t.Fatalf("dump dir changed: %v", got)
		}
	})
}

// A database value that looks like an option is passed as one --dbname
// word: pg_dump reads it as a (bad) connection string, never as --file.
func TestPgDumpOptionInjection(t *testing.T) {
	f := drivertest.NewPgFixture(t)
	pwned := filepath.Join(f.Dir, "pwned.sql")
	tg := f.Target(t, drivers.Values{"database": "--file=" + pwned})
	_, err := pgdump.Driver{}.Backup(context.Background(), f.X, tg)
	if err == nil {
		t.Fatal("backup of an option-shaped database succeeded")
	}
	if _, serr := os.Stat(pwned); serr == nil {
		t.Fatalf("pg_dump wrote %s: the value became an option", pwned)
	}
	if names := drivertest.DirNames(t, tg.Settings.Str("dir")); len(names) != 0 {
		t.Fatalf("left behind %v", names)
	}
}

// With password authentication: the password goes from password_file into
// a private pgpass, never into argv or any logged command, and is removed
// afterwards; an open password file is refused.
func TestPgDumpPasswordFile(t *testing.T) {
	f := drivertest.NewPgFixture(t)
	ctx := context.Background()
	const pw = "p@ss:word\\with-specials"
	if err := f.Srv.Exec(ctx, "alexandria", `CREATE ROLE backup LOGIN PASSWORD 'p@ss:word\with-specials';
		GRANT SELECT ON ALL TABLES IN SCHEMA public TO backup;
		GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO backup;`); err != nil {
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

	var logged []string
	x := proc.ProcessExecutor{Log: func(c string) { logged = append(logged, c) }}
	url := strings.Replace(f.Srv.URL("alexandria"), "postgres@", "backup@", 1)
	tg := f.Target(t, drivers.Values{"database": url})
	t.Setenv("PGPASSFILE", "/nonexistent") // no fallback to the user's ~/.pgpass

	if _, err := (pgdump.Driver{}).Backup(ctx, x, tg); err == nil {
		t.Fatal("without a password the dump must fail (is auth really on?)")
	}
	tg.Settings["password_file"] = drivertest.WriteFile(t, f.Dir, "db.pass", pw+"\n", 0o600)
	d := pgdump.Driver{}
	if err := d.Preflight(ctx, x, tg); err != nil {
		t.Fatalf("preflight with password_file: %v", err)
	}
	a, err := d.Backup(ctx, x, tg)
	if err != nil {
		t.Fatalf("backup with password_file: %v", err)
	}
	for _, c := range logged {
		if strings.Contains(c, "p@ss") {
			t.Fatalf("password in a command line: %s", c)
		}
	}
	if names := drivertest.DirNames(t, tg.TempDir); len(names) != 0 {
		t.Fatalf("private pgpass left behind: %v", names)
	}
	if a.ID == "" {
		t.Fatal("no artifact")
	}
	os.Chmod(tg.Settings.Str("password_file"), 0o644)
	if _, err := d.Backup(ctx, x, tg); err == nil || !strings.Contains(err.Error(), "must not be accessible by group or others") {
		t.Fatalf("a 0644 password file must be refused: %v", err)
	}
}

// pg_dump refuses servers newer than itself; the preflight says so first.
func TestPgDumpPreflightVersion(t *testing.T) {
	f := drivertest.NewPgFixture(t)
	tg := f.Target(t, nil)
	old := drivertest.Scripted{Res: proc.Result{Stdout: []byte("pg_dump (PostgreSQL) 9.6.24\n")}}
	err := pgdump.Driver{}.Preflight(context.Background(), old, tg)
	if err == nil || !strings.Contains(err.Error(), "pg_dump 9 is older than the PostgreSQL") {
		t.Fatalf("got %v", err)
	}
	bad := f.Target(t, drivers.Values{"database": f.Srv.URL("no_such_db")})
	if err := (pgdump.Driver{}).Preflight(context.Background(), f.X, bad); err == nil {
		t.Fatal("preflight against a missing database passed")
	}
}

// A run asks pg_dump its version once (the preflight and the manifest both
// need it), and reads a custom dump back in one pass: one pg_restore,
// reading standard input, whose SHA-256 is the manifest's.
func TestPgDumpAsksOnceReadsOnce(t *testing.T) {
	f := drivertest.NewPgFixture(t)
	ctx := proc.WithMemo(context.Background())
	d := pgdump.Driver{}
	tg := f.Target(t, drivers.Values{"dir": filepath.Join(f.Dir, "once")})
	x := &drivertest.CountingExecutor{}
	if err := d.Preflight(ctx, x, tg); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	a, err := d.Backup(ctx, x, tg)
	if err != nil {
		t.Fatal(err)
	}
	versions, reads := 0, 0
	for _, c := range x.Runs {
		if strings.HasPrefix(c, "pg_dump --version") {
			versions++
		}
		if strings.HasPrefix(c, "pg_restore") {
			reads++
			if strings.Contains(c, tg.Name) {
				t.Errorf("pg_restore names the dump instead of reading the one pass: %s", c)
			}
		}
	}
	if versions != 1 || reads != 1 {
		t.Fatalf("pg_dump --version ran %d times, pg_restore %d times, want 1 and 1: %q", versions, reads, x.Runs)
	}
	if err := d.Verify(context.Background(), proc.ProcessExecutor{}, tg, a); err != nil {
		t.Fatalf("the dump read in one pass does not verify: %v", err)
	}
}
