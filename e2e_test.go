package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/internal/pgserver"
	sampledata "github.com/alexandria-backup/alexandria-backup/internal/sandbox"
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
	if _, err := sampledata.LoadSchema(ctx, srv.ConnString("alexandria"), 200, 1); err != nil {
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
	kept := dirNames(t, dumps)
	if len(kept) != 2 {
		t.Fatalf("keep_last = 2 left %v", kept)
	}

	// The database goes down: its target fails, the library still runs,
	// and retention leaves the two good dumps alone.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "run", "nightly", "--json", "-c", s.plan)
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
	if got := dirNames(t, dumps); strings.Join(got, ",") != strings.Join(kept, ",") {
		t.Fatalf("dumps changed after a failed run: %v → %v", kept, got)
	}
	if code, stdout, _ := runCLI(t, "verify", "db", "-c", s.plan); code != 0 || !strings.Contains(stdout, "db: verified") {
		t.Fatalf("verify: %d %s", code, stdout)
	}
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
