package restic_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/drill"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// This file also holds the helpers the borg restore tests share
// (RbArchiveTree, RbSameTree, ...: "rb" for restic and borg).

// newResticRestoreFixture is a restic fixture whose cache lives in the
// test's directory through the target's env (not t.Setenv), so the tests
// run in parallel.
func newResticRestoreFixture(t *testing.T) (*drivertest.ResticFixture, []string) {
	drivertest.RequireTool(t, "restic")
	t.Parallel()
	dir := t.TempDir()
	f := &drivertest.ResticFixture{Dir: dir, Src: filepath.Join(dir, "library"), Repo: filepath.Join(dir, "repo"), X: proc.ProcessExecutor{}}
	f.Pass = drivertest.WriteFile(t, dir, "restic.pass", "correct horse battery staple\n", 0o600)
	files := drivertest.RbArchiveTree(t, f.Src)
	return f, files
}

// Restoring the latest snapshot, and an older one by the id `snapshots`
// shows, brings back the tree as it was, below DIR at its absolute path.
// "latest" is this target's latest, not the repository's.
func TestResticRestoreLatestAndByID(t *testing.T) {
	f, files := newResticRestoreFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	tg := f.RestoreTarget(t, "library", nil)
	f.Backup(t, tg)
	snaps, err := r.Snapshots(ctx, f.X, tg)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots %v %v", snaps, err)
	}
	first := snaps[0].ID
	firstDir := filepath.Join(f.Dir, "restore-first")
	if _, err := r.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: firstDir}); err != nil {
		t.Fatal(err)
	}

	// A second snapshot with a changed and a new file, then another
	// target's snapshot of something else, made last.
	drivertest.WriteFile(t, f.Src, "books/new.epub", "new book", 0o644)
	drivertest.WriteFile(t, f.Src, files[0], "rewritten", 0o644)
	f.Backup(t, tg)
	other := f.RestoreTarget(t, "other", drivers.Values{"paths": []string{filepath.Join(f.Src, "covers")}})
	f.Backup(t, other)

	to := filepath.Join(f.Dir, "restore-latest")
	res, err := r.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to})
	if err != nil {
		t.Fatal(err)
	}
	drivertest.RbSameTree(t, f.Src, filepath.Join(to, f.Src))
	if res.Files != len(files)+1 || res.Where != to || res.From == "" || res.From == first {
		t.Errorf("result %+v, want %d files from the second snapshot", res, len(files)+1)
	}
	if fi, err := os.Stat(to); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("restore directory: %v %v, want created 0700", fi.Mode(), err)
	}

	old := filepath.Join(f.Dir, "restore-old")
	res, err = r.Restore(ctx, f.X, tg, drivers.RestoreRequest{From: first, To: old})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != first || res.Files != len(files) {
		t.Errorf("result %+v, want %d files from %s", res, len(files), first)
	}
	drivertest.RbSameTree(t, filepath.Join(firstDir, f.Src), filepath.Join(old, f.Src))
	if _, err := os.Stat(filepath.Join(old, f.Src, "books/new.epub")); err == nil {
		t.Error("the old snapshot brought back a file made after it")
	}

	// Another target's snapshot is not this target's to restore.
	osnaps, _ := r.Snapshots(ctx, f.X, other)
	_, err = r.Restore(ctx, f.X, tg, drivers.RestoreRequest{From: osnaps[0].ID, To: filepath.Join(f.Dir, "x")})
	if err == nil || !strings.Contains(err.Error(), "no snapshot") {
		t.Errorf("restoring another target's snapshot: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.Dir, "x")); err == nil {
		t.Error("a refused restore created its directory")
	}
}

// A non-empty directory is refused without Force and nothing in it is
// touched; with Force the restore goes in beside what is there. A relative
// directory is refused.
func TestResticRestoreNonEmptyNeedsForce(t *testing.T) {
	f, _ := newResticRestoreFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	tg := f.RestoreTarget(t, "library", nil)
	f.Backup(t, tg)
	to := filepath.Join(f.Dir, "restore")
	keep := drivertest.WriteFile(t, to, "notes.txt", "mine", 0o644)
	_, err := r.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to})
	if err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore into a non-empty directory: %v", err)
	}
	if entries, _ := os.ReadDir(to); len(entries) != 1 {
		t.Fatalf("a refused restore wrote into the directory: %v", entries)
	}
	if _, err := r.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to, Force: true}); err != nil {
		t.Fatal(err)
	}
	drivertest.RbSameTree(t, f.Src, filepath.Join(to, f.Src))
	if b, _ := os.ReadFile(keep); string(b) != "mine" {
		t.Error("a forced restore changed a file that is not in the backup")
	}
	if _, err := r.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: "relative/dir"}); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative directory: %v", err)
	}
}

