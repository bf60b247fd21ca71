package drivers_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// This file also holds the helpers the borg restore tests share
// (rbArchiveTree, rbSameTree, ...: "rb" for restic and borg).

// rbArchiveTree fills dir with a small library whose details a restore must
// bring back: nested directories with their own modes, files with
// different modes and nanosecond mtimes in the past, an empty file, names
// that are glob patterns or look like options, and a relative symlink.
// It returns the regular files' paths relative to dir.
func rbArchiveTree(t *testing.T, dir string) []string {
	t.Helper()
	rng := rand.New(rand.NewSource(7))
	var files []string
	add := func(name string, size int, mode os.FileMode) {
		b := make([]byte, size)
		rng.Read(b)
		writeFile(t, dir, name, string(b), mode)
		files = append(files, name)
	}
	for i := 0; i < 8; i++ {
		add(filepath.Join("books", "author"+string(rune('a'+i%3)), "book"+string(rune('a'+i))+".epub"), 5000+rng.Intn(60000), 0o644)
	}
	add(filepath.Join("covers", "private.jpg"), 3000, 0o600)
	add(filepath.Join("bin", "convert.sh"), 200, 0o755)
	add(filepath.Join("books", "we[ir]d *?.txt"), 100, 0o644)
	add(filepath.Join("books", "-dash"), 100, 0o644)
	add("empty", 0, 0o644)
	if err := os.Symlink(filepath.Join("books", "-dash"), filepath.Join(dir, "latest")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "covers"), 0o750); err != nil {
		t.Fatal(err)
	}
	// Past mtimes with nanoseconds, children before their directories.
	base := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	var paths []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink == 0 {
			paths = append(paths, p)
		}
		return err
	})
	for i := len(paths) - 1; i >= 0; i-- {
		mt := base.Add(time.Duration(i)*time.Hour + time.Duration(i)*1111)
		if err := os.Chtimes(paths[i], mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// rbSameTree fails unless got holds exactly what want holds: the same
// entries, types, modes, regular files' bytes and mtimes, directories'
// mtimes and symlinks' targets.
func rbSameTree(t *testing.T, want, got string) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		seen[rel] = true
		ws, err := os.Lstat(p)
		if err != nil {
			return err
		}
		gs, err := os.Lstat(filepath.Join(got, rel))
		if err != nil {
			t.Errorf("%s: not restored: %v", rel, err)
			return nil
		}
		if ws.Mode() != gs.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, gs.Mode(), ws.Mode())
		}
		switch {
		case ws.Mode().IsRegular():
			wb, _ := os.ReadFile(p)
			gb, _ := os.ReadFile(filepath.Join(got, rel))
			if !bytes.Equal(wb, gb) {
				t.Errorf("%s: content differs", rel)
			}
			fallthrough
		case ws.IsDir():
			if !ws.ModTime().Equal(gs.ModTime()) {
				t.Errorf("%s: mtime %v, want %v", rel, gs.ModTime(), ws.ModTime())
			}
		case ws.Mode()&fs.ModeSymlink != 0:
			wl, _ := os.Readlink(p)
			gl, _ := os.Readlink(filepath.Join(got, rel))
			if wl != gl {
				t.Errorf("%s: symlink to %q, want %q", rel, gl, wl)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		if rel, _ := filepath.Rel(got, p); err == nil && !seen[rel] {
			t.Errorf("%s: restored but not in the source", rel)
		}
		return nil
	})
}

// rbNoDrillLeftovers fails when a drill left its scratch directory behind.
func rbNoDrillLeftovers(t *testing.T, tempDir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(tempDir, "drill-*"))
	if len(left) > 0 {
		t.Errorf("drill left %v behind", left)
	}
}

// rbChangeKeepingStat rewrites one byte of a file keeping its size and mtime,
// as bit rot or a bad backup would look from the outside.
func rbChangeKeepingStat(t *testing.T, path string, off int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	fh.ReadAt(b, off)
	b[0] ^= 0xff
	fh.WriteAt(b, off)
	fh.Close()
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.Stat(path); now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()) {
		t.Fatal("size or mtime changed")
	}
}

// rbFlipInLargest flips a byte in the middle of the largest file under dir
// (a restic pack, a borg segment), keeping its size and mtime.
func rbFlipInLargest(t *testing.T, dir string) string {
	t.Helper()
	var biggest string
	var size int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, _ := d.Info(); fi != nil && fi.Size() > size {
				biggest, size = p, fi.Size()
			}
		}
		return nil
	})
	if size < 10000 {
		t.Fatalf("no data file under %s", dir)
	}
	os.Chmod(biggest, 0o600)
	rbChangeKeepingStat(t, biggest, size/2)
	return biggest
}

