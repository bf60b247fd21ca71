package pgdump_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/all"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/restictest"
)

// Streamed dumps (pg_dump with `into`) against a real PostgreSQL and real
// restic / borg repositories.

// nextSecond waits for the clock's next second: borg archive names of
// streamed dumps are made of the time to the second.
func nextSecond() { time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second))) }

func TestStreamIntoRestic(t *testing.T) { t.Parallel(); testStream(t, "restic") }
func TestStreamIntoBorg(t *testing.T)   { t.Parallel(); testStream(t, "borg") }

func testStream(t *testing.T, tool string) {
	f := drivertest.NewStreamFixture(t, tool)
	ctx := context.Background()
	d := pgdump.Driver{}
	source := pgCounts(t, f.Pg.Srv, "alexandria")
	var first drivers.Artifact

	t.Run("backup, verify, snapshots, restore, drill", func(t *testing.T) {
		// The restic/borg target has a backup of its own in the repository.
		driver, _ := all.Lookup(tool)
		if _, err := driver.Backup(ctx, f.X, f.Into); err != nil {
			t.Fatal(err)
		}
		if err := d.Preflight(ctx, f.X, f.Target); err != nil {
			t.Fatal(err)
		}
		a, err := d.Backup(ctx, f.X, f.Target)
		if err != nil {
			t.Fatal(err)
		}
		first = a
		idRE := `^[0-9a-f]{8}$`
		if tool == "borg" {
			idRE = `^database@\d{8}T\d{6}Z$`
		}
		// The backup read the dump back whole (while restic stored the
		// manifest): the run's verify phase has nothing left to do.
		if !regexp.MustCompile(idRE).MatchString(a.ID) || a.Bytes <= 0 || !a.Verified {
			t.Fatalf("artifact %+v", a)
		}
		if readBack := map[string]string{"restic": "restic dump -- " + a.ID + " /database.dump", "borg": "extract --stdout"}[tool]; !strings.Contains(f.X.Lines(), readBack) {
			t.Fatalf("the backup did not read the dump back (%q):\n%s", readBack, f.X.Lines())
		}
		if left := drivertest.DirNames(t, f.Target.TempDir); len(left) != 0 {
			t.Errorf("left in the temp dir: %v", left)
		}
		before := f.X.Lines()
		if err := d.Verify(ctx, f.X, f.Target, a); err != nil {
			t.Fatalf("verify: %v", err)
		}
		// After the backup, its dump and manifest are known: the verify
		// only reads the dump back (no listing, no manifest read).
		ran := strings.TrimPrefix(f.X.Lines(), before)
		if strings.Count(strings.TrimSpace(ran), "\n") != 0 || !strings.Contains(ran, "database.dump") || strings.Contains(ran, "manifest") {
			t.Fatalf("the verify after the backup ran:\n%s", ran)
		}
		if err := d.Verify(ctx, f.X, f.Target, drivers.Artifact{}); err != nil {
			t.Fatalf("verify latest: %v", err)
		}
		// The manifest is in the repository, with the source's exact counts.
		m := f.StoredManifest(t, a.ID)
		if !sameCounts(manifestCounts(m), source) || m.Bytes != a.Bytes || m.Format != "custom" || m.Dump != "database.dump" {
			t.Fatalf("manifest %+v\nsource %v", m, source)
		}
		// Each target lists only its own backups.
		snaps, err := d.Snapshots(ctx, f.X, f.Target)
		if err != nil || len(snaps) != 1 || snaps[0].ID != a.ID || strings.Contains(snaps[0].Info, "no manifest") {
			t.Fatalf("snapshots %+v %v", snaps, err)
		}
		ownSnaps, err := driver.Snapshots(ctx, f.X, f.Into)
		if err != nil || len(ownSnaps) != 1 || ownSnaps[0].ID == a.ID {
			t.Fatalf("the %s target's snapshots: %+v %v", tool, ownSnaps, err)
		}

		// Restore into a fresh database: identical counts.
		if err := f.Pg.Srv.CreateDatabase(ctx, "restored"); err != nil {
			t.Fatal(err)
		}
		res, err := d.Restore(ctx, f.X, f.Target, drivers.RestoreRequest{Database: "restored"})
		if err != nil {
			t.Fatalf("restore: %v", err)
		}
		if got := pgCounts(t, f.Pg.Srv, "restored"); !sameCounts(got, source) || res.From != a.ID {
			t.Fatalf("restored %v from %s, source %v", got, res.From, source)
		}
		_, err = d.Restore(ctx, f.X, f.Target, drivers.RestoreRequest{Database: "restored"})
		if err == nil || !strings.Contains(err.Error(), "--clean") {
			t.Fatalf("restoring over tables: %v", err)
		}

		dr, err := d.Drill(ctx, f.X, f.Target)
		if err != nil {
			t.Fatalf("drill: %v", err)
		}
		if dr.Artifact != a.ID || dr.Checked != len(source) {
			t.Fatalf("drill %+v", dr)
		}
		t.Logf("drill: %s", dr.Detail)
		if left := pgDrillDatabases(t, f.Pg.Srv); len(left) != 0 {
			t.Fatalf("scratch databases left: %v", left)
		}
		if left := drivertest.DirNames(t, f.Target.TempDir); len(left) != 0 {
			t.Errorf("left in the temp dir: %v", left)
		}

		// No secret in any command line that ran.
		lines := f.X.Lines()
		for _, secret := range []string{drivertest.StreamRepoSecret, drivertest.StreamDBSecret} {
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
	pristine := filepath.Join(f.Dir, "repo-after-first")
	if out, err := exec.Command("cp", "-a", f.Into.Settings.Str("repository"), pristine).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	t.Run("restore an older dump, retention", func(t *testing.T) {
		if err := f.Pg.Srv.Exec(ctx, "alexandria", "DELETE FROM users WHERE id <= 10"); err != nil {
			t.Fatal(err)
		}
		nextSecond()
		second, err := d.Backup(ctx, f.X, f.Target)
		if err != nil {
			t.Fatal(err)
		}
		snaps, err := d.Snapshots(ctx, f.X, f.Target)
		if err != nil || len(snaps) != 2 || snaps[0].ID != second.ID || snaps[1].ID != first.ID {
			t.Fatalf("snapshots %+v %v", snaps, err)
		}
		if err := f.Pg.Srv.CreateDatabase(ctx, "restored_old"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Restore(ctx, f.X, f.Target, drivers.RestoreRequest{From: first.ID, Database: "restored_old"}); err != nil {
			t.Fatal(err)
		}
		if got := pgCounts(t, f.Pg.Srv, "restored_old"); !sameCounts(got, source) {
			t.Fatalf("the older dump restored %v, want %v", got, source)
		}

		before := f.RepoContents(t)
		f.Target.Settings["keep_last"] = 1
		defer delete(f.Target.Settings, "keep_last")
		dry, err := d.Prune(ctx, f.X, f.Target, true)
		if err != nil || !dry.Policy || dry.Kept != 1 || len(dry.Removed) != 1 || dry.Removed[0] != first.ID {
			t.Fatalf("prune --dry-run %+v %v", dry, err)
		}
		if after := f.RepoContents(t); strings.Join(after, "|") != strings.Join(before, "|") {
			t.Fatalf("a dry run changed the repository: %v → %v", before, after)
		}
		res, err := d.Prune(ctx, f.X, f.Target, false)
		if err != nil || res.Kept != 1 || len(res.Removed) != 1 {
			t.Fatalf("prune %+v %v", res, err)
		}
		snaps, _ = d.Snapshots(ctx, f.X, f.Target)
		if len(snaps) != 1 || snaps[0].ID != second.ID {
			t.Fatalf("after prune: %+v", snaps)
		}
		// What is left: the restic/borg target's own backup, the newest
		// dump and (restic) its manifest snapshot; the old manifest went
		// with its dump.
		left := f.RepoContents(t)
		want := 2
		if tool == "restic" {
			want = 3
		}
		if len(left) != want {
			t.Fatalf("repository holds %v", left)
		}
		// The restic/borg target's own retention never touches the dumps.
		driver, _ := all.Lookup(tool)
		f.Into.Settings["keep_last"] = 1
		defer delete(f.Into.Settings, "keep_last")
		if _, err := driver.Prune(ctx, f.X, f.Into, false); err != nil {
			t.Fatal(err)
		}
		if after := f.RepoContents(t); strings.Join(after, "|") != strings.Join(left, "|") {
			t.Fatalf("the %s target's retention changed %v → %v", tool, left, after)
		}
		if err := d.Verify(ctx, f.X, f.Target, drivers.Artifact{}); err != nil {
			t.Fatalf("verify after prune: %v", err)
		}
	})

	t.Run("a flipped byte in the repository fails verify and drill", func(t *testing.T) {
		// The copy made after the first dump, with caches of its own.
		into := *f.Into
		into.Settings = drivers.Values{}
		for k, v := range f.Into.Settings {
			into.Settings[k] = v
		}
		into.Settings["repository"] = pristine
		into.Env = map[string]string{"RESTIC_CACHE_DIR": filepath.Join(f.Dir, "cache2"), "BORG_BASE_DIR": filepath.Join(f.Dir, "borg-base2")}
		tg := *f.Target
		tg.Into = &into
		if err := d.Verify(ctx, f.X, &tg, first); err != nil {
			t.Fatalf("the copy does not verify before the damage: %v", err)
		}
		if tool == "borg" {
			drivertest.TamperLargestChunk(t, pristine)
		} else {
			pgFlipByte(t, largestFile(t, filepath.Join(pristine, "data")))
		}
		err := d.Verify(ctx, f.X, &tg, first)
		if err == nil {
			t.Fatal("verify passed a damaged repository")
		}
		t.Logf("verify failed as it must: %v", err)
		_, err = d.Drill(ctx, f.X, &tg)
		if err == nil {
			t.Fatal("drill passed a damaged repository")
		}
		t.Logf("drill failed as it must: %v", err)
		if left := pgDrillDatabases(t, f.Pg.Srv); len(left) != 0 {
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
	f := drivertest.NewStreamFixture(t, tool)
	d := pgdump.Driver{}
	before := f.RepoContents(t)

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
			f.SetShim(t, tc.script)
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, err := d.Backup(ctx, f.X, f.Target)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was kept") {
				t.Fatalf("backup: %v", err)
			}
			if !f.X.Shimmed {
				t.Fatal("the shim did not run")
			}
			t.Logf("failed as it must: %v", err)
			if after := f.RepoContents(t); strings.Join(after, "|") != strings.Join(before, "|") {
				t.Fatalf("the failed dump left something: %v → %v", before, after)
			}
			if tool == "restic" {
				// A stopped restic 0.14 leaves its lock; it must be gone.
				// A "-tmp-" file (restic stopped while writing its lock)
				// is no lock: restic skips names that are not ids.
				if locks := restictest.LockFiles(t, f.Into.Settings.Str("repository")); len(locks) != 0 {
					t.Fatalf("locks left: %v", locks)
				}
			}
			if left := drivertest.DirNames(t, f.Target.TempDir); len(left) != 0 {
				t.Errorf("left in the temp dir: %v", left)
			}
		})
	}

	// pg_dump that lies: exit 0 after a truncated dump. The stream is
	// stored (nothing said it failed), but the backup's read-back reads it
	// whole and fails it, and so do a later verify and the drill.
	t.Run("truncated dump, pg_dump exits 0", func(t *testing.T) {
		f.SetShim(t, `"$REAL" "$@" | head -c 30000; exit 0`)
		_, err := d.Backup(context.Background(), f.X, f.Target)
		if err == nil || !strings.Contains(err.Error(), "does not read back") {
			t.Fatalf("the backup passed a truncated dump: %v", err)
		}
		t.Logf("backup failed as it must: %v", err)
		err = d.Verify(context.Background(), f.X, f.Target, drivers.Artifact{})
		if err == nil {
			t.Fatal("verify passed a truncated dump")
		}
		t.Logf("verify failed as it must: %v", err)
		if _, err := d.Drill(context.Background(), f.X, f.Target); err == nil || !strings.Contains(err.Error(), "does not restore") {
			t.Fatalf("drill of a truncated dump: %v", err)
		}
		if left := pgDrillDatabases(t, f.Pg.Srv); len(left) != 0 {
			t.Fatalf("scratch databases left: %v", left)
		}
	})

	// A dump that lacks rows the manifest counted (here pg_dump leaves a
	// table's data out): it reads back fine and matches its checksum, but
	// the drill's counts name the table and both counts.
	t.Run("rows missing from the dump", func(t *testing.T) {
		nextSecond()
		f.SetShim(t, `exec "$REAL" --exclude-table-data=public.users "$@"`)
		a, err := d.Backup(context.Background(), f.X, f.Target)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Verify(context.Background(), f.X, f.Target, a); err != nil {
			t.Fatalf("verify: %v", err)
		}
		_, err = d.Drill(context.Background(), f.X, f.Target)
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
			f := drivertest.NewStreamFixture(t, tool)
			before := f.RepoContents(t)
			committed := filepath.Join(t.TempDir(), "tool-exit")
			f.SetStoreShim(t, `"$REAL" "$@"; echo $? > `+committed+`
echo 'fatal: the repository went away after the commit' >&2
exit 1`)
			_, err := pgdump.Driver{}.Backup(context.Background(), f.X, f.Target)
			if err == nil || !strings.Contains(err.Error(), "went away after the commit") {
				t.Fatalf("backup: %v", err)
			}
			t.Logf("failed as it must: %v", err)
			if b, _ := os.ReadFile(committed); strings.TrimSpace(string(b)) != "0" {
				t.Fatalf("the test proves nothing: %s stored the dump with exit %q", tool, b)
			}
			if after := f.RepoContents(t); strings.Join(after, "|") != strings.Join(before, "|") {
				t.Fatalf("the failed dump was kept: %v → %v", before, after)
			}
		})
	}
}

// A dump whose manifest cannot be stored is removed again, and only once
// its read-back (which runs while the manifest is stored) has ended:
// restic's forget --prune takes the exclusive lock, which the read-back's
// shared lock would refuse it.
func TestStreamManifestFailsWhileReadingBack(t *testing.T) {
	f := drivertest.NewStreamFixture(t, "restic")
	before := f.RepoContents(t)
	failing := drivertest.WriteFile(t, t.TempDir(), "restic-manifest", `#!/bin/sh
cat > /dev/null # and fail at once, while the read-back is under way
echo 'Fatal: unable to save snapshot: the disk is full' >&2
exit 1
`, 0o755)
	x := &manifestFails{StreamExec: f.X, script: failing}
	_, err := pgdump.Driver{}.Backup(context.Background(), x, f.Target)
	if err == nil || !strings.Contains(err.Error(), "storing the manifest") || !strings.Contains(err.Error(), "so the dump was removed again") {
		t.Fatalf("backup: %v", err)
	}
	if !strings.Contains(f.X.Lines(), "restic dump") {
		t.Fatalf("the test proves nothing: no read-back ran:\n%s", f.X.Lines())
	}
	if after := f.RepoContents(t); strings.Join(after, "|") != strings.Join(before, "|") {
		t.Fatalf("the dump without a manifest was kept: %v → %v", before, after)
	}
	if x.readBackEnded.IsZero() || x.forgetStarted.Before(x.readBackEnded) {
		t.Fatalf("the dump was removed (%v) before its read-back ended (%v)", x.forgetStarted, x.readBackEnded)
	}
	t.Logf("failed as it must: %v", err)
}

// manifestFails runs script instead of the restic that stores a manifest,
// and notes when the read-back ended and the removal began.
type manifestFails struct {
	*drivertest.StreamExec
	script                       string
	mu                           sync.Mutex
	readBackEnded, forgetStarted time.Time
}

func (x *manifestFails) Run(ctx context.Context, c proc.Command) (proc.Result, error) {
	if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasSuffix(a, ".manifest.json") }) {
		c.Program = x.script
	}
	if slices.Contains(c.Args, "forget") {
		x.mu.Lock()
		x.forgetStarted = time.Now()
		x.mu.Unlock()
	}
	return x.StreamExec.Run(ctx, c)
}

