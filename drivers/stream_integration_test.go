package drivers_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/all"
)

// Streamed dumps (pg_dump with `into`) against a real PostgreSQL and real
// restic / borg repositories.

const (
	streamRepoSecret = "correct horse battery staple"
	streamDBSecret   = "db-s3cret-never-in-argv"
)

type streamFixture struct {
	pg     *pgFixture
	tool   string
	dir    string
	into   *drivers.Target // the restic or borg target
	target *drivers.Target // the pg_dump target streaming into it
	x      *streamExec
}

// streamExec runs the real tools, logging every command line as shown, and
// running pg_dump through a shim script when one is set.
type streamExec struct {
	drivers.ProcessExecutor
	mu      sync.Mutex
	log     []string
	pgShim  string // a script run instead of pg_dump for backups ("" = the real one)
	shimmed bool
	// storeShim is a script run instead of the restic or borg that stores
	// a streamed dump ("" = the real one).
	storeShim string
}

func newStreamExec() *streamExec {
	x := &streamExec{}
	x.ProcessExecutor.Log = func(line string) {
		x.mu.Lock()
		defer x.mu.Unlock()
		x.log = append(x.log, line)
	}
	return x
}

func (x *streamExec) shim(c drivers.Command) drivers.Command {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.pgShim != "" && c.Program == "pg_dump" && len(c.Args) > 0 && c.Args[0] != "--version" {
		c.Program = x.pgShim
		x.shimmed = true
	}
	return c
}

func (x *streamExec) Run(ctx context.Context, c drivers.Command) (drivers.Result, error) {
	return x.ProcessExecutor.Run(ctx, x.shim(c))
}

func (x *streamExec) RunPipe(ctx context.Context, from, to drivers.Command, tap io.Writer) (drivers.Result, drivers.Result, error) {
	x.mu.Lock()
	if x.storeShim != "" && (to.Program == "restic" || to.Program == "borg") {
		to.Program = x.storeShim
	}
	x.mu.Unlock()
	return x.ProcessExecutor.RunPipe(ctx, x.shim(from), x.shim(to), tap)
}

// setStoreShim makes streamed dumps be stored by script (a shell script;
// $REAL is the real restic or borg) instead of the tool.
func (f *streamFixture) setStoreShim(t *testing.T, script string) {
	t.Helper()
	real, err := exec.LookPath(f.tool)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, t.TempDir(), f.tool+"-shim", "#!/bin/sh\nREAL="+real+"\n"+script+"\n", 0o755)
	f.x.mu.Lock()
	f.x.storeShim = path
	f.x.mu.Unlock()
	t.Cleanup(func() {
		f.x.mu.Lock()
		f.x.storeShim = ""
		f.x.mu.Unlock()
	})
}

func (x *streamExec) lines() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return strings.Join(x.log, "\n")
}

// setShim makes backups run script (a shell script; $REAL is the real
// pg_dump) instead of pg_dump.
func (f *streamFixture) setShim(t *testing.T, script string) {
	t.Helper()
	real, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, t.TempDir(), "pg_dump-shim", "#!/bin/sh\nREAL="+real+"\n"+script+"\n", 0o755)
	f.x.mu.Lock()
	f.x.pgShim, f.x.shimmed = path, false
	f.x.mu.Unlock()
	t.Cleanup(func() {
		f.x.mu.Lock()
		f.x.pgShim = ""
		f.x.mu.Unlock()
	})
}

