package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/pgserver"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// This file tests what happens to the scratch database of a drill that was
// killed before it could drop it: the next run of the same state_dir drops
// it, and nothing else.

// scratchSandbox is one plan file with its own state_dir whose target db
// dumps a database on a shared server; target down is a server that does
// not answer.
type scratchSandbox struct {
	dir, plan, state, tmp string
	srv                   *pgserver.Server
}

func newScratchSandbox(t *testing.T, srv *pgserver.Server) *scratchSandbox {
	t.Helper()
	dir := t.TempDir()
	s := &scratchSandbox{dir: dir, plan: filepath.Join(dir, "plan.toml"), state: filepath.Join(dir, "state"), srv: srv}
	s.tmp = filepath.Join(s.state, "tmp")
	// The server trusts local connections; the password file still makes
	// the sweep connect the way the drill did.
	os.WriteFile(filepath.Join(dir, "db.pass"), []byte("not-needed\n"), 0o600)
	src := `state_dir = "` + s.state + `"
[targets.db]
driver = "pg_dump"
database = "` + srv.URL("alexandria") + `"
password_file = "` + filepath.Join(dir, "db.pass") + `"
dir = "` + filepath.Join(dir, "dumps") + `"

[targets.down]
driver = "pg_dump"
database = "postgres://nobody@127.0.0.1:1/none"
dir = "` + filepath.Join(dir, "dumps-down") + `"

[plans.db]
targets = ["db"]
`
	if err := os.WriteFile(s.plan, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "run", "db", "-c", s.plan); code != 0 {
		t.Fatalf("run: %d\n%s", code, stderr)
	}
	return s
}