func (x *manifestFails) RunPipe(ctx context.Context, from, to proc.Command, tap io.Writer) (proc.Result, proc.Result, error) {
	fromRes, toRes, err := x.StreamExec.RunPipe(ctx, from, to, tap)
	if slices.Contains(from.Args, "dump") {
		x.mu.Lock()
		x.readBackEnded = time.Now()
		x.mu.Unlock()
	}
	return fromRes, toRes, err
}

// A lock a killed run left in the repository a dump streams into goes
// before the dump, as it would before the restic target's own backup:
// otherwise this target's retention (forget --prune, exclusive) fails.
func TestStreamIntoResticAppliesTheLockPolicy(t *testing.T) {
	f := drivertest.NewStreamFixture(t, "restic")
	ctx := context.Background()
	repo := &drivertest.ResticFixture{Repo: f.Into.Settings.Str("repository"), Pass: f.Into.Settings.Str("password_file")}
	t.Setenv("RESTIC_CACHE_DIR", filepath.Join(f.Dir, "cache"))
	id, _ := repo.PlantLock(t, "")
	a, err := pgdump.Driver{}.Backup(ctx, f.X, f.Target)
	if err != nil {
		t.Fatal(err)
	}
	if !drivertest.HasWarning(a.Warnings, "removed 1 stale restic lock(s): "+id[:8], "a killed run on this host") {
		t.Fatalf("warnings %q", a.Warnings)
	}
	if left := repo.LockFiles(t); len(left) != 0 {
		t.Fatalf("locks left: %v", left)
	}
	if _, err := (proc.ProcessExecutor{}).Run(ctx, proc.Command{Program: "restic", Args: []string{"check"},
		Env: []proc.EnvVar{{Name: "RESTIC_REPOSITORY", Value: repo.Repo}, {Name: "RESTIC_PASSWORD_FILE", Value: repo.Pass}}}); err != nil {
		t.Fatalf("an exclusive restic command after the streamed dump: %v", err)
	}
}