// newStreamFixture starts a PostgreSQL with the restore fixture's
// database, makes a repository of tool (restic or borg) with its own
// target, and a pg_dump target streaming into it.
func newStreamFixture(t *testing.T, tool string) *streamFixture {
	requireTool(t, tool, "pg_dump", "pg_restore")
	pg := newPgRestoreFixture(t)
	ctx := context.Background()
	dir := t.TempDir()
	f := &streamFixture{pg: pg, tool: tool, dir: dir, x: newStreamExec()}
	src := filepath.Join(dir, "library")
	writeFile(t, src, "book.epub", "a book", 0o644)
	pass := writeFile(t, dir, "repo.pass", streamRepoSecret+"\n", 0o600)
	switch tool {
	case "restic":
		f.into = &drivers.Target{Name: "library", Driver: "restic", Impl: drivers.Restic{}, Verify: true, TempDir: dir,
			Settings: drivers.Values{"repository": filepath.Join(dir, "repo"), "password_file": pass, "paths": []string{src}, "host": "test-host"},
			Env:      map[string]string{"RESTIC_CACHE_DIR": filepath.Join(dir, "cache")}}
		if err := (drivers.Restic{}).Init(ctx, f.x, f.into); err != nil {
			t.Fatal(err)
		}
	case "borg":
		f.into = &drivers.Target{Name: "library", Driver: "borg", Impl: drivers.Borg{}, Verify: true, TempDir: dir,
			Settings: drivers.Values{"repository": filepath.Join(dir, "repo"), "passphrase_file": pass, "paths": []string{src}, "lock_wait": 30 * time.Second},
			Env:      map[string]string{"BORG_BASE_DIR": filepath.Join(dir, "borg-base")}}
		if err := (drivers.Borg{}).Init(ctx, f.x, f.into); err != nil {
			t.Fatal(err)
		}
	}
	dbPass := writeFile(t, dir, "db.pass", streamDBSecret+"\n", 0o600)
	f.target = pg.target(t, drivers.Values{"into": "library", "password_file": dbPass})
	delete(f.target.Settings, "dir")
	f.target.Into = f.into
	if err := (drivers.PgDump{}).Validate(f.target); err != nil {
		t.Fatal(err)
	}
	return f
}

// toolRun runs restic or borg directly against the repository.
func (f *streamFixture) toolRun(t *testing.T, args ...string) drivers.Result {
	t.Helper()
	c := drivers.Command{Program: f.tool, Args: args, StdoutTail: 16 << 20}
	s := f.into.Settings
	if f.tool == "restic" {
		c.Env = []drivers.EnvVar{{Name: "RESTIC_REPOSITORY", Value: s.Str("repository")}, {Name: "RESTIC_PASSWORD_FILE", Value: s.Str("password_file")},
			{Name: "RESTIC_CACHE_DIR", Value: f.into.Env["RESTIC_CACHE_DIR"]}}
	} else {
		c.Env = []drivers.EnvVar{{Name: "BORG_REPO", Value: s.Str("repository")}, {Name: "BORG_PASSPHRASE_FD", Value: "3"},
			{Name: "BORG_BASE_DIR", Value: f.into.Env["BORG_BASE_DIR"]}}
		c.ExtraFiles = []string{s.Str("passphrase_file")}
	}
	res, err := drivers.ProcessExecutor{}.Run(context.Background(), c)
	if err != nil {
		t.Fatalf("%s %v: %v", f.tool, args, err)
	}
	return res
}

// repoContents lists every snapshot (restic: "id paths tags", sorted) or
// archive (borg, checkpoints included) in the repository, whoever made it.
func (f *streamFixture) repoContents(t *testing.T) []string {
	t.Helper()
	var out []string
	if f.tool == "restic" {
		var snaps []struct {
			ShortID string   `json:"short_id"`
			Paths   []string `json:"paths"`
			Tags    []string `json:"tags"`
		}
		if err := json.Unmarshal(f.toolRun(t, "snapshots", "--json").Stdout, &snaps); err != nil {
			t.Fatal(err)
		}
		for _, s := range snaps {
			out = append(out, s.ShortID+" "+strings.Join(s.Paths, ",")+" "+strings.Join(s.Tags, ","))
		}
		sort.Strings(out) // a dump and its manifest have the same time
		return out
	}
	var list struct {
		Archives []struct {
			Name string `json:"name"`
		} `json:"archives"`
	}
	if err := json.Unmarshal(f.toolRun(t, "list", "--json", "--consider-checkpoints").Stdout, &list); err != nil {
		t.Fatal(err)
	}
	for _, a := range list.Archives {
		out = append(out, a.Name)
	}
	return out
}

// storedManifest reads a dump's manifest straight from the repository.
func (f *streamFixture) storedManifest(t *testing.T, id string) *drivers.DumpManifest {
	t.Helper()
	var data []byte
	if f.tool == "restic" {
		var snaps []struct {
			ID string `json:"id"`
		}
		json.Unmarshal(f.toolRun(t, "snapshots", "--json", "--tag", "alexandria-manifest:"+id).Stdout, &snaps)
		if len(snaps) != 1 {
			t.Fatalf("dump %s has %d manifest snapshots", id, len(snaps))
		}
		data = f.toolRun(t, "dump", snaps[0].ID, "/database.manifest.json").Stdout
	} else {
		data = f.toolRun(t, "extract", "--stdout", "::"+id, "database.manifest.json").Stdout
	}
	m, err := drivers.ParseDumpManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// nextSecond waits for the clock's next second: borg archive names of
// streamed dumps are made of the time to the second.
func nextSecond() { time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second))) }