// newResticRestoreFixture is a restic fixture whose cache lives in the
// test's directory through the target's env (not t.Setenv), so the tests
// run in parallel.
func newResticRestoreFixture(t *testing.T) (*resticFixture, []string) {
	requireTool(t, "restic")
	t.Parallel()
	dir := t.TempDir()
	f := &resticFixture{dir: dir, src: filepath.Join(dir, "library"), repo: filepath.Join(dir, "repo"), x: drivers.ProcessExecutor{}}
	f.pass = writeFile(t, dir, "restic.pass", "correct horse battery staple\n", 0o600)
	files := rbArchiveTree(t, f.src)
	return f, files
}

func (f *resticFixture) restoreTarget(t *testing.T, name string, settings drivers.Values) *drivers.Target {
	tg := f.target(name, settings)
	tg.Env = map[string]string{"RESTIC_CACHE_DIR": filepath.Join(f.dir, "cache")}
	tg.TempDir = filepath.Join(f.dir, "tmp-"+name)
	if err := os.MkdirAll(tg.TempDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return tg
}

func (f *resticFixture) backup(t *testing.T, tg *drivers.Target) drivers.Artifact {
	t.Helper()
	r := drivers.Restic{}
	if err := r.Init(context.Background(), f.x, tg); err != nil {
		t.Fatal(err)
	}
	a, err := r.Backup(context.Background(), f.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Restoring the latest snapshot, and an older one by the id `snapshots`
// shows, brings back the tree as it was, below DIR at its absolute path.
// "latest" is this target's latest, not the repository's.
func TestResticRestoreLatestAndByID(t *testing.T) {
	f, files := newResticRestoreFixture(t)
	ctx := context.Background()
	r := drivers.Restic{}
	tg := f.restoreTarget(t, "library", nil)
	f.backup(t, tg)
	snaps, err := r.Snapshots(ctx, f.x, tg)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots %v %v", snaps, err)
	}
	first := snaps[0].ID
	firstDir := filepath.Join(f.dir, "restore-first")
	if _, err := r.Restore(ctx, f.x, tg, drivers.RestoreRequest{To: firstDir}); err != nil {
		t.Fatal(err)
	}

	// A second snapshot with a changed and a new file, then another
	// target's snapshot of something else, made last.
	writeFile(t, f.src, "books/new.epub", "new book", 0o644)
	writeFile(t, f.src, files[0], "rewritten", 0o644)
	f.backup(t, tg)
	other := f.restoreTarget(t, "other", drivers.Values{"paths": []string{filepath.Join(f.src, "covers")}})
	f.backup(t, other)

	to := filepath.Join(f.dir, "restore-latest")
	res, err := r.Restore(ctx, f.x, tg, drivers.RestoreRequest{To: to})
	if err != nil {
		t.Fatal(err)
	}
	rbSameTree(t, f.src, filepath.Join(to, f.src))
	if res.Files != len(files)+1 || res.Where != to || res.From == "" || res.From == first {
		t.Errorf("result %+v, want %d files from the second snapshot", res, len(files)+1)
	}
	if fi, err := os.Stat(to); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("restore directory: %v %v, want created 0700", fi.Mode(), err)
	}

	old := filepath.Join(f.dir, "restore-old")
	res, err = r.Restore(ctx, f.x, tg, drivers.RestoreRequest{From: first, To: old})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != first || res.Files != len(files) {
		t.Errorf("result %+v, want %d files from %s", res, len(files), first)
	}
	rbSameTree(t, filepath.Join(firstDir, f.src), filepath.Join(old, f.src))
	if _, err := os.Stat(filepath.Join(old, f.src, "books/new.epub")); err == nil {
		t.Error("the old snapshot brought back a file made after it")
	}

	// Another target's snapshot is not this target's to restore.
	osnaps, _ := r.Snapshots(ctx, f.x, other)
	_, err = r.Restore(ctx, f.x, tg, drivers.RestoreRequest{From: osnaps[0].ID, To: filepath.Join(f.dir, "x")})
	if err == nil || !strings.Contains(err.Error(), "no snapshot") {
		t.Errorf("restoring another target's snapshot: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "x")); err == nil {
		t.Error("a refused restore created its directory")
	}
}

// A non-empty directory is refused without Force and nothing in it is
// touched; with Force the restore goes in beside what is there. A relative
// directory is refused.
func TestResticRestoreNonEmptyNeedsForce(t *testing.T) {
	f, _ := newResticRestoreFixture(t)
	ctx := context.Background()
	r := drivers.Restic{}
	tg := f.restoreTarget(t, "library", nil)
	f.backup(t, tg)
	to := filepath.Join(f.dir, "restore")
	keep := writeFile(t, to, "notes.txt", "mine", 0o644)
	_, err := r.Restore(ctx, f.x, tg, drivers.RestoreRequest{To: to})
	if err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore into a non-empty directory: %v", err)
	}
	if entries, _ := os.ReadDir(to); len(entries) != 1 {
		t.Fatalf("a refused restore wrote into the directory: %v", entries)
	}
	if _, err := r.Restore(ctx, f.x, tg, drivers.RestoreRequest{To: to, Force: true}); err != nil {
		t.Fatal(err)
	}
	rbSameTree(t, f.src, filepath.Join(to, f.src))
	if b, _ := os.ReadFile(keep); string(b) != "mine" {
		t.Error("a forced restore changed a file that is not in the backup")
	}
	if _, err := r.Restore(ctx, f.x, tg, drivers.RestoreRequest{To: "relative/dir"}); err == nil || !strings.Contains(err.Error(), "absolute") {
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
	r := drivers.Restic{}
	outside := filepath.Join(f.dir, "outside")
	victim := writeFile(t, outside, "o.txt", "backed up", 0o644)
	link := filepath.Join(f.src, "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	// The second path is a file reached through the symlinked directory.
	tg := f.restoreTarget(t, "library", drivers.Values{"paths": []string{f.src, filepath.Join(link, "o.txt")}})
	f.backup(t, tg)
	// After the backup the live files change; a restore must not touch them.
	writeFile(t, outside, "o.txt", "live data", 0o644)
	writeFile(t, f.src, "books/-dash", "live too", 0o644)

	to := filepath.Join(f.dir, "restore")
	if _, err := r.Restore(ctx, f.x, tg, drivers.RestoreRequest{To: to}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "live data" {
		t.Fatalf("the restore wrote through the symlink outside its directory: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(f.src, "books/-dash")); string(b) != "live too" {
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
	to2 := filepath.Join(f.dir, "restore2")
	if err := os.MkdirAll(filepath.Join(to2, f.src), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(to2, link)); err != nil {
		t.Fatal(err)
	}
	_, err := r.Restore(ctx, f.x, tg, drivers.RestoreRequest{To: to2, Force: true})
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("forced restore over an escaping symlink: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "live data" {
		t.Fatalf("wrote outside: %q", b)
	}

	// A path given as "../library/books" from another directory.
	sub := filepath.Join(f.dir, "sub")
	os.Mkdir(sub, 0o700)
	res, err := f.x.Run(ctx, drivers.Command{Program: "restic", Dir: sub,
		Args: []string{"backup", "--host", "test-host", "--tag", "alexandria:library", "--", "../library/books"},
		Env: []drivers.EnvVar{{Name: "RESTIC_REPOSITORY", Value: f.repo}, {Name: "RESTIC_PASSWORD_FILE", Value: f.pass},
			{Name: "RESTIC_CACHE_DIR", Value: filepath.Join(f.dir, "cache")}}})
	if err != nil {
		t.Fatalf("%v %s", err, res.Stderr)
	}
	to3 := filepath.Join(f.dir, "restore3")
	if _, err := r.Restore(ctx, f.x, tg, drivers.RestoreRequest{To: to3}); err != nil {
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
	r := drivers.Restic{}
	tg := f.restoreTarget(t, "library", nil)
	tg.DrillSample = 100 // every file: the damaged one is always sampled
	f.backup(t, tg)

	d, err := r.Drill(ctx, f.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	n := len(files)
	if d.Checked != n || !strings.Contains(d.Detail, "restored: "+strconv.Itoa(n)+" match their source") || !strings.Contains(d.Detail, "restic restore --verify") {
		t.Fatalf("drill %+v, want all %d files compared with their source", d, n)
	}
	t.Logf("good backup: %s", d.Detail)
	rbNoDrillLeftovers(t, tg.TempDir)

	tg.DrillSample = 3
	if d, err := r.Drill(ctx, f.x, tg); err != nil || d.Checked != 3 {
		t.Fatalf("a sample of 3: %+v %v", d, err)
	}

	// A source file changed the normal way: skipped, not failed.
	writeFile(t, f.src, files[1], "changed after the backup", 0o644)
	tg.DrillSample = 100
	d, err = r.Drill(ctx, f.x, tg)
	if err != nil || !strings.Contains(d.Detail, "1 changed since the backup") {
		t.Fatalf("changed source: %+v %v", d, err)
	}

	// A source differing from the backup with size and mtime unchanged.
	bad := filepath.Join(f.src, files[2])
	rbChangeKeepingStat(t, bad, 100)
	_, err = r.Drill(ctx, f.x, tg)
	var m *drivers.DrillMismatch
	if !errors.As(err, &m) || m.File != bad || !strings.Contains(err.Error(), "byte 100") {
		t.Fatalf("drill passed, or did not name %s: %v", bad, err)
	}
	t.Logf("drill failed as it must: %v", err)
	rbNoDrillLeftovers(t, tg.TempDir)
	rbChangeKeepingStat(t, bad, 100)

	// A damaged pack.
	pack := rbFlipInLargest(t, filepath.Join(f.repo, "data"))
	_, err = r.Drill(ctx, f.x, tg)
	if err == nil {
		t.Fatalf("drill passed with %s damaged", pack)
	}
	t.Logf("drill failed as it must: %v", err)
	rbNoDrillLeftovers(t, tg.TempDir)
}
