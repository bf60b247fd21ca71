package rsync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rsync"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/sshtest"
)

// sameTree fails unless b holds exactly a's files, with the same bytes,
// modes and symlink targets (skipping paths for which skip is true).
func sameTree(t *testing.T, a, b string, skip func(rel string) bool) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		if skip != nil && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		seen[rel] = true
		fa, _ := os.Lstat(p)
		fb, err := os.Lstat(filepath.Join(b, rel))
		if err != nil {
			t.Errorf("mirror lacks %s", rel)
			return nil
		}
		if fa.Mode() != fb.Mode() {
			t.Errorf("%s: mode %v in the mirror, %v in the source", rel, fb.Mode(), fa.Mode())
		}
		switch {
		case fa.Mode()&fs.ModeSymlink != 0:
			la, _ := os.Readlink(p)
			lb, _ := os.Readlink(filepath.Join(b, rel))
			if la != lb {
				t.Errorf("%s: symlink to %q, want %q", rel, lb, la)
			}
		case fa.Mode().IsRegular():
			ba, _ := os.ReadFile(p)
			bb, _ := os.ReadFile(filepath.Join(b, rel))
			if !bytes.Equal(ba, bb) {
				t.Errorf("%s: content differs", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(b, func(p string, d fs.DirEntry, err error) error {
		if rel, _ := filepath.Rel(b, p); err == nil && !seen[rel] {
			t.Errorf("mirror has %s, which the source does not", rel)
		}
		return nil
	})
}

// corrupt flips one byte in the middle of path, keeping its size and
// modification time, so rsync's quick check (size + mtime) cannot see it.
func corrupt(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(path); after.Size() != fi.Size() || !after.ModTime().Equal(fi.ModTime()) {
		t.Fatal("corruption changed size or mtime")
	}
}

func TestRsyncMirrorVerifyAndCorruption(t *testing.T) {
	f := drivertest.NewRsyncFixture(t)
	ctx := context.Background()
	r := rsync.Driver{}
	tg := f.Target(drivers.Values{"delete": true, "max_delete": 100})
	if err := r.CheckTools(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	if err := r.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	// rsync's "Total file size" counts every regular file by name (a hard
	// link twice) and every symlink by the length of its target, which is
	// what Lstat reports for each.
	var size int64
	filepath.WalkDir(f.Src, func(p string, d fs.DirEntry, err error) error {
		if fi, _ := os.Lstat(p); !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	if a.ID != f.Dst || a.Bytes != size || len(a.Warnings) != 0 {
		t.Fatalf("artifact %+v, want %d bytes", a, size)
	}
	sameTree(t, f.Src, f.Dst, nil)
	var one, two syscall.Stat_t
	syscall.Stat(filepath.Join(f.Dst, "books/authora/booka.epub"), &one)
	syscall.Stat(filepath.Join(f.Dst, "books/same-book.epub"), &two)
	if one.Ino != two.Ino {
		t.Error("the hard link became two copies in the mirror (--hard-links)")
	}
	if err := r.Verify(ctx, f.X, tg, a); err != nil {
		t.Fatalf("verify of a fresh mirror: %v", err)
	}
	// Not sealed yet (the plan seals after a passed verify): in no point
	// and of unknown time, whatever the mirrored files' times say.
	snaps, err := r.Snapshots(ctx, f.X, tg)
	if err != nil || len(snaps) != 1 || snaps[0].ID != f.Dst || !snaps[0].Time.IsZero() || snaps[0].Point != "" {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}

	victim := filepath.Join(f.Dst, "books/authorc/bookc.epub")
	corrupt(t, victim)
	// rsync's own quick check cannot see this damage: the checksum is
	// what catches it.
	quick, err := proc.ProcessExecutor{}.Run(ctx, proc.Command{Program: "rsync",
		Args: []string{"--archive", "--dry-run", "--itemize-changes", "--delete", "--", f.Src + "/", f.Dst}})
	if err != nil || strings.TrimSpace(string(quick.Stdout)) != "" {
		t.Fatalf("without --checksum rsync should see nothing, saw %q (%v)", quick.Stdout, err)
	}
	err = r.Verify(ctx, f.X, tg, a)
	if err == nil {
		t.Fatal("verify passed a mirror with a corrupted file")
	}
	if !strings.Contains(err.Error(), "books/authorc/bookc.epub") {
		t.Errorf("the error does not name the file: %v", err)
	}
	t.Logf("verify failed as it must: %v", err)
}

func TestRsyncVerifySeesMissingAndExtraFiles(t *testing.T) {
	f := drivertest.NewRsyncFixture(t)
	ctx := context.Background()
	r := rsync.Driver{}
	withDelete, without := f.Target(drivers.Values{"delete": true}), f.Target(nil)
	if err := r.Init(ctx, f.X, withDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backup(ctx, f.X, withDelete); err != nil {
		t.Fatal(err)
	}
	// A book leaves the library; a mirror without delete keeps it.
	dropped := "books/authora/bookd.epub"
	os.Remove(filepath.Join(f.Src, dropped))
	if _, err := r.Backup(ctx, f.X, without); err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(ctx, f.X, without, drivers.Artifact{}); err != nil {
		t.Fatalf("without delete, a file the source dropped is no difference: %v", err)
	}
	err := r.Verify(ctx, f.X, withDelete, drivers.Artifact{})
	if err == nil || !strings.Contains(err.Error(), "deleting") || !strings.Contains(err.Error(), dropped) {
		t.Fatalf("with delete, a file in the mirror but not in the source must fail verify: %v", err)
	}
	// A file lost from the mirror fails either way.
	os.Remove(filepath.Join(f.Dst, "covers/cover.jpg"))
	for _, tg := range []*drivers.Target{withDelete, without} {
		if err := r.Verify(ctx, f.X, tg, drivers.Artifact{}); err == nil || !strings.Contains(err.Error(), "covers/cover.jpg") {
			t.Fatalf("a file missing from the mirror must fail verify: %v", err)
		}
	}
	// The next run with delete repairs both.
	if _, err := r.Backup(ctx, f.X, withDelete); err != nil {
		t.Fatal(err)
	}
	sameTree(t, f.Src, f.Dst, nil)
	if err := r.Verify(ctx, f.X, withDelete, drivers.Artifact{}); err != nil {
		t.Fatal(err)
	}
}

// max_delete caps what one run may delete; reaching it fails the target
// (rsync exit 25) instead of passing as a quiet success.
func TestRsyncMaxDelete(t *testing.T) {
	f := drivertest.NewRsyncFixture(t)
	ctx := context.Background()
	r := rsync.Driver{}
	tg := f.Target(drivers.Values{"delete": true, "max_delete": 1})
	if err := r.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backup(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	gone := []string{"books/authora/booka.epub", "books/authorb/bookb.epub", "books/authorc/bookc.epub"}
	for _, g := range gone {
		os.Remove(filepath.Join(f.Src, g))
	}
	_, err := r.Backup(ctx, f.X, tg)
	var te *proc.ToolError
	if !errors.As(err, &te) || te.ExitCode != 25 {
		t.Fatalf("want rsync exit 25 as a failure, got %v", err)
	}
	left := 0
	for _, g := range gone {
		if _, err := os.Stat(filepath.Join(f.Dst, g)); err == nil {
			left++
		}
	}
	if left < 2 {
		t.Fatalf("max_delete = 1 but %d of 3 files were deleted", 3-left)
	}
	t.Logf("failed as it must: %v", err)
}

func TestRsyncExclude(t *testing.T) {
	f := drivertest.NewRsyncFixture(t)
	ctx := context.Background()
	r := rsync.Driver{}
	drivertest.WriteFile(t, f.Src, ".returns/returned.epub", "returned", 0o644)
	drivertest.WriteFile(t, f.Src, "books/authora/upload.tmp", "half", 0o644)
	drivertest.WriteFile(t, f.Src, "books/.returns/nested-is-kept.epub", "kept: the pattern is anchored", 0o644)
	tg := f.Target(drivers.Values{"delete": true, "exclude": []string{"/.returns/", "*.tmp"}})
	if err := r.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backup(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	sameTree(t, f.Src, f.Dst, func(rel string) bool { return rel == ".returns" || strings.HasSuffix(rel, ".tmp") })
	if err := r.Verify(ctx, f.X, tg, drivers.Artifact{}); err != nil {
		t.Fatalf("excluded files must not count as differences: %v", err)
	}
}

// Over ssh to a real sshd on loopback: the ssh_command reaches rsync as
// one --rsh word, the mirror and its checksum verification work remotely.
func TestRsyncOverSSH(t *testing.T) {
	f := drivertest.NewRsyncFixture(t)
	drivertest.RequireTool(t, "ssh")
	srv := sshtest.ForTest(t)
	ctx := context.Background()
	r := rsync.Driver{}
	tg := f.Target(drivers.Values{"delete": true, "max_delete": 100,
		"destination": srv.User() + "@" + srv.Host() + ":" + f.Dst + "/", "ssh_command": srv.SSHCommand()})
	if err := r.Validate(tg); err != nil {
		t.Fatal(err)
	}
	if snaps, err := r.Snapshots(ctx, f.X, tg); err != nil || len(snaps) != 0 {
		t.Fatalf("before the first run: %+v %v", snaps, err)
	}
	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatalf("%v\nsshd log:\n%s", err, srv.LogTail())
	}
	if !strings.Contains(f.X.Runs[len(f.X.Runs)-1], "'--rsh="+srv.SSHCommand()+"'") {
		t.Fatalf("ssh_command was not one --rsh word: %s", f.X.Runs[len(f.X.Runs)-1])
	}
	sameTree(t, f.Src, f.Dst, nil)
	if err := r.Verify(ctx, f.X, tg, a); err != nil {
		t.Fatal(err)
	}
	snaps, err := r.Snapshots(ctx, f.X, tg)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}
	corrupt(t, filepath.Join(f.Dst, "books/authorb/bookb.epub"))
	err = r.Verify(ctx, f.X, tg, a)
	if err == nil || !strings.Contains(err.Error(), "bookb.epub") {
		t.Fatalf("verify over ssh passed a corrupted mirror: %v", err)
	}
	t.Logf("verify failed as it must: %v", err)
}

// Files deleted from a live library while rsync runs: rsync exits 24 and
// names them. The run is a warning naming them, not a failure, and the
// verification that follows passes, for the directories whose times the
// deletions changed and for the old copies of the vanished files the
// mirror still holds, while a damaged book in the same mirror still fails
// it.
func TestRsyncVanishedFilesAreAWarning(t *testing.T) {
	drivertest.RequireTool(t, "rsync")
	ctx := context.Background()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "library"), filepath.Join(dir, "mirror")
	const books, gone = 60, 10
	name := func(i int) string { return fmt.Sprintf("books/book%03d.epub", i) }
	content := func(i int, gen string) string { return strings.Repeat(gen+strconv.Itoa(i), 2000) }
	for i := 0; i < books; i++ {
		drivertest.WriteFile(t, src, name(i), content(i, "first edition "), 0o644)
	}
	r := rsync.Driver{}
	tg := &drivers.Target{Name: "mirror", Driver: "rsync", Impl: rsync.Driver{}, Verify: true, TempDir: dir,
		Settings: drivers.Values{"source": src + "/", "destination": dst, "delete": true}}
	if err := r.Init(ctx, proc.ProcessExecutor{}, tg); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backup(ctx, proc.ProcessExecutor{}, tg); err != nil {
		t.Fatal(err)
	}
	// A new edition of every book, so every one is sent again, slowly
	// (bwlimit): the last ones are deleted once the first has arrived,
	// after rsync listed them and before it sends them.
	for i := 0; i < books; i++ {
		drivertest.WriteFile(t, src, name(i), content(i, "second edition "), 0o644)
	}
	tg.Settings["bwlimit"] = "1000"
	deleted := make(chan []string)
	go func() {
		var names []string
		defer func() { deleted <- names }()
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if b, _ := os.ReadFile(filepath.Join(dst, name(0))); strings.HasPrefix(string(b), "second") {
				break
			}
		}
		for i := books - gone; i < books; i++ {
			if os.Remove(filepath.Join(src, name(i))) == nil {
				names = append(names, name(i))
			}
		}
	}()
	a, err := r.Backup(ctx, proc.ProcessExecutor{}, tg)
	names := <-deleted
	if err != nil {
		t.Fatalf("vanished files must not fail the run: %v", err)
	}
	if len(a.Vanished) == 0 {
		t.Skipf("rsync finished before the files were deleted (sent too fast?); deleted %d", len(names))
	}
	if len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "vanished") || !strings.Contains(a.Warnings[0], a.Vanished[0]) {
		t.Fatalf("want one warning naming the vanished files, got %q", a.Warnings)
	}
	for _, v := range a.Vanished {
		if !slices.Contains(names, v) {
			t.Fatalf("rsync reported %q vanished, which the test did not delete (%q)", v, names)
		}
	}
	if err := r.Verify(ctx, proc.ProcessExecutor{}, tg, a); err != nil {
		t.Fatalf("verify after vanished files: %v", err)
	}
	corrupt(t, filepath.Join(dst, name(1)))
	if err := r.Verify(ctx, proc.ProcessExecutor{}, tg, a); err == nil || !strings.Contains(err.Error(), name(1)) {
		t.Fatalf("verify passed a damaged book after a run with vanished files: %v", err)
	}
	t.Logf("%d vanished: %q", len(a.Vanished), a.Warnings)
}