func TestStreamIntoRestic(t *testing.T) { t.Parallel(); testStream(t, "restic") }
func TestStreamIntoBorg(t *testing.T)   { t.Parallel(); testStream(t, "borg") }

func testStream(t *testing.T, tool string) {
	f := newStreamFixture(t, tool)
	ctx := context.Background()
	d := drivers.PgDump{}
	source := pgCounts(t, f.pg.srv, "alexandria")
	var first drivers.Artifact

	t.Run("backup, verify, snapshots, restore, drill", func(t *testing.T) {
		// The restic/borg target has a backup of its own in the repository.
		driver, _ := all.Lookup(tool)
		if _, err := driver.Backup(ctx, f.x, f.into); err != nil {
			t.Fatal(err)
		}
		if err := d.Preflight(ctx, f.x, f.target); err != nil {
			t.Fatal(err)
		}
		a, err := d.Backup(ctx, f.x, f.target)
		if err != nil {
			t.Fatal(err)
		}
		first = a
		idRE := `^[0-9a-f]{8}$`
		if tool == "borg" {
			idRE = `^database@\d{8}T\d{6}Z$`
		}
		if !regexp.MustCompile(idRE).MatchString(a.ID) || a.Bytes <= 0 || a.Verified {
			t.Fatalf("artifact %+v", a)
		}
		if left := dirNames(t, f.target.TempDir); len(left) != 0 {
			t.Errorf("left in the temp dir: %v", left)
		}
		if err := d.Verify(ctx, f.x, f.target, a); err != nil {
			t.Fatalf("verify: %v", err)
		}
		if err := d.Verify(ctx, f.x, f.target, drivers.Artifact{}); err != nil {
			t.Fatalf("verify latest: %v", err)
		}
		// The manifest is in the repository, with the source's exact counts.
		m := f.storedManifest(t, a.ID)
		if !sameCounts(manifestCounts(m), source) || m.Bytes != a.Bytes || m.Format != "custom" || m.Dump != "database.dump" {
			t.Fatalf("manifest %+v\nsource %v", m, source)
		}
		// Each target lists only its own backups.
		snaps, err := d.Snapshots(ctx, f.x, f.target)
		if err != nil || len(snaps) != 1 || snaps[0].ID != a.ID || strings.Contains(snaps[0].Info, "no manifest") {
			t.Fatalf("snapshots %+v %v", snaps, err)
		}
		ownSnaps, err := driver.Snapshots(ctx, f.x, f.into)
		if err != nil || len(ownSnaps) != 1 || ownSnaps[0].ID == a.ID {
			t.Fatalf("the %s target's snapshots: %+v %v", tool, ownSnaps, err)
		}

		// Restore into a fresh database: identical counts.
		if err := f.pg.srv.CreateDatabase(ctx, "restored"); err != nil {
			t.Fatal(err)
		}
		res, err := d.Restore(ctx, f.x, f.target, drivers.RestoreRequest{Database: "restored"})
		if err != nil {
			t.Fatalf("restore: %v", err)
		}
		if got := pgCounts(t, f.pg.srv, "restored"); !sameCounts(got, source) || res.From != a.ID {
			t.Fatalf("restored %v from %s, source %v", got, res.From, source)
		}
		_, err = d.Restore(ctx, f.x, f.target, drivers.RestoreRequest{Database: "restored"})
		if err == nil || !strings.Contains(err.Error(), "--clean") {
			t.Fatalf("restoring over tables: %v", err)
		}

		dr, err := d.Drill(ctx, f.x, f.target)
		if err != nil {
			t.Fatalf("drill: %v", err)
		}
		if dr.Artifact != a.ID || dr.Checked != len(source) {
			t.Fatalf("drill %+v", dr)
		}
		t.Logf("drill: %s", dr.Detail)
		if left := pgDrillDatabases(t, f.pg.srv); len(left) != 0 {
			t.Fatalf("scratch databases left: %v", left)
		}
		if left := dirNames(t, f.target.TempDir); len(left) != 0 {
			t.Errorf("left in the temp dir: %v", left)
		}

		// No secret in any command line that ran.
		lines := f.x.lines()
		for _, secret := range []string{streamRepoSecret, streamDBSecret} {
			if strings.Contains(lines, secret) {
				t.Fatalf("a secret is in a command line:\n%s", lines)
			}
		}
		if !strings.Contains(lines, "PGPASSFILE=") {
			t.Fatalf("the password file did not reach pg_dump:\n%s", lines)
		}
	})
	if first.ID == "" {
		t.FailNow()
	}
	// A copy of the repository as the first dump left it, for the damage
	// test: every data blob in it belongs to that dump (later, blobs that
	// retention left unused could take a flipped byte unnoticed).
	pristine := filepath.Join(f.dir, "repo-after-first")
	if out, err := exec.Command("cp", "-a", f.into.Settings.Str("repository"), pristine).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	t.Run("restore an older dump, retention", func(t *testing.T) {
		if err := f.pg.srv.Exec(ctx, "alexandria", "DELETE FROM users WHERE id <= 10"); err != nil {
			t.Fatal(err)
		}
		nextSecond()
		second, err := d.Backup(ctx, f.x, f.target)
		if err != nil {
			t.Fatal(err)
		}
		snaps, err := d.Snapshots(ctx, f.x, f.target)
		if err != nil || len(snaps) != 2 || snaps[0].ID != second.ID || snaps[1].ID != first.ID {
			t.Fatalf("snapshots %+v %v", snaps, err)
		}
		if err := f.pg.srv.CreateDatabase(ctx, "restored_old"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Restore(ctx, f.x, f.target, drivers.RestoreRequest{From: first.ID, Database: "restored_old"}); err != nil {
			t.Fatal(err)
		}
		if got := pgCounts(t, f.pg.srv, "restored_old"); !sameCounts(got, source) {
			t.Fatalf("the older dump restored %v, want %v", got, source)
		}

		before := f.repoContents(t)
		f.target.Settings["keep_last"] = 1
		defer delete(f.target.Settings, "keep_last")
		dry, err := d.Prune(ctx, f.x, f.target, true)
		if err != nil || !dry.Policy || dry.Kept != 1 || len(dry.Removed) != 1 || dry.Removed[0] != first.ID {
			t.Fatalf("prune --dry-run %+v %v", dry, err)
		}
		if after := f.repoContents(t); strings.Join(after, "|") != strings.Join(before, "|") {
			t.Fatalf("a dry run changed the repository: %v → %v", before, after)
		}
		res, err := d.Prune(ctx, f.x, f.target, false)
		if err != nil || res.Kept != 1 || len(res.Removed) != 1 {
			t.Fatalf("prune %+v %v", res, err)
		}
		snaps, _ = d.Snapshots(ctx, f.x, f.target)
		if len(snaps) != 1 || snaps[0].ID != second.ID {
			t.Fatalf("after prune: %+v", snaps)
		}
		// What is left: the restic/borg target's own backup, the newest
		// dump and (restic) its manifest snapshot; the old manifest went
		// with its dump.
		left := f.repoContents(t)
		want := 2
		if tool == "restic" {
			want = 3
		}
		if len(left) != want {
			t.Fatalf("repository holds %v", left)
		}
		// The restic/borg target's own retention never touches the dumps.
		driver, _ := all.Lookup(tool)
		f.into.Settings["keep_last"] = 1
		defer delete(f.into.Settings, "keep_last")
		if _, err := driver.Prune(ctx, f.x, f.into, false); err != nil {
			t.Fatal(err)
		}
		if after := f.repoContents(t); strings.Join(after, "|") != strings.Join(left, "|") {
			t.Fatalf("the %s target's retention changed %v → %v", tool, left, after)
		}
		if err := d.Verify(ctx, f.x, f.target, drivers.Artifact{}); err != nil {
			t.Fatalf("verify after prune: %v", err)
		}
	})

	t.Run("a flipped byte in the repository fails verify and drill", func(t *testing.T) {
		// The copy made after the first dump, with caches of its own.
		into := *f.into
		into.Settings = drivers.Values{}
		for k, v := range f.into.Settings {
			into.Settings[k] = v
		}
		into.Settings["repository"] = pristine
		into.Env = map[string]string{"RESTIC_CACHE_DIR": filepath.Join(f.dir, "cache2"), "BORG_BASE_DIR": filepath.Join(f.dir, "borg-base2")}
		tg := *f.target
		tg.Into = &into
		if err := d.Verify(ctx, f.x, &tg, first); err != nil {
			t.Fatalf("the copy does not verify before the damage: %v", err)
		}
		if tool == "borg" {
			tamperLargestChunk(t, pristine)
		} else {
			pgFlipByte(t, largestFile(t, filepath.Join(pristine, "data")))
		}
		err := d.Verify(ctx, f.x, &tg, first)
		if err == nil {
			t.Fatal("verify passed a damaged repository")
		}
		t.Logf("verify failed as it must: %v", err)
		_, err = d.Drill(ctx, f.x, &tg)
		if err == nil {
			t.Fatal("drill passed a damaged repository")
		}
		t.Logf("drill failed as it must: %v", err)
		if left := pgDrillDatabases(t, f.pg.srv); len(left) != 0 {
			t.Fatalf("scratch databases left: %v", left)
		}
	})
}

func largestFile(t *testing.T, dir string) string {
	t.Helper()
	var best string
	var size int64
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if fi, err := e.Info(); err == nil && fi.Size() > size {
				best, size = p, fi.Size()
			}
		}
		return nil
	})
	if best == "" {
		t.Fatalf("no file in %s", dir)
	}
	return best
}