// Nothing is ever written outside the restore directory: not at the
// backed-up absolute paths, not through a symlink the backup holds, not
// through a symlink already in the directory, and a path backed up as
// "../" lands below the directory too.
func TestResticRestoreStaysInside(t *testing.T) {
	f, _ := newResticRestoreFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	outside := filepath.Join(f.Dir, "outside")
	victim := drivertest.WriteFile(t, outside, "o.txt", "backed up", 0o644)
	link := filepath.Join(f.Src, "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	// The second path is a file reached through the symlinked directory.
	tg := f.RestoreTarget(t, "library", drivers.Values{"paths": []string{f.Src, filepath.Join(link, "o.txt")}})
	f.Backup(t, tg)
	// After the backup the live files change; a restore must not touch them.
	drivertest.WriteFile(t, outside, "o.txt", "live data", 0o644)
	drivertest.WriteFile(t, f.Src, "books/-dash", "live too", 0o644)

	to := filepath.Join(f.Dir, "restore")
	if _, err := r.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "live data" {
		t.Fatalf("the restore wrote through the symlink outside its directory: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(f.Src, "books/-dash")); string(b) != "live too" {
		t.Fatal("the restore wrote to the backed-up absolute path")
	}
	if b, err := os.ReadFile(filepath.Join(to, link, "o.txt")); err != nil || string(b) != "backed up" {
		t.Fatalf("the file below the symlink was not restored below the directory: %q %v", b, err)
	}
	if fi, err := os.Lstat(filepath.Join(to, link)); err != nil || !fi.IsDir() {
		t.Fatalf("restic 0.14 stores the symlinked directory of a path as a directory: %v %v", fi.Mode(), err)
	}

	// A forced restore into a directory holding a symlink where the
	// restore will write: restic would write through it (measured), so it
	// is refused, and the file outside is untouched.
	to2 := filepath.Join(f.Dir, "restore2")
	if err := os.MkdirAll(filepath.Join(to2, f.Src), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(to2, link)); err != nil {
		t.Fatal(err)
	}
	_, err := r.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to2, Force: true})
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("forced restore over an escaping symlink: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "live data" {
		t.Fatalf("wrote outside: %q", b)
	}

	// A path given as "../library/books" from another directory.
	sub := filepath.Join(f.Dir, "sub")
	os.Mkdir(sub, 0o700)
	res, err := f.X.Run(ctx, proc.Command{Program: "restic", Dir: sub,
		Args: []string{"backup", "--host", "test-host", "--tag", "alexandria:library", "--", "../library/books"},
		Env: []proc.EnvVar{{Name: "RESTIC_REPOSITORY", Value: f.Repo}, {Name: "RESTIC_PASSWORD_FILE", Value: f.Pass},
			{Name: "RESTIC_CACHE_DIR", Value: filepath.Join(f.Dir, "cache")}}})
	if err != nil {
		t.Fatalf("%v %s", err, res.Stderr)
	}
	to3 := filepath.Join(f.Dir, "restore3")
	if _, err := r.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to3}); err != nil {
		t.Fatal(err)
	}
	// restic 0.14 records the snapshot's path as absolute but stores the
	// tree of a "../x" path as "/x": it comes back as DIR/library/books.
	if _, err := os.Stat(filepath.Join(to3, "library", "books", "-dash")); err != nil {
		t.Fatalf("a \"../\" path did not land below the directory: %v", err)
	}
	if entries, _ := os.ReadDir(to3); len(entries) != 1 {
		t.Fatalf("restore directory holds %v", entries)
	}
}

