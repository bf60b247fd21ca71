package cli

import (
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/alexandria-backup/alexandria-backup/internal/testenv/pgserver"
	sampledata "github.com/alexandria-backup/alexandria-backup/internal/testenv/sandbox"
)

// readLibrary maps every file and symlink below dir (relative path) to
// its content (a symlink to "-> target"); nil when dir is missing.
func readLibrary(t *testing.T, dir string) map[string]string {
	t.Helper()
	if _, err := os.Lstat(dir); err != nil {
		return nil
	}
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			out[rel] = "-> " + target
			return err
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			out[rel] = string(data)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The complete loss of a server, as one command: after two runs (the
// library and the database changed in between), the database is dropped,
// the library and state_dir deleted. `recover --yes` brings back the
// NEWEST point's database and library, from the repositories alone,
// proven: row counts against the dump's manifest, every file against the
// restic snapshot; the library is byte for byte what it was at that run.
// `--point OLDER` brings back the older one (--clean over the database),
// `--root` lands everything below a directory in the original layout, and
// `--files-from` takes the files from the borg target instead. Every
// refusal touches nothing: no confirmation, an unknown point, a files
// target not in the point, a library path that exists and is not empty,
// a before_restore that fails.
// recoverySandbox is what losing a server is tried on: PostgreSQL with
// the sample schema in database alexandria, a small library at
// dir/srv/alexandria/library (a nested book and a symlink), and restic's
// and borg's password files in dir.
func recoverySandbox(t *testing.T) (srv *pgserver.Server, dir, lib string) {
	t.Helper()
	srv = pgserver.ForTest(t)
	if err := srv.CreateDatabase(t.Context(), "alexandria"); err != nil {
		t.Fatal(err)
	}
	if _, err := sampledata.LoadSchema(t.Context(), srv.ConnString("alexandria"), 50, 1); err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	lib = filepath.Join(dir, "srv", "alexandria", "library")
	os.MkdirAll(filepath.Join(lib, "books", "dune"), 0o755)
	os.WriteFile(filepath.Join(lib, "books", "dune", "dune.epub"), []byte("spice must flow"), 0o644)
	os.Symlink("books/dune/dune.epub", filepath.Join(lib, "latest"))
	os.WriteFile(filepath.Join(dir, "restic.pass"), []byte("restic-password\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "borg.pass"), []byte("borg-passphrase\n"), 0o600)
	t.Setenv("RESTIC_CACHE_DIR", filepath.Join(dir, "cache"))
	return srv, dir, lib
}

func TestRecoverAfterLosingTheServer(t *testing.T) {
	for _, tool := range []string{"restic", "borg", "pg_dump"} {
		requireTool(t, tool)
	}
	srv, dir, lib := recoverySandbox(t)
	ctx := t.Context()
	state := filepath.Join(dir, "state")
	os.WriteFile(filepath.Join(lib, "books", "gone.epub"), []byte("deleted before the second run"), 0o600)
	hooks := `before_restore = [["touch", "` + filepath.Join(dir, "before-ran") + `"]]
after_restore = [["touch", "` + filepath.Join(dir, "after-ran") + `"]]
`
	targets := `state_dir = "` + state + `"
[targets.db]
driver   = "pg_dump"
database = "` + srv.URL("alexandria") + `"
dir      = "` + filepath.Join(dir, "dumps") + `"

[targets.books]
driver = "borg"
repository = "` + filepath.Join(dir, "borg") + `"
passphrase_file = "` + filepath.Join(dir, "borg.pass") + `"
paths = ["` + lib + `"]
env = { BORG_BASE_DIR = "` + filepath.Join(dir, "borg-base") + `" }

[targets.files]
driver = "restic"
repository = "` + filepath.Join(dir, "restic") + `"
password_file = "` + filepath.Join(dir, "restic.pass") + `"
paths = ["` + lib + `"]
host = "test"

[plans.nightly]
targets = ["db", "books", "files"]
`
	planFile := filepath.Join(dir, "plan.toml")
	os.WriteFile(planFile, []byte(hooks+targets), 0o600)
	failingPlan := filepath.Join(dir, "failing-hook.toml")
	os.WriteFile(failingPlan, []byte(`before_restore = [["false"]]`+"\n"+targets), 0o600)

	if code, _, stderr := runCLI(t, "init", "--plan", "nightly", "-c", planFile); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	bookCount := func() int64 {
		t.Helper()
		conn, err := pgx.Connect(ctx, srv.URL("alexandria"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM public.publishers").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	dbExists := func() bool {
		return srv.Exec(ctx, "alexandria", "SELECT 1") == nil
	}
	var points []string
	var libs []map[string]string
	var counts []int64
	for i := 0; i < 2; i++ {
		if i == 1 {
			nextSecond()
			// Between the runs: the library and the database change.
			os.WriteFile(filepath.Join(lib, "books", "dune", "dune.epub"), []byte("the spice must flow, revised"), 0o644)
			os.WriteFile(filepath.Join(lib, "books", "new.epub"), []byte("arrived after the first run"), 0o644)
			os.Remove(filepath.Join(lib, "books", "gone.epub"))
			if err := srv.Exec(ctx, "alexandria", "INSERT INTO public.publishers (name) VALUES ('added between the runs'), ('and another')"); err != nil {
				t.Fatal(err)
			}
		}
		code, stdout, stderr := runCLI(t, "run", "nightly", "--json", "-c", planFile)
		var r struct{ Point string }
		if code != 0 || json.Unmarshal([]byte(stdout), &r) != nil || r.Point == "" {
			t.Fatalf("run %d: exit %d\n%s%s", i, code, stdout, stderr)
		}
		points, libs, counts = append(points, r.Point), append(libs, readLibrary(t, lib)), append(counts, bookCount())
	}
	if maps.Equal(libs[0], libs[1]) || counts[0] == counts[1] {
		t.Fatal("the two runs backed up the same library and database")
	}

	// The server is lost.
	if err := srv.Exec(ctx, "postgres", "DROP DATABASE alexandria WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "srv"), state} {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}

	// Refusals: each exits with its code, names the problem and touches
	// nothing.
	for _, tc := range []struct {
		name  string
		args  []string
		setup func()
		code  int
		want  string
	}{
		{"no confirmation", []string{"recover", "-c", planFile}, nil, 2, "--yes"},
		{"unknown point", []string{"recover", "--point", "20200101T000000Z-abcd", "--yes", "-c", planFile}, nil, 2, "no recovery point 20200101T000000Z-abcd"},
		{"point id shape", []string{"recover", "--point", "yesterday", "--yes", "-c", planFile}, nil, 2, "`points` lists them"},
		{"files target not in the point", []string{"recover", "--files-from", "db-copy", "--yes", "-c", planFile}, nil, 2, "holds no backup of target db-copy"},
		{"files target is the database", []string{"recover", "--files-from", "db", "--yes", "-c", planFile}, nil, 2, "--files-from db"},
		{"library path not empty", []string{"recover", "--yes", "-c", planFile}, func() {
			os.MkdirAll(lib, 0o755)
			os.WriteFile(filepath.Join(lib, "keep-me"), []byte("someone's"), 0o644)
		}, 2, lib + " exists and is not empty"},
		{"library path is a file", []string{"recover", "--yes", "-c", planFile}, func() {
			os.MkdirAll(filepath.Dir(lib), 0o755)
			os.WriteFile(lib, []byte("someone's"), 0o644)
		}, 2, lib + " exists (a file"},
		{"before_restore fails", []string{"recover", "--yes", "-c", failingPlan}, nil, 1, "before_restore hook false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(filepath.Join(dir, "srv"))
			if tc.setup != nil {
				tc.setup()
			}
			before := readLibrary(t, filepath.Join(dir, "srv"))
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Fatalf("exit %d, want %d and %q in:\n%s%s", code, tc.code, tc.want, stdout, stderr)
			}
			if dbExists() {
				t.Errorf("the database was created")
			}
			if after := readLibrary(t, filepath.Join(dir, "srv")); !maps.Equal(before, after) {
				t.Errorf("the files changed: %q, then %q", before, after)
			}
			if _, err := os.Stat(filepath.Join(dir, "before-ran")); err == nil {
				t.Errorf("before_restore ran")
			}
		})
	}
	os.RemoveAll(filepath.Join(dir, "srv"))

	// A database that has tables, without --clean: refused before
	// before_restore stops the application, the database as it was.
	if err := srv.CreateDatabase(ctx, "alexandria"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Exec(ctx, "alexandria", "CREATE TABLE someones (x int)"); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCLI(t, "recover", "--yes", "-c", planFile); code != 2 || !strings.Contains(stderr, "already has 1 tables") || !strings.Contains(stderr, "nothing was changed") {
		t.Fatalf("recover over a database with tables: exit %d, want 2\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "before-ran")); err == nil {
		t.Errorf("before_restore ran before the refusal")
	}
	if len(readLibrary(t, filepath.Join(dir, "srv"))) != 0 {
		t.Errorf("files were restored")
	}
	if err := srv.Exec(ctx, "postgres", "DROP DATABASE alexandria WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}

	type part struct {
		Target, Artifact string
		Restored, Proven bool
		Checked          int
	}
	var report struct {
		Point, From, Status string
		AfterRestore        string `json:"after_restore"`
		Database, Files     part
	}
	recoverJSON := func(args ...string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, append([]string{"recover", "--yes", "--json", "-c", planFile}, args...)...)
		report.AfterRestore = ""
		if err := json.Unmarshal([]byte(stdout), &report); code != 0 || err != nil {
			t.Fatalf("recover %v: exit %d\n%s%s", args, code, stdout, stderr)
		}
		if report.Status != "ok" || !report.Database.Proven || !report.Files.Proven || report.Database.Checked < 10 || report.Files.Checked != 2 || report.AfterRestore != "ran" {
			t.Fatalf("recover %v: %+v", args, report)
		}
	}

	// The newest point, from the repositories alone.
	recoverJSON()
	if report.Point != points[1] || report.From != "repositories" || report.Files.Target != "files" {
		t.Errorf("recovered %+v, want point %s from the repositories, files from the restic target", report, points[1])
	}
	if got := readLibrary(t, lib); !maps.Equal(got, libs[1]) {
		t.Errorf("library after recover: %q, want %q", got, libs[1])
	}
	if n := bookCount(); n != counts[1] {
		t.Errorf("the database has %d publishers, the newest point %d", n, counts[1])
	}
	for _, hook := range []string{"before-ran", "after-ran"} {
		if _, err := os.Stat(filepath.Join(dir, hook)); err != nil {
			t.Errorf("%s: %v", hook, err)
		}
	}
	if st, err := os.Stat(filepath.Join(lib, "books", "dune")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("a restored directory: %v, %v", st, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(lib), ".alexandria-recover-*"))
	if len(leftovers) > 0 {
		t.Errorf("staging directories left: %q", leftovers)
	}

	// The older point, over the database (--clean), the library deleted
	// again, its place now an empty directory (a fresh mount point).
	os.RemoveAll(lib)
	os.Mkdir(lib, 0o700)
	recoverJSON("--point", points[0], "--clean")
	if report.Point != points[0] {
		t.Errorf("recovered point %s, want %s", report.Point, points[0])
	}
	if got := readLibrary(t, lib); !maps.Equal(got, libs[0]) {
		t.Errorf("library after recover --point: %q, want the older %q", got, libs[0])
	}
	if st, _ := os.Stat(lib); st.Mode().Perm() != 0o755 {
		t.Errorf("the empty directory kept its mode %v, not the backup's", st.Mode())
	}
	if n := bookCount(); n != counts[0] {
		t.Errorf("the database has %d publishers, the older point %d", n, counts[0])
	}

	// Below --root, the original layout; the files from borg.
	root := filepath.Join(dir, "elsewhere")
	recoverJSON("--root", root, "--clean", "--files-from", "books")
	if report.Files.Target != "books" {
		t.Errorf("files from %s, want books", report.Files.Target)
	}
	if got := readLibrary(t, filepath.Join(root, lib)); !maps.Equal(got, libs[1]) {
		t.Errorf("library below --root: %q, want %q", got, libs[1])
	}
	if got := readLibrary(t, lib); !maps.Equal(got, libs[0]) {
		t.Errorf("recover --root changed the library in place: %q", got)
	}
}