func TestStreamFailedDumpLeavesNothing(t *testing.T) {
	for _, tool := range []string{"restic", "borg"} {
		t.Run(tool, func(t *testing.T) {
			t.Parallel()
			testStreamFailures(t, tool)
		})
	}
}

func testStreamFailures(t *testing.T, tool string) {
	f := newStreamFixture(t, tool)
	d := drivers.PgDump{}
	before := f.repoContents(t)

	for _, tc := range []struct {
		name, script string
		timeout      time.Duration
		want         string
	}{
		{"pg_dump fails half-way", `"$REAL" "$@" | head -c 20000; echo 'pg_dump: error: could not write: disk full' >&2; exit 1`, 0, "disk full"},
		{"pg_dump killed mid-stream", `"$REAL" "$@" | head -c 20000; kill -KILL $$`, 0, "killed by SIGKILL"},
		{"pg_dump cannot connect", `echo 'pg_dump: error: connection to server failed' >&2; exit 1`, 0, "connection to server failed"},
		{"cancelled mid-stream", `"$REAL" "$@" | head -c 20000; sleep 60`, 2 * time.Second, "context deadline exceeded"},
		// The whole dump is in the tool's input, only its end is missing:
		// stopped then, restic (SIGINT) and borg (SIGTERM) commit nothing.
		{"cancelled after the whole dump", `"$REAL" "$@"; sleep 60`, 3 * time.Second, "context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.setShim(t, tc.script)
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, err := d.Backup(ctx, f.x, f.target)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was kept") {
				t.Fatalf("backup: %v", err)
			}
			if !f.x.shimmed {
				t.Fatal("the shim did not run")
			}
			t.Logf("failed as it must: %v", err)
			if after := f.repoContents(t); strings.Join(after, "|") != strings.Join(before, "|") {
				t.Fatalf("the failed dump left something: %v → %v", before, after)
			}
			if tool == "restic" {
				// A stopped restic 0.14 leaves its lock; it must be gone.
				if locks := dirNames(t, filepath.Join(f.into.Settings.Str("repository"), "locks")); len(locks) != 0 {
					t.Fatalf("locks left: %v", locks)
				}
			}
			if left := dirNames(t, f.target.TempDir); len(left) != 0 {
				t.Errorf("left in the temp dir: %v", left)
			}
		})
	}

	// pg_dump that lies: exit 0 after a truncated dump. The stream is
	// stored (nothing said it failed), but verification reads it whole and
	// fails, and so does the drill.
	t.Run("truncated dump, pg_dump exits 0", func(t *testing.T) {
		f.setShim(t, `"$REAL" "$@" | head -c 30000; exit 0`)
		a, err := d.Backup(context.Background(), f.x, f.target)
		if err != nil {
			t.Fatal(err)
		}
		err = d.Verify(context.Background(), f.x, f.target, a)
		if err == nil {
			t.Fatal("verify passed a truncated dump")
		}
		t.Logf("verify failed as it must: %v", err)
		if _, err := d.Drill(context.Background(), f.x, f.target); err == nil || !strings.Contains(err.Error(), "does not restore") {
			t.Fatalf("drill of a truncated dump: %v", err)
		}
		if left := pgDrillDatabases(t, f.pg.srv); len(left) != 0 {
			t.Fatalf("scratch databases left: %v", left)
		}
	})

	// A dump that lacks rows the manifest counted (here pg_dump leaves a
	// table's data out): it reads back fine and matches its checksum, but
	// the drill's counts name the table and both counts.
	t.Run("rows missing from the dump", func(t *testing.T) {
		nextSecond()
		f.setShim(t, `exec "$REAL" --exclude-table-data=public.users "$@"`)
		a, err := d.Backup(context.Background(), f.x, f.target)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Verify(context.Background(), f.x, f.target, a); err != nil {
			t.Fatalf("verify: %v", err)
		}
		_, err = d.Drill(context.Background(), f.x, f.target)
		if err == nil || !strings.Contains(err.Error(), "table public.users has 0 rows, the manifest says 100") {
			t.Fatalf("drill: %v", err)
		}
		t.Logf("drill failed as it must: %v", err)
	})
}

