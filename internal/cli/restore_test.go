package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/alexandria-backup/alexandria-backup/internal/testenv/pgserver"
)

func TestRestoreUsage(t *testing.T) {
	s := newSandbox(t, "")
	nonEmpty := t.TempDir()
	os.WriteFile(filepath.Join(nonEmpty, "keep.txt"), []byte("mine"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"restore", "library"}, "restore library: say where with --to DIR"},
		{[]string{"restore", "library", "--to", "/tmp/x", "--clean"}, "--database and --clean are for pg_dump targets"},
		{[]string{"restore", "database", "--to", "/tmp/x"}, "database is a database target; restore it with --database DSN"},
		{[]string{"restore", "database", "extra"}, "restore: expected TARGET"},
		{[]string{"restore", "nope", "--to", "/tmp/x"}, `no target "nope"`},
		// A file from elsewhere, or skipping the checksum, is for dumps only.
		{[]string{"restore", "library", "--to", "/tmp/x", "--file", "/tmp/x.dump"}, "--file and --unverified are for pg_dump targets"},
		{[]string{"restore", "library", "--to", "/tmp/x", "--unverified"}, "--file and --unverified are for pg_dump targets"},
		{[]string{"restore", "database", "--from", "database-20261126T020000Z.dump", "--file", "/tmp/x.dump", "--yes"}, "--from ID or --file PATH, not both"},
		// Destructive without --yes and without a terminal: refused, nothing touched.
		{[]string{"restore", "database", "--clean"}, "restore database would overwrite database postgres://nobody@127.0.0.1:1/none (the plan's database), dropping its existing objects first; nothing was changed. Run it again with --yes"},
		{[]string{"restore", "library", "--to", nonEmpty, "--force"}, "would overwrite files in the non-empty directory " + nonEmpty},
	} {
		code, stdout, stderr := runCLI(t, append(tc.args, "-c", s.plan)...)
		if code != 2 || !strings.Contains(stdout+stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q in:\n%s%s", tc.args, code, tc.want, stdout, stderr)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(nonEmpty, "keep.txt")); string(b) != "mine" {
		t.Fatal("a refused restore touched the directory")
	}
	if _, err := os.Stat(s.state); err == nil {
		t.Fatal("a refused restore created state")
	}
}

func TestRunbook(t *testing.T) {
	// The runbook quotes the plan path as given: run from the repository's
	// root, where the example plan is.
	t.Chdir(repoRoot)
	code, stdout, stderr := runCLI(t, "runbook", "-c", "alexandria-backup.toml.example")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"## 1. Database corruption", "## 2. Complete server loss", "## 3. Migrating to a new server", "## 4. Testing the backups",
		"restore database --clean --yes",
		"pg_restore --exit-on-error --clean --if-exists --dbname=postgres://alexandria@localhost:5432/alexandria",
		// Server loss: ONE command, and by hand the same one database and
		// one library source recover chooses (restic before borg and the
		// mirror), put in place with the exact commands.
		"alexandria-backup --config alexandria-backup.toml.example recover --yes",
		"createdb --maintenance-db=postgres://alexandria@localhost:5432/postgres --template=template0 -- alexandria",
		"restic restore latest --host",
		"--tag=alexandria:library --target=/srv/alexandria/.alexandria-recover --include=/srv/alexandria/library",
		"mv -T /srv/alexandria/.alexandria-recover/srv/alexandria/library /srv/alexandria/library",
		"library-copy (restic), library-borg (borg), mirror (rsync) hold the same library",
		"On the old server, stop Alexandria first",
		"rclone copy --config=/etc/alexandria-backup/rclone.conf --ask-password=false --log-format= --exclude=/.alexandria-backup-point -- b2:alexandria-backups /srv/backup/restic",
		"restore offsite --to /srv/backup/restic",
		"alexandria-backup --config alexandria-backup.toml.example drill",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("runbook lacks %q", want)
		}
	}
	// Never a second source of the same data: the runbook used to restore
	// the library from every files target.
	for _, never := range []string{"borg extract", "rsync --archive", "restore library-borg", "restore mirror", "--to /srv/restore"} {
		if strings.Contains(stdout, never) {
			t.Errorf("runbook has %q:\n%s", never, stdout)
		}
	}
	code, stdout, _ = runCLI(t, "runbook", "--plan", "daily", "-c", "alexandria-backup.toml.example")
	if code != 0 || strings.Contains(stdout, "restic restore") || !strings.Contains(stdout, "restore database") {
		t.Fatalf("runbook --plan daily: %d\n%s", code, stdout)
	}
}

