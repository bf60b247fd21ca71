package cli

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/internal/points"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/rclonetest"
)

// A point that holds only a database dump and mirrors (rsync, rclone):
// the mirrors carry the newest verified run's point in their markers, so
// after the server and state_dir are lost, `points` finds them in it and
// `recover` brings back the database and the library from a mirror,
// proven against it. A point the mirror no longer holds is refused
// before anything is touched; a run without verification leaves the
// mirrors in no point.
func TestRecoverFromMirrors(t *testing.T) {
	for _, tool := range []string{"pg_dump", "rsync", "rclone"} {
		requireTool(t, tool)
	}
	srv, dir, lib := recoverySandbox(t)
	ctx := t.Context()
	state := filepath.Join(dir, "state")
	plan := filepath.Join(dir, "plan.toml")
	os.WriteFile(plan, []byte(`state_dir = "`+state+`"
[targets.db]
driver   = "pg_dump"
database = "`+srv.URL("alexandria")+`"
dir      = "`+filepath.Join(dir, "dumps")+`"

[targets.mirror]
driver      = "rsync"
source      = "`+lib+`/"
destination = "`+filepath.Join(dir, "mirror")+`"
delete      = true

[targets.offsite]
driver      = "rclone"
source      = "`+lib+`"
destination = "`+filepath.Join(dir, "offsite")+`"
config      = "`+rclonetest.WriteConfig(t, dir)+`"

[plans.nightly]
targets = ["db", "mirror", "offsite"]
`), 0o600)
	if code, _, stderr := runCLI(t, "init", "--plan", "nightly", "-c", plan); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	var runs []string
	var libs []map[string]string
	var counts []map[string]int64
	for i := 0; i < 2; i++ {
		if i == 1 {
			nextSecond()
			os.WriteFile(filepath.Join(lib, "books", "dune", "dune.epub"), []byte("the spice must flow, revised"), 0o644)
			os.WriteFile(filepath.Join(lib, "books", "new.epub"), []byte("arrived after the first run"), 0o644)
			if err := srv.Exec(ctx, "alexandria", "INSERT INTO public.publishers (name) VALUES ('added between the runs')"); err != nil {
				t.Fatal(err)
			}
		}
		code, stdout, stderr := runCLI(t, "run", "nightly", "--json", "-c", plan)
		var r struct{ Point string }
		if code != 0 || json.Unmarshal([]byte(stdout), &r) != nil || r.Point == "" {
			t.Fatalf("run %d: exit %d\n%s%s", i, code, stdout, stderr)
		}
		runs, libs, counts = append(runs, r.Point), append(libs, readLibrary(t, lib)), append(counts, tableCounts(t, ctx, srv.URL("alexandria")))
	}
	older, newer := runs[0], runs[1]

	// state_dir still knows the older point with its mirrors, but they
	// hold the newer one: refused before the database or any file is
	// touched (--clean passes the database's own check).
	root := filepath.Join(dir, "elsewhere")
	for _, files := range []string{"mirror", "offsite"} {
		code, stdout, stderr := runCLI(t, "recover", "--point", older, "--files-from", files, "--root", root, "--clean", "--yes", "-c", plan)
		if code != 1 || !strings.Contains(stderr, "holds recovery point "+newer) || !strings.Contains(stderr, "nothing was changed") {
			t.Fatalf("recover %s from %s: exit %d, want 1 and a refusal naming %s\n%s%s", older, files, code, newer, stdout, stderr)
		}
		if _, err := os.Lstat(root); !os.IsNotExist(err) {
			t.Fatalf("the refused recover created %s", root)
		}
		if got := tableCounts(t, ctx, srv.URL("alexandria")); !maps.Equal(got, counts[1]) {
			t.Fatalf("the refused recover changed the database: %v", got)
		}
	}

	// The server is lost.
	if err := srv.Exec(ctx, "postgres", "DROP DATABASE alexandria WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "srv"), state} {
		os.RemoveAll(p)
	}
	code, stdout, stderr := runCLI(t, "points", "--json", "-c", plan)
	var ps []points.Point
	if code != 0 || json.Unmarshal([]byte(stdout), &ps) != nil {
		t.Fatalf("points: exit %d\n%s%s", code, stdout, stderr)
	}
	names := func(p points.Point) []string {
		var out []string
		for _, tr := range p.Targets {
			out = append(out, tr.Name)
		}
		slices.Sort(out)
		return out
	}
	if len(ps) != 2 || ps[0].ID != newer || ps[0].Source != points.FromRepositories ||
		!slices.Equal(names(ps[0]), []string{"db", "mirror", "offsite"}) || !slices.Equal(names(ps[1]), []string{"db"}) {
		t.Fatalf("points from the repositories: %+v, want %s with db and both mirrors, %s with db alone", ps, newer, older)
	}

	// The newest point, from the mirrors alone: the rsync mirror first.
	code, stdout, stderr = runCLI(t, "recover", "--yes", "--json", "-c", plan)
	var rep recoverReport
	if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil {
		t.Fatalf("recover: exit %d\n%s%s", code, stdout, stderr)
	}
	if rep.Point != newer || rep.Files.Target != "mirror" || !rep.Files.Proven || !rep.Database.Proven || rep.Files.Checked != 2 {
		t.Fatalf("recover report %+v / files %+v", rep, rep.Files)
	}
	if got := readLibrary(t, lib); !maps.Equal(got, libs[1]) {
		t.Fatalf("recovered library %q, want %q", got, libs[1])
	}
	if got := tableCounts(t, ctx, srv.URL("alexandria")); !maps.Equal(got, counts[1]) {
		t.Fatalf("recovered database %v, want %v", got, counts[1])
	}

	// From the rclone destination, below --root, over the database.
	code, stdout, stderr = runCLI(t, "recover", "--files-from", "offsite", "--root", root, "--clean", "--yes", "--json", "-c", plan)
	rep = recoverReport{}
	if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil || rep.Files.Target != "offsite" || !rep.Files.Proven {
		t.Fatalf("recover --files-from offsite: exit %d\n%s%s", code, stdout, stderr)
	}
	// rclone copies no symlinks (the driver runs it without --links):
	// the destination never held "latest".
	noLinks := maps.Clone(libs[1])
	maps.DeleteFunc(noLinks, func(_, v string) bool { return strings.HasPrefix(v, "-> ") })
	if got := readLibrary(t, filepath.Join(root, lib)); !maps.Equal(got, noLinks) {
		t.Fatalf("recovered library %q, want %q", got, noLinks)
	}

	// A run without verification leaves the mirrors in no point.
	if code, stdout, stderr := runCLI(t, "run", "nightly", "--no-verify", "-c", plan); code != 0 && code != 3 {
		t.Fatalf("run --no-verify: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, target := range []string{"mirror", "offsite"} {
		code, stdout, stderr := runCLI(t, "snapshots", target, "--json", "-c", plan)
		if code != 0 || strings.Contains(stdout, `"point"`) || !strings.Contains(stdout, "in no recovery point") {
			t.Errorf("snapshots %s after an unverified run: exit %d\n%s%s", target, code, stdout, stderr)
		}
	}
}