// The second line of defence: when restic or borg did commit the dump but
// the store is then judged failed (here the tool commits, and exits 1
// after), the snapshot or archive it committed is removed again. (RunPipe
// gives the tool the end of the dump only after pg_dump exited 0, so a
// failed pg_dump never gets this far.)
func TestStreamCommittedThenFailedLeavesNothing(t *testing.T) {
	for _, tool := range []string{"restic", "borg"} {
		t.Run(tool, func(t *testing.T) {
			t.Parallel()
			f := newStreamFixture(t, tool)
			before := f.repoContents(t)
			committed := filepath.Join(t.TempDir(), "tool-exit")
			f.setStoreShim(t, `"$REAL" "$@"; echo $? > `+committed+`
echo 'fatal: the repository went away after the commit' >&2
exit 1`)
			_, err := drivers.PgDump{}.Backup(context.Background(), f.x, f.target)
			if err == nil || !strings.Contains(err.Error(), "went away after the commit") {
				t.Fatalf("backup: %v", err)
			}
			t.Logf("failed as it must: %v", err)
			if b, _ := os.ReadFile(committed); strings.TrimSpace(string(b)) != "0" {
				t.Fatalf("the test proves nothing: %s stored the dump with exit %q", tool, b)
			}
			if after := f.repoContents(t); strings.Join(after, "|") != strings.Join(before, "|") {
				t.Fatalf("the failed dump was kept: %v → %v", before, after)
			}
		})
	}
}