// From the command line: --from takes only an ID, a dump from elsewhere
// comes through --file and needs its manifest, and --unverified restores
// it anyway, saying its SHA-256 was not checked.
func TestRestoreFileNeedsItsChecksum(t *testing.T) {
	requireTool(t, "pg_dump")
	srv := pgserver.ForTest(t)
	ctx := t.Context()
	for _, db := range []string{"alexandria", "restored"} {
		if err := srv.CreateDatabase(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Exec(ctx, "alexandria", "CREATE TABLE books (id int); INSERT INTO books SELECT generate_series(1, 42)"); err != nil {
		t.Fatal(err)
	}
	s := newSandbox(t, "")
	src, _ := os.ReadFile(s.plan)
	os.WriteFile(s.plan, []byte(strings.Replace(string(src), "postgres://nobody@127.0.0.1:1/none", srv.URL("alexandria"), 1)), 0o644)
	if code, _, stderr := runCLI(t, "run", "all", "--target", "database", "-c", s.plan); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	dumps, _ := filepath.Glob(filepath.Join(s.dir, "dumps", "database-*.dump"))
	if len(dumps) != 1 {
		t.Fatalf("dumps: %v", dumps)
	}
	// A copy without its manifest, as if brought from another machine.
	elsewhere := filepath.Join(t.TempDir(), filepath.Base(dumps[0]))
	if out, err := exec.Command("cp", dumps[0], elsewhere).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	restore := func(args ...string) (int, string, string) {
		return runCLI(t, append([]string{"restore", "database", "--database", srv.URL("restored"), "--yes", "-c", s.plan}, args...)...)
	}
	books := func() int {
		conn, err := pgx.Connect(ctx, srv.ConnString("restored"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'books'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", elsewhere}, "give its path as --file PATH"},
		{[]string{"--from", elsewhere, "--unverified"}, "give its path as --file PATH"},
		{[]string{"--file", elsewhere}, "has no manifest"},
	} {
		code, stdout, stderr := restore(tc.args...)
		if code != 1 || !strings.Contains(stderr, tc.want) || books() != 0 {
			t.Fatalf("%v: exit %d, want 1 and %q, nothing restored:\n%s%s", tc.args, code, tc.want, stdout, stderr)
		}
	}
	code, stdout, stderr := restore("--file", elsewhere, "--unverified")
	if code != 0 || books() != 1 {
		t.Fatalf("--unverified: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "SHA-256 is not checked") || !strings.Contains(stdout, "its SHA-256 was not checked (--unverified)") {
		t.Fatalf("--unverified restored without saying the checksum was not checked:\n%s%s", stdout, stderr)
	}
	// Its own dump, by the ID snapshots lists: checked, no warning.
	code, stdout, stderr = restore("--from", filepath.Base(dumps[0]), "--clean")
	if code != 0 || strings.Contains(stdout+stderr, "not checked") {
		t.Fatalf("--from ID: exit %d\n%s%s", code, stdout, stderr)
	}

	// What the confirmation says follows what the database holds, asked
	// of the database (it said "would overwrite" of an empty one): an
	// empty one needs no --yes; one with tables is refused without
	// --clean, and with --clean needs confirming. No --yes below.
	if err := srv.CreateDatabase(ctx, "fresh"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, db string
		args     []string
		code     int
		want     string
	}{
		{"empty", "fresh", []string{"--json"}, 0, "database " + srv.URL("fresh") + " holds no tables: the restore creates them and overwrites nothing"},
		{"tables, no --clean", "alexandria", nil, 1, `already has 1 tables (e.g. public.books)`},
		{"tables, --clean", "alexandria", []string{"--clean"}, 2, "would overwrite database " + srv.URL("alexandria") + ", dropping its existing objects first; nothing was changed"},
	} {
		code, stdout, stderr := runCLI(t, append([]string{"restore", "database", "--database", srv.URL(tc.db), "-c", s.plan}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Contains(tc.name, "tables") && strings.Contains(stderr, "overwrites nothing") {
			t.Errorf("%s: exit %d, want %d and %q:\n%s%s", tc.name, code, tc.code, tc.want, stdout, stderr)
		}
		if tc.code == 0 {
			// --json: stdout is the document alone.
			var doc restoreJSON
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil || doc.Target != "database" || doc.Count != 1 || !doc.Checked || doc.Where == "" {
				t.Errorf("restore --json: %v %+v\n%s", err, doc, stdout)
			}
		}
	}
}