// The drill passes on a good backup, and fails, naming the file, when a
// source file differs from the backup though its size and mtime say it
// should not; a file changed the normal way is skipped; damage in the
// repository fails the drill. Scratch directories never stay behind.
func TestResticDrill(t *testing.T) {
	f, files := newResticRestoreFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	tg := f.RestoreTarget(t, "library", nil)
	tg.DrillSample = 100 // every file: the damaged one is always sampled
	f.Backup(t, tg)

	d, err := r.Drill(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	n := len(files)
	if d.Checked != n || !strings.Contains(d.Detail, "restored: "+strconv.Itoa(n)+" match their source") || !strings.Contains(d.Detail, "restic restore --verify") {
		t.Fatalf("drill %+v, want all %d files compared with their source", d, n)
	}
	t.Logf("good backup: %s", d.Detail)
	drivertest.RbNoDrillLeftovers(t, tg.TempDir)

	tg.DrillSample = 3
	if d, err := r.Drill(ctx, f.X, tg); err != nil || d.Checked != 3 {
		t.Fatalf("a sample of 3: %+v %v", d, err)
	}

	// A source file changed the normal way: skipped, not failed.
	drivertest.WriteFile(t, f.Src, files[1], "changed after the backup", 0o644)
	tg.DrillSample = 100
	d, err = r.Drill(ctx, f.X, tg)
	if err != nil || !strings.Contains(d.Detail, "1 changed since the backup") {
		t.Fatalf("changed source: %+v %v", d, err)
	}

	// A source differing from the backup with size and mtime unchanged.
	bad := filepath.Join(f.Src, files[2])
	drivertest.RbChangeKeepingStat(t, bad, 100)
	_, err = r.Drill(ctx, f.X, tg)
	var m *drill.Mismatch
	if !errors.As(err, &m) || m.File != bad || !strings.Contains(err.Error(), "byte 100") {
		t.Fatalf("drill passed, or did not name %s: %v", bad, err)
	}
	t.Logf("drill failed as it must: %v", err)
	drivertest.RbNoDrillLeftovers(t, tg.TempDir)
	drivertest.RbChangeKeepingStat(t, bad, 100)

	// A damaged pack.
	pack := drivertest.RbFlipInLargest(t, filepath.Join(f.Repo, "data"))
	_, err = r.Drill(ctx, f.X, tg)
	if err == nil {
		t.Fatalf("drill passed with %s damaged", pack)
	}
	t.Logf("drill failed as it must: %v", err)
	drivertest.RbNoDrillLeftovers(t, tg.TempDir)
}

// ProveRestore compares every file in place with what restic dump reads
// from the repository, and names the file that differs, however it does.
// With Paths, only what is below them counts.
func TestResticProveRestore(t *testing.T) {
	f, files := newResticRestoreFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	tg := f.RestoreTarget(t, "library", nil)
	f.Backup(t, tg)
	to := filepath.Join(f.Dir, "restored")
	if _, err := r.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to}); err != nil {
		t.Fatal(err)
	}
	drivertest.RbProveRestore(t, f.Src, to, files, func() (drivers.RestoreProof, error) {
		return r.ProveRestore(ctx, f.X, tg, drivers.RestoreRequest{To: to})
	})

	// Only covers/: a damaged book is not looked at.
	os.Remove(filepath.Join(to, f.Src, files[0]))
	proof, err := r.ProveRestore(ctx, f.X, tg, drivers.RestoreRequest{To: to, Paths: []string{filepath.Join(f.Src, "covers")}})
	if err != nil || proof.Checked != 1 {
		t.Errorf("the proof of covers/ alone: %+v, %v", proof, err)
	}
}

// The proof of a restore that restic's --verify checked as it wrote it
// (what recover does): the content was proven then, so the proof reads no
// data again; it fails, naming the file, for each damage moving into place
// could do (a missing file, a cut one, a symlink instead), and when the
// count restic verified is not the snapshot's. A flipped byte after the
// restore is the one damage it cannot see: only the unverified proof
// (restic dump) reads content, and TestResticProveRestore holds it to it.
func TestResticProveVerifiedRestore(t *testing.T) {
	f, files := newResticRestoreFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	tg := f.RestoreTarget(t, "library", nil)
	f.Backup(t, tg)
	to := filepath.Join(f.Dir, "restored")
	res, err := r.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to})
	if err != nil {
		t.Fatal(err)
	}
	if !res.ContentVerified || res.Files != len(files) {
		t.Fatalf("restore %+v: want its content verified, %d files", res, len(files))
	}
	rec := &drivertest.CountingExecutor{}
	prove := func(verified int) (drivers.RestoreProof, error) {
		return r.ProveRestore(ctx, rec, tg, drivers.RestoreRequest{To: to, ContentVerified: true, VerifiedFiles: verified})
	}
	proof, err := prove(res.Files)
	if err != nil || proof.Checked != len(files) {
		t.Fatalf("the proof of an exact restore: %+v, %v", proof, err)
	}
	for _, run := range rec.Runs {
		if strings.Contains(run, " dump ") || strings.Contains(run, " restore ") {
			t.Errorf("the proof of a verified restore read the data again: %s", run)
		}
	}
	if _, err := prove(res.Files - 1); err == nil || !strings.Contains(err.Error(), "verified") {
		t.Errorf("a verified count short of the snapshot's: %v", err)
	}
	in := func(name string) string { return filepath.Join(to, f.Src, name) }
	for _, c := range []struct {
		name, file, want string
		damage           func(string) error
	}{
		{"cut", files[1], "bytes", func(p string) error { return os.Truncate(p, 1) }},
		{"missing", files[2], "missing", os.Remove},
		{"symlink instead", files[3], "not a regular file", func(p string) error {
			os.Remove(p)
			return os.Symlink("/etc/passwd", p)
		}},
	} {
		data, err := os.ReadFile(filepath.Join(f.Src, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.damage(in(c.file)); err != nil {
			t.Fatal(err)
		}
		if _, err := prove(res.Files); err == nil || !strings.Contains(err.Error(), filepath.Join(f.Src, c.file)) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: the proof said %v; want it to name %s and %q", c.name, err, c.file, c.want)
		}
		os.Remove(in(c.file))
		if err := os.WriteFile(in(c.file), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := prove(res.Files); err != nil {
		t.Errorf("after undoing every damage: %v", err)
	}
}
