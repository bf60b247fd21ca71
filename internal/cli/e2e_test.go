package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/alexandria-backup/alexandria-backup/internal/testenv/pgserver"
	sampledata "github.com/alexandria-backup/alexandria-backup/internal/testenv/sandbox"
)

// TestEndToEndDatabaseAndLibrary runs the real loop an operator runs from
// cron: a real PostgreSQL with the sample schema, pg_dump and restic
// targets, three runs, then a run while the database is down.
func TestEndToEndDatabaseAndLibrary(t *testing.T) {
	requireTool(t, "restic")
	requireTool(t, "pg_dump")
	srv := pgserver.ForTest(t)
	ctx := t.Context()
	if err := srv.CreateDatabase(ctx, "alexandria"); err != nil {
		t.Fatal(err)
	}
	counts, err := sampledata.LoadSchema(ctx, srv.ConnString("alexandria"), 200, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := newSandbox(t, `
[targets.db]
driver    = "pg_dump"
database  = "`+srv.URL("alexandria")+`"
dir       = "DUMPS"
keep_last = 2

[plans.nightly]
targets = ["db", "library"]
`)
	dumps := filepath.Join(s.dir, "nightly-dumps")
	src, _ := os.ReadFile(s.plan)
	os.WriteFile(s.plan, []byte(strings.Replace(string(src), `"DUMPS"`, `"`+dumps+`"`, 1)), 0o644)
	if _, _, err := sampledata.GenerateLibrary(s.lib, 50, 1); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "init", "--plan", "nightly", "-c", s.plan); code != 0 {
		t.Fatalf("init: %d\n%s", code, stderr)
	}
	for i := 0; i < 3; i++ {
		if code, _, stderr := runCLI(t, "run", "nightly", "-c", s.plan); code != 0 {
			t.Fatalf("run %d: exit %d\n%s", i, code, stderr)
		}
	}
	kept := dumpNames(t, dumps)
	if len(kept) != 2 {
		t.Fatalf("keep_last = 2 left %v", kept)
	}

	// Prove the backups restore: a drill of both, then real restores.
	code, stdout, stderr := runCLI(t, "drill", "--plan", "nightly", "-c", s.plan)
	if code != 0 || !strings.Contains(stdout, "db: drill passed") || !strings.Contains(stdout, "library: drill passed") {
		t.Fatalf("drill: exit %d\n%s%s", code, stdout, stderr)
	}
	if err := srv.CreateDatabase(ctx, "restored"); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCLI(t, "restore", "db", "--database", srv.URL("restored"), "--yes", "-c", s.plan); code != 0 {
		t.Fatalf("restore db: exit %d\n%s%s", code, stdout, stderr)
	}
	conn, err := pgx.Connect(ctx, srv.ConnString("restored"))
	if err != nil {
		t.Fatal(err)
	}
	var books int64
	err = conn.QueryRow(ctx, "SELECT count(*) FROM public.books").Scan(&books)
	conn.Close(ctx)
	if err != nil || books != counts["public.books"] {
		t.Fatalf("restored %d books (%v), the database had %d", books, err, counts["public.books"])
	}
	// A second restore into a database that now has tables needs --clean.
	if code, _, stderr := runCLI(t, "restore", "db", "--database", srv.URL("restored"), "--yes", "-c", s.plan); code != 1 || !strings.Contains(stderr, "--clean") {
		t.Fatalf("restore over tables without --clean: exit %d\n%s", code, stderr)
	}
	to := filepath.Join(t.TempDir(), "restored-library")
	if code, stdout, stderr := runCLI(t, "restore", "library", "--to", to, "-c", s.plan); code != 0 {
		t.Fatalf("restore library: exit %d\n%s%s", code, stdout, stderr)
	}
	sameTree(t, s.lib, filepath.Join(to, s.lib))

	// The database goes down: its target fails, the library still runs,
	// and retention leaves the two good dumps alone.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, "run", "nightly", "--json", "-c", s.plan)
	if code != 1 {
		t.Fatalf("run with the database down: exit %d, want 1\n%s", code, stderr)
	}
	var rep struct {
		Status  string
		Targets []struct{ Name, Status string }
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Status != "failed" || rep.Targets[0].Status != "failed" || rep.Targets[1].Status != "ok" {
		t.Fatalf("report %+v", rep)
	}
	if got := dumpNames(t, dumps); strings.Join(got, ",") != strings.Join(kept, ",") {
		t.Fatalf("dumps changed after a failed run: %v → %v", kept, got)
	}
	if len(dirNames(t, dumps)) != 4 {
		t.Fatalf("each dump has its manifest: %v", dirNames(t, dumps))
	}
	if code, stdout, _ := runCLI(t, "verify", "db", "-c", s.plan); code != 0 || !strings.Contains(stdout, "db: verified") {
		t.Fatalf("verify: %d %s", code, stdout)
	}
}

// sameTree fails unless every file under want has the same bytes under got.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(want, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		if strings.HasPrefix(rel, ".returns") || strings.HasPrefix(rel, "cache") {
			return nil // excluded from the backup
		}
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(got, rel))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs after the restore (%v)", rel, err)
		}
		n++
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("compared %d files: %v", n, err)
	}
}

// dumpNames lists the dumps in dir, leaving out their manifests.
func dumpNames(t *testing.T, dir string) []string {
	var out []string
	for _, n := range dirNames(t, dir) {
		if !strings.HasSuffix(n, ".manifest.json") {
			out = append(out, n)
		}
	}
	return out
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
