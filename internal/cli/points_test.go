package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/internal/points"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/pgserver"
	sampledata "github.com/alexandria-backup/alexandria-backup/internal/testenv/sandbox"
)

// Every run records one recovery point, and every backup it makes carries
// it: `points` lists the runs from state_dir, and after state_dir is lost,
// the same points from the repositories and the dump directory alone,
// each with the same backups: dumps to a directory and into restic,
// restic and borg archives (a mirror keeps only its latest state: in the
// state's points only). A snapshot made by hand, or one whose label is
// not a point's, is in none.
func TestRecoveryPointsSurviveTheLossOfStateDir(t *testing.T) {
	for _, tool := range []string{"restic", "borg", "rsync", "pg_dump"} {
		requireTool(t, tool)
	}
	srv := pgserver.ForTest(t)
	ctx := t.Context()
	if err := srv.CreateDatabase(ctx, "alexandria"); err != nil {
		t.Fatal(err)
	}
	if _, err := sampledata.LoadSchema(ctx, srv.ConnString("alexandria"), 50, 1); err != nil {
		t.Fatal(err)
	}
	s := newSandbox(t, "")
	borgPass := filepath.Join(s.dir, "borg.pass")
	os.WriteFile(borgPass, []byte("borg-passphrase-never-shown\n"), 0o600)
	src, _ := os.ReadFile(s.plan)
	src = append(src, []byte(`
[targets.db]
driver    = "pg_dump"
database  = "`+srv.URL("alexandria")+`"
dir       = "`+filepath.Join(s.dir, "point-dumps")+`"

[targets.db-stream]
driver   = "pg_dump"
database = "`+srv.URL("alexandria")+`"
into     = "library"

[targets.books]
driver = "borg"
repository = "`+filepath.Join(s.dir, "borg")+`"
passphrase_file = "`+borgPass+`"
paths = ["`+s.lib+`"]
env = { BORG_BASE_DIR = "`+filepath.Join(s.dir, "borg-base")+`" }

[targets.mirror]
driver = "rsync"
source = "`+s.lib+`/"
destination = "`+filepath.Join(s.dir, "mirror")+`/"

[plans.nightly]
targets = ["db", "db-stream", "library", "books", "mirror"]
`)...)
	os.WriteFile(s.plan, src, 0o600)
	if code, _, stderr := runCLI(t, "init", "--plan", "nightly", "-c", s.plan); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	type report struct {
		Point   string
		Targets []struct {
			Name     string
			Artifact *string
		}
	}
	var runs []report
	for i := 0; i < 2; i++ {
		nextSecond()
		os.WriteFile(filepath.Join(s.lib, "books", "new.epub"), []byte(strings.Repeat("x", i+1)), 0o644)
		code, stdout, stderr := runCLI(t, "run", "nightly", "--json", "-c", s.plan)
		var r report
		if code != 0 || json.Unmarshal([]byte(stdout), &r) != nil {
			t.Fatalf("run %d: exit %d\n%s%s", i, code, stdout, stderr)
		}
		runs = append(runs, r)
	}
	if runs[0].Point == "" || runs[0].Point == runs[1].Point {
		t.Fatalf("the runs recorded the points %q and %q", runs[0].Point, runs[1].Point)
	}
	// A snapshot made by hand, and one labelled with no point's id.
	restic := func(args ...string) {
		t.Helper()
		c := exec.Command("restic", append([]string{"-r", s.repo, "--password-file", filepath.Join(s.dir, "restic.pass"), "--host", "test"}, args...)...)
		c.Env = append(os.Environ(), "RESTIC_CACHE_DIR="+filepath.Join(s.dir, "cache"))
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("restic %v: %v\n%s", args, err, out)
		}
	}
	restic("backup", "--tag", "alexandria-backup:library", s.lib)
	restic("backup", "--tag", "alexandria-backup:library,alexandria-point=yesterday", s.lib)

	list := func(args ...string) []points.Point {
		t.Helper()
		code, stdout, stderr := runCLI(t, append([]string{"points", "--json", "-c", s.plan}, args...)...)
		var ps []points.Point
		if code != 0 || json.Unmarshal([]byte(stdout), &ps) != nil {
			t.Fatalf("points %v: exit %d\n%s%s", args, code, stdout, stderr)
		}
		return ps
	}
	// want is the run's backups, as its report names them, of the
	// targets named.
	want := func(r report, names ...string) []string {
		var out []string
		for _, tr := range r.Targets {
			if slices.Contains(names, tr.Name) && tr.Artifact != nil {
				out = append(out, tr.Name+"="+*tr.Artifact)
			}
		}
		slices.Sort(out)
		return out
	}
	got := func(p points.Point) []string {
		var out []string
		for _, tr := range p.Targets {
			out = append(out, tr.Name+"="+tr.Artifact)
		}
		slices.Sort(out)
		return out
	}
	all := []string{"db", "db-stream", "library", "books", "mirror"}
	fromState := list()
	if len(fromState) != 2 || fromState[0].ID != runs[1].Point || fromState[1].ID != runs[0].Point {
		t.Fatalf("from state: %+v, want the points %s and %s, newest first", fromState, runs[1].Point, runs[0].Point)
	}
	for i, p := range fromState {
		if p.Source != points.FromState || p.Plan != "nightly" || p.Status != "ok" || !slices.Equal(got(p), want(runs[1-i], all...)) {
			t.Errorf("from state: %+v, want %q", p, want(runs[1-i], all...))
		}
	}

	if err := os.RemoveAll(s.state); err != nil {
		t.Fatal(err)
	}
	carried := []string{"db", "db-stream", "library", "books"}
	for _, args := range [][]string{nil, {"--from-repositories"}, {"--from-repositories", "--plan", "nightly"}} {
		found := list(args...)
		if len(found) != 2 || found[0].ID != runs[1].Point || found[1].ID != runs[0].Point {
			t.Fatalf("points %v without state_dir: %+v, want the points %s and %s", args, found, runs[1].Point, runs[0].Point)
		}
		for i, p := range found {
			names := carried
			if i == 0 {
				// The mirror's marker names only the newest point.
				names = append(slices.Clone(carried), "mirror")
			}
			if p.Source != points.FromRepositories || !slices.Equal(got(p), want(runs[1-i], names...)) {
				t.Errorf("points %v without state_dir: %q, want %q", args, got(p), want(runs[1-i], names...))
			}
		}
	}
	if code, _, stderr := runCLI(t, "points", "--plan", "nope", "-c", s.plan); code != 2 || !strings.Contains(stderr, `"nope"`) {
		t.Errorf("points --plan nope: exit %d\n%s", code, stderr)
	}
}