// newScratchServer starts a server with a small database to dump.
func newScratchServer(t *testing.T) *pgserver.Server {
	t.Helper()
	requireTool(t, "pg_dump")
	requireTool(t, "pg_restore")
	srv := pgserver.ForTest(t)
	if err := srv.CreateDatabase(t.Context(), "alexandria"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Exec(t.Context(), "alexandria", `CREATE TABLE books (id int PRIMARY KEY, title text);
		INSERT INTO books SELECT g, 'Book ' || g FROM generate_series(1, 500) g;`); err != nil {
		t.Fatal(err)
	}
	return srv
}

// scratchDatabases lists the drills' scratch databases on srv.
func scratchDatabases(t *testing.T, srv *pgserver.Server) []string {
	t.Helper()
	return (&lifecycleSandbox{srv: srv}).drillDatabases(t)
}

// markers reads the scratch database markers in the sandbox's state_dir.
func (s *scratchSandbox) markers(t *testing.T) map[string]pgdump.ScratchMarker {
	t.Helper()
	out := map[string]pgdump.ScratchMarker{}
	for _, name := range entries(s.tmp) {
		if pgdump.IsScratchMarker(name) {
			p := filepath.Join(s.tmp, name)
			m, err := pgdump.ReadScratchMarker(p)
			if err != nil {
				t.Fatal(err)
			}
			out[p] = m
		}
	}
	return out
}

// writeMarker writes a marker as a drill of target would have, on server
// ("" for the target's own; a target no longer in the plan used db's).
func (s *scratchSandbox) writeMarker(t *testing.T, database, target, server string) string {
	t.Helper()
	p, err := plan.Load(s.plan)
	if err != nil {
		t.Fatal(err)
	}
	m := pgdump.ScratchMarker{Database: database, Target: target, Server: server, PID: 1, CreatedAt: time.Now().UTC()}
	if m.Server == "" {
		tg := p.Targets[target]
		if tg == nil {
			tg = p.Targets["db"]
		}
		m.Server = pgdump.PgServer(tg)
	}
	data, _ := json.Marshal(m)
	path := filepath.Join(s.tmp, "scratch-database-"+database+".json")
	os.MkdirAll(s.tmp, 0o700)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if !pgdump.IsScratchMarker(filepath.Base(path)) {
		t.Fatalf("%s is not a marker's name", path)
	}
	return path
}

// hangRestores puts a pg_restore first on PATH that hangs in the restore
// into the scratch database, as the restore of a big dump would; reading
// the dump is left to the real one.
func hangRestores(t *testing.T) {
	t.Helper()
	real, err := exec.LookPath("pg_restore")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pg_restore"), []byte(`#!/bin/sh
case "$*" in *--single-transaction*) exec sleep 300 ;; esac
exec `+real+` "$@"
`), 0o755)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// startDrill starts the binary's drill of db and waits until it restores
// into its scratch database; it returns the process, its tree, and that
// database, which its marker names.
func startDrill(t *testing.T, bin string, s *scratchSandbox) (*exec.Cmd, *treeWatch, string) {
	t.Helper()
	before := scratchDatabases(t, s.srv)
	cmd, out := startBinary(t, bin, "drill", "db", "-c", s.plan)
	w := watchTree(cmd.Process.Pid)
	t.Cleanup(w.close)
	waitFor(t, time.Minute, "the restore into the scratch database", func() bool { return count(w.alive(), "sleep", "300") == 1 }, out)
	var created []string
	for _, db := range scratchDatabases(t, s.srv) {
		if !slices.Contains(before, db) {
			created = append(created, db)
		}
	}
	markers := s.markers(t)
	if len(created) != 1 || len(markers) != 1 {
		t.Fatalf("while the drill restores: new scratch databases %v, markers %v", created, markers)
	}
	for _, m := range markers {
		if m.Database != created[0] || m.Target != "db" || m.PID != cmd.Process.Pid {
			t.Fatalf("marker %+v; the drill (pid %d) created %s", m, cmd.Process.Pid, created[0])
		}
	}
	return cmd, w, created[0]
}

// A drill SIGKILLed in the middle of its restore leaves its scratch
// database; the next run of the same state_dir drops it and removes the
// marker.
func TestSweepDropsTheScratchDatabaseOfAKilledDrill(t *testing.T) {
	bin := buildBinary(t)
	s := newScratchSandbox(t, newScratchServer(t))
	hangRestores(t)

	cmd, w, scratch := startDrill(t, bin, s)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	waitFor(t, 10*time.Second, "the drill's tools to die with it", func() bool { return len(w.alive()) == 0 }, nil)
	if dbs := scratchDatabases(t, s.srv); !slices.Equal(dbs, []string{scratch}) {
		t.Fatalf("after SIGKILL: scratch databases %v, want %s left behind, or this test proves nothing", dbs, scratch)
	}

	code, _, stderr := runCLI(t, "run", "db", "-c", s.plan)
	if code != 0 {
		t.Fatalf("the run after SIGKILL: exit %d\n%s", code, stderr)
	}
	if dbs := scratchDatabases(t, s.srv); len(dbs) != 0 {
		t.Errorf("scratch databases after the next run: %v", dbs)
	}
	if names := entries(s.tmp); len(names) != 0 {
		t.Errorf("state_dir/tmp after the next run: %v", names)
	}
	for _, want := range []string{"removed a leftover of an interrupted run", "scratch database of a drill", scratch} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the sweep's log lacks %q:\n%s", want, stderr)
		}
	}
}

// A drill of another plan file (another state_dir) on the same server, in
// progress, keeps its scratch database when this plan's run sweeps; so
// does a scratch database no marker of this state_dir names (another
// host's). The drill itself still drops its own when stopped.
func TestSweepLeavesTheScratchDatabasesOfOthers(t *testing.T) {
	bin := buildBinary(t)
	srv := newScratchServer(t)
	mine, theirs := newScratchSandbox(t, srv), newScratchSandbox(t, srv)
	hangRestores(t)
	elsewhere := pgdump.PgDrillPrefix + "0123456789abcdef"
	if err := srv.CreateDatabase(t.Context(), elsewhere); err != nil {
		t.Fatal(err)
	}

	cmd, _, scratch := startDrill(t, bin, theirs)
	code, _, stderr := runCLI(t, "run", "db", "-c", mine.plan)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	if strings.Contains(stderr, "scratch database") {
		t.Errorf("the sweep touched a scratch database:\n%s", stderr)
	}
	dbs := scratchDatabases(t, srv)
	slices.Sort(dbs)
	if want := []string{elsewhere, scratch}; !slices.Equal(dbs, want) {
		t.Errorf("scratch databases after the other plan's run: %v, want %v", dbs, want)
	}
	if len(theirs.markers(t)) != 1 {
		t.Errorf("the running drill's marker is gone: %v", entries(theirs.tmp))
	}

	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, 30*time.Second, nil); code != 143 {
		t.Errorf("the drill exited %d after SIGTERM, want 143", code)
	}
	if dbs := scratchDatabases(t, srv); !slices.Equal(dbs, []string{elsewhere}) {
		t.Errorf("after the drill stopped: %v", dbs)
	}
	if m := theirs.markers(t); len(m) != 0 {
		t.Errorf("the stopped drill kept its marker: %v", m)
	}
}

// A marker is never a licence to drop just any database: one naming a
// database a drill would not create is refused and kept; one whose target
// left the plan or now uses another server, or whose server does not
// answer, is kept for the next run; and the run itself goes on.
func TestSweepKeepsMarkersItCannotAct(t *testing.T) {
	s := newScratchSandbox(t, newScratchServer(t))
	ctx := context.Background()
	orphan := pgdump.PgDrillPrefix + "00000000000000aa"
	moved := pgdump.PgDrillPrefix + "00000000000000cc"
	for _, db := range []string{orphan, moved} {
		if err := s.srv.CreateDatabase(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	refused := s.writeMarker(t, "alexandria", "db", "")
	gone := s.writeMarker(t, orphan, "removed-target", "")
	down := s.writeMarker(t, pgdump.PgDrillPrefix+"00000000000000bb", "down", "")
	// Made when db's database was on another server: not this one's to drop.
	elsewhere := s.writeMarker(t, moved, "db", "db.old.example:5432")

	start := time.Now()
	code, _, stderr := runCLI(t, "run", "db", "-c", s.plan)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	if d := time.Since(start); d > 2*pgdump.ScratchDropTimeout {
		t.Errorf("the run took %s", d)
	}
	for _, p := range []string{refused, gone, down, elsewhere} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("marker %s: %v; it must stay", p, err)
		}
	}
	if err := s.srv.Exec(ctx, "alexandria", "SELECT count(*) FROM books"); err != nil {
		t.Fatalf("the database a marker named was touched: %v", err)
	}
	dbs := scratchDatabases(t, s.srv)
	slices.Sort(dbs)
	if want := []string{orphan, moved}; !slices.Equal(dbs, want) {
		t.Errorf("scratch databases: %v, want %v kept", dbs, want)
	}
	for _, want := range []string{
		`refusing to drop a database that is not a drill's scratch database; remove the marker" database=alexandria`,
		"its target is no longer a pg_dump target of the plan: drop the database by hand, then remove the marker\" database=" + orphan,
		"fix=\"DROP DATABASE IF EXISTS " + orphan + " WITH (FORCE)\"",
		"could not drop the scratch database of an interrupted drill; the next run tries again\" database=" + pgdump.PgDrillPrefix + "00000000000000bb server=127.0.0.1:1",
		"on a server its target no longer uses: drop the database there by hand, then remove the marker\" database=" + moved + " server=db.old.example:5432",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the log lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "removed a leftover") {
		t.Errorf("something was removed:\n%s", stderr)
	}
}