// A lock a killed run left in the repository a dump streams into goes
// before the dump, as it would before the restic target's own backup:
// otherwise this target's retention (forget --prune, exclusive) fails.
func TestStreamIntoResticAppliesTheLockPolicy(t *testing.T) {
	f := newStreamFixture(t, "restic")
	ctx := context.Background()
	repo := &resticFixture{repo: f.into.Settings.Str("repository"), pass: f.into.Settings.Str("password_file")}
	t.Setenv("RESTIC_CACHE_DIR", filepath.Join(f.dir, "cache"))
	id, _ := repo.plantLock(t, "")
	a, err := drivers.PgDump{}.Backup(ctx, f.x, f.target)
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(a.Warnings, "removed 1 stale restic lock(s): "+id[:8], "a killed run on this host") {
		t.Fatalf("warnings %q", a.Warnings)
	}
	if left := repo.lockFiles(t); len(left) != 0 {
		t.Fatalf("locks left: %v", left)
	}
	if _, err := (drivers.ProcessExecutor{}).Run(ctx, drivers.Command{Program: "restic", Args: []string{"check"},
		Env: []drivers.EnvVar{{Name: "RESTIC_REPOSITORY", Value: repo.repo}, {Name: "RESTIC_PASSWORD_FILE", Value: repo.pass}}}); err != nil {
		t.Fatalf("an exclusive restic command after the streamed dump: %v", err)
	}
}
