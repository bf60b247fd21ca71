package drivers_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/sshtest"
)

type rsyncFixture struct {
	dir, src, dst string
	x             *countingExecutor
}

// countingExecutor runs commands for real and counts them, so a test can
// prove a refusal happened before rsync ran.
type countingExecutor struct {
	runs []string
}

func (c *countingExecutor) Run(ctx context.Context, cmd drivers.Command) (drivers.Result, error) {
	c.runs = append(c.runs, cmd.String())
	return drivers.ProcessExecutor{}.Run(ctx, cmd)
}

func newRsyncFixture(t *testing.T) *rsyncFixture {
	requireTool(t, "rsync")
	dir := t.TempDir()
	f := &rsyncFixture{dir: dir, src: filepath.Join(dir, "library"), dst: filepath.Join(dir, "mirror"), x: &countingExecutor{}}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 12; i++ {
		b := make([]byte, 5000+rng.Intn(20000))
		rng.Read(b)
		writeFile(t, f.src, filepath.Join("books", "author"+string(rune('a'+i%3)), "book"+string(rune('a'+i))+".epub"), string(b), 0o644)
	}
	writeFile(t, f.src, "covers/cover.jpg", "not really a jpeg", 0o600)
	// A hard link and a symlink, which a mirror must keep as such.
	if err := os.Link(filepath.Join(f.src, "books/authora/booka.epub"), filepath.Join(f.src, "books/same-book.epub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("authorb/bookb.epub", filepath.Join(f.src, "books/latest.epub")); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *rsyncFixture) target(settings drivers.Values) *drivers.Target {
	v := drivers.Values{"source": f.src + "/", "destination": f.dst}
	for k, x := range settings {
		v[k] = x
	}
	return &drivers.Target{Name: "mirror", Driver: "rsync", Verify: true, Settings: v, TempDir: f.dir}
}

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
	f := newRsyncFixture(t)
	ctx := context.Background()
	r := drivers.Rsync{}
	tg := f.target(drivers.Values{"delete": true, "max_delete": 100})
	if err := r.CheckTools(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	if err := r.Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	a, err := r.Backup(ctx, f.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	// rsync's "Total file size" counts every regular file by name (a hard
	// link twice) and every symlink by the length of its target, which is
	// what Lstat reports for each.
	var size int64
	filepath.WalkDir(f.src, func(p string, d fs.DirEntry, err error) error {
		if fi, _ := os.Lstat(p); !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	if a.ID != f.dst || a.Bytes != size || len(a.Warnings) != 0 {
		t.Fatalf("artifact %+v, want %d bytes", a, size)
	}
	sameTree(t, f.src, f.dst, nil)
	var one, two syscall.Stat_t
	syscall.Stat(filepath.Join(f.dst, "books/authora/booka.epub"), &one)
	syscall.Stat(filepath.Join(f.dst, "books/same-book.epub"), &two)
	if one.Ino != two.Ino {
		t.Error("the hard link became two copies in the mirror (--hard-links)")
	}
	if err := r.Verify(ctx, f.x, tg, a); err != nil {
		t.Fatalf("verify of a fresh mirror: %v", err)
	}
	snaps, err := r.Snapshots(ctx, f.x, tg)
	if err != nil || len(snaps) != 1 || snaps[0].ID != f.dst || time.Since(snaps[0].Time) > time.Hour {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}

	victim := filepath.Join(f.dst, "books/authorc/bookc.epub")
	corrupt(t, victim)
	// rsync's own quick check cannot see this damage: the checksum is
	// what catches it.
	quick, err := drivers.ProcessExecutor{}.Run(ctx, drivers.Command{Program: "rsync",
		Args: []string{"--archive", "--dry-run", "--itemize-changes", "--delete", "--", f.src + "/", f.dst}})
	if err != nil || strings.TrimSpace(string(quick.Stdout)) != "" {
		t.Fatalf("without --checksum rsync should see nothing, saw %q (%v)", quick.Stdout, err)
	}
	err = r.Verify(ctx, f.x, tg, a)
	if err == nil {
		t.Fatal("verify passed a mirror with a corrupted file")
	}
	if !strings.Contains(err.Error(), "books/authorc/bookc.epub") {
		t.Errorf("the error does not name the file: %v", err)
	}
	t.Logf("verify failed as it must: %v", err)
}

func TestRsyncVerifySeesMissingAndExtraFiles(t *testing.T) {
	f := newRsyncFixture(t)
	ctx := context.Background()
	r := drivers.Rsync{}
	withDelete, without := f.target(drivers.Values{"delete": true}), f.target(nil)
	if err := r.Init(ctx, f.x, withDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backup(ctx, f.x, withDelete); err != nil {
		t.Fatal(err)
	}
	// A book leaves the library; a mirror without delete keeps it.
	dropped := "books/authora/bookd.epub"
	os.Remove(filepath.Join(f.src, dropped))
	if _, err := r.Backup(ctx, f.x, without); err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(ctx, f.x, without, drivers.Artifact{}); err != nil {
		t.Fatalf("without delete, a file the source dropped is no difference: %v", err)
	}
	err := r.Verify(ctx, f.x, withDelete, drivers.Artifact{})
	if err == nil || !strings.Contains(err.Error(), "deleting") || !strings.Contains(err.Error(), dropped) {
		t.Fatalf("with delete, a file in the mirror but not in the source must fail verify: %v", err)
	}
	// A file lost from the mirror fails either way.
	os.Remove(filepath.Join(f.dst, "covers/cover.jpg"))
	for _, tg := range []*drivers.Target{withDelete, without} {
		if err := r.Verify(ctx, f.x, tg, drivers.Artifact{}); err == nil || !strings.Contains(err.Error(), "covers/cover.jpg") {
			t.Fatalf("a file missing from the mirror must fail verify: %v", err)
		}
	}
	// The next run with delete repairs both.
	if _, err := r.Backup(ctx, f.x, withDelete); err != nil {
		t.Fatal(err)
	}
	sameTree(t, f.src, f.dst, nil)
	if err := r.Verify(ctx, f.x, withDelete, drivers.Artifact{}); err != nil {
		t.Fatal(err)
	}
}

// An empty source with delete is what an unmounted disk looks like: rsync
// would empty the mirror and exit 0. The driver refuses before rsync runs.
func TestRsyncRefusesEmptyOrMissingSource(t *testing.T) {
	f := newRsyncFixture(t)
	ctx := context.Background()
	r := drivers.Rsync{}
	tg := f.target(drivers.Values{"delete": true})
	if err := r.Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backup(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(f.dir, "library.good")
	if err := os.Rename(f.src, good); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, want string }{{"missing", "no such file"}, {"empty", "is empty"}} {
		if c.name == "empty" {
			os.Mkdir(f.src, 0o755) // the bare mount point
		}
		f.x.runs = nil
		_, err := r.Backup(ctx, f.x, tg)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), c.want) {
			t.Fatalf("%s source: want a refusal with %q, got %v", c.name, c.want, err)
		}
		if len(f.x.runs) != 0 {
			t.Fatalf("%s source: rsync ran: %q", c.name, f.x.runs)
		}
		sameTree(t, good, f.dst, nil)
	}
}

// max_delete caps what one run may delete; reaching it fails the target
// (rsync exit 25) instead of passing as a quiet success.
func TestRsyncMaxDelete(t *testing.T) {
	f := newRsyncFixture(t)
	ctx := context.Background()
	r := drivers.Rsync{}
	tg := f.target(drivers.Values{"delete": true, "max_delete": 1})
	if err := r.Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backup(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	gone := []string{"books/authora/booka.epub", "books/authorb/bookb.epub", "books/authorc/bookc.epub"}
	for _, g := range gone {
		os.Remove(filepath.Join(f.src, g))
	}
	_, err := r.Backup(ctx, f.x, tg)
	var te *drivers.ToolError
	if !errors.As(err, &te) || te.ExitCode != 25 {
		t.Fatalf("want rsync exit 25 as a failure, got %v", err)
	}
	left := 0
	for _, g := range gone {
		if _, err := os.Stat(filepath.Join(f.dst, g)); err == nil {
			left++
		}
	}
	if left < 2 {
		t.Fatalf("max_delete = 1 but %d of 3 files were deleted", 3-left)
	}
	t.Logf("failed as it must: %v", err)
}

func TestRsyncExclude(t *testing.T) {
	f := newRsyncFixture(t)
	ctx := context.Background()
	r := drivers.Rsync{}
	writeFile(t, f.src, ".returns/returned.epub", "returned", 0o644)
	writeFile(t, f.src, "books/authora/upload.tmp", "half", 0o644)
	writeFile(t, f.src, "books/.returns/nested-is-kept.epub", "kept: the pattern is anchored", 0o644)
	tg := f.target(drivers.Values{"delete": true, "exclude": []string{"/.returns/", "*.tmp"}})
	if err := r.Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backup(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	sameTree(t, f.src, f.dst, func(rel string) bool { return rel == ".returns" || strings.HasSuffix(rel, ".tmp") })
	if err := r.Verify(ctx, f.x, tg, drivers.Artifact{}); err != nil {
		t.Fatalf("excluded files must not count as differences: %v", err)
	}
}

// Over ssh to a real sshd on loopback: the ssh_command reaches rsync as
// one --rsh word, the mirror and its checksum verification work remotely.
func TestRsyncOverSSH(t *testing.T) {
	f := newRsyncFixture(t)
	requireTool(t, "ssh")
	srv := sshtest.ForTest(t)
	ctx := context.Background()
	r := drivers.Rsync{}
	tg := f.target(drivers.Values{"delete": true, "max_delete": 100,
		"destination": srv.User() + "@" + srv.Host() + ":" + f.dst + "/", "ssh_command": srv.SSHCommand()})
	if err := r.Validate(tg); err != nil {
		t.Fatal(err)
	}
	if snaps, err := r.Snapshots(ctx, f.x, tg); err != nil || len(snaps) != 0 {
		t.Fatalf("before the first run: %+v %v", snaps, err)
	}
	a, err := r.Backup(ctx, f.x, tg)
	if err != nil {
		t.Fatalf("%v\nsshd log:\n%s", err, srv.LogTail())
	}
	if !strings.Contains(f.x.runs[len(f.x.runs)-1], "'--rsh="+srv.SSHCommand()+"'") {
		t.Fatalf("ssh_command was not one --rsh word: %s", f.x.runs[len(f.x.runs)-1])
	}
	sameTree(t, f.src, f.dst, nil)
	if err := r.Verify(ctx, f.x, tg, a); err != nil {
		t.Fatal(err)
	}
	snaps, err := r.Snapshots(ctx, f.x, tg)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}
	corrupt(t, filepath.Join(f.dst, "books/authorb/bookb.epub"))
	err = r.Verify(ctx, f.x, tg, a)
	if err == nil || !strings.Contains(err.Error(), "bookb.epub") {
		t.Fatalf("verify over ssh passed a corrupted mirror: %v", err)
	}
	t.Logf("verify failed as it must: %v", err)
}
