package drivers_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
	"github.com/alexandria-backup/alexandria-backup/drivers/rsync"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/rclonetest"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/sshtest"
	"github.com/dustin/go-humanize"
)

// guardLibrarySize is how many books the guarded mirror holds: enough for
// "1 of 2,000 files left" to be a case of its own.
const guardLibrarySize = 2000

// guardLibrary writes a library of n small books plus content the
// target's excludes leave out (returned books, a cache).
func guardLibrary(t *testing.T, src string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		drivertest.WriteFile(t, src, fmt.Sprintf("books/author%02d/book%04d.epub", i%40, i), fmt.Sprintf("book %d", i), 0o644)
	}
	drivertest.WriteFile(t, src, ".returns/returned.epub", "returned", 0o644)
	drivertest.WriteFile(t, src, "cache/thumb.bin", "cache", 0o644)
}

// A source shape, made from the full library of n books at src.
type sourceShape struct {
	name  string
	shape func(t *testing.T, src string, n int)
	// books is the library's size (default smallLibrary).
	books int
	// refuse is what the refusal says; "" means the run goes ahead.
	refuse string
	// settings are laid over the target's.
	settings drivers.Values
	// kept is how many of the mirror's books are left after a run that
	// goes ahead with delete / sync (-1: all of them).
	kept int
}

// smallLibrary keeps the cases that need no big library quick.
const smallLibrary = 40

// emptyTo removes everything under src, leaving src itself: a bare mount
// point.
func emptyTo(t *testing.T, src string, _ int) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(src, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

// removeBooks deletes books from a source of n until keep are left.
func removeBooks(t *testing.T, src string, n, keep int) {
	t.Helper()
	for i := keep; i < n; i++ {
		if err := os.Remove(filepath.Join(src, fmt.Sprintf("books/author%02d/book%04d.epub", i%40, i))); err != nil {
			t.Fatal(err)
		}
	}
}

// sourceShapes is the class the mirror guard is tested against: every
// shape of a source that holds no file (after excludes) or has lost most
// of them, and the shapes that must still run.
func sourceShapes() []sourceShape {
	const empty, most = "has 0 files after excludes", "would delete"
	keep := func(k int) func(t *testing.T, src string, n int) {
		return func(t *testing.T, src string, n int) { removeBooks(t, src, n, k) }
	}
	return []sourceShape{
		{name: "bare mount point", shape: emptyTo, refuse: empty},
		{name: "only empty directories", refuse: empty, shape: func(t *testing.T, src string, n int) {
			emptyTo(t, src, n)
			os.MkdirAll(filepath.Join(src, "books", "author00"), 0o755)
			os.MkdirAll(filepath.Join(src, "emptydir"), 0o755)
		}},
		{name: "only lost+found", refuse: empty, shape: func(t *testing.T, src string, n int) {
			emptyTo(t, src, n)
			os.MkdirAll(filepath.Join(src, "lost+found"), 0o700)
		}},
		{name: "only excluded content", refuse: empty, shape: func(t *testing.T, src string, n int) {
			os.RemoveAll(filepath.Join(src, "books"))
		}},
		{name: "only symlinks", refuse: empty, shape: func(t *testing.T, src string, n int) {
			emptyTo(t, src, n)
			os.MkdirAll(filepath.Join(src, "books"), 0o755)
			os.Symlink("/etc/hostname", filepath.Join(src, "books", "a.epub"))
			os.Symlink("../books", filepath.Join(src, "loop"))
		}},
		{name: "vanished mount point", refuse: "no such file", shape: func(t *testing.T, src string, n int) {
			os.RemoveAll(src)
		}},
		{name: "1 of 2,000 files left", books: 2000, refuse: most, shape: keep(1)},
		{name: "another library of the same size", refuse: most, shape: func(t *testing.T, src string, n int) {
			os.RemoveAll(filepath.Join(src, "books"))
			for i := 0; i < n; i++ {
				drivertest.WriteFile(t, src, fmt.Sprintf("other/book%04d.epub", i), "another book", 0o644)
			}
		}},
		{name: "a quarter left", refuse: most, shape: keep(smallLibrary / 4)},
		{name: "60% left", kept: smallLibrary * 6 / 10, shape: keep(smallLibrary * 6 / 10)},
		{name: "unchanged", kept: -1, shape: func(t *testing.T, src string, n int) {}},
		{name: "emptied on purpose", kept: 0, settings: drivers.Values{"allow_empty_source": true}, shape: emptyTo},
		{name: "1 left, percentage check off", kept: 1, settings: drivers.Values{"max_delete_percent": 100}, shape: keep(1)},
	}
}

// countDryRuns counts the rsync dry runs among the commands run.
func countDryRuns(lines []string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, "rsync ") && strings.Contains(l, "--dry-run") {
			n++
		}
	}
	return n
}

// countListings counts the rclone guard's listings (check --combined=-)
// among the commands run.
func countListings(lines []string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, "rclone check ") && strings.Contains(l, "--combined=-") {
			n++
		}
	}
	return n
}

// countBooks counts the regular files under dir/books.
func countBooks(t *testing.T, dir string) int {
	t.Helper()
	return len(drivertest.RcloneFiles(t, filepath.Join(dir, "books")))
}

// mirrorDriver adapts the two mirror drivers to one table.
type mirrorDriver struct {
	name   string
	driver drivers.Driver
	// target makes the target for a source and destination; deleting says
	// whether it deletes (rsync delete, rclone sync).
	target func(t *testing.T, dir, src, dst string, deleting bool) *drivers.Target
	// transferred says whether the command line is the real transfer (not
	// the guard's counting).
	transferred func(cmdline string) bool
}

var mirrorDrivers = []mirrorDriver{
	{
		name: "rsync", driver: rsync.Driver{},
		target: func(t *testing.T, dir, src, dst string, deleting bool) *drivers.Target {
			drivertest.RequireTool(t, "rsync")
			v := drivers.Values{"source": src + "/", "destination": dst, "exclude": []string{"/.returns/", "cache/"}}
			if deleting {
				v["delete"] = true
			}
			return &drivers.Target{Name: "mirror", Driver: "rsync", Impl: rsync.Driver{}, Verify: true, Settings: v, TempDir: dir, KeepDir: filepath.Join(dir, "keep")}
		},
		transferred: func(l string) bool { return strings.Contains(l, "rsync ") && !strings.Contains(l, "--dry-run") },
	},
	{
		name: "rclone", driver: rclone.Driver{},
		target: func(t *testing.T, dir, src, dst string, deleting bool) *drivers.Target {
			drivertest.RequireTool(t, "rclone")
			t.Setenv("RCLONE_CONFIG", filepath.Join(dir, "no-rclone.conf"))
			v := drivers.Values{"source": src, "destination": dst, "exclude": []string{"/.returns/**", "cache/**"}}
			if !deleting {
				v["mode"] = "copy"
			}
			return &drivers.Target{Name: "offsite", Driver: "rclone", Impl: rclone.Driver{}, Verify: true, Settings: v, TempDir: dir, KeepDir: filepath.Join(dir, "keep")}
		},
		transferred: func(l string) bool { return strings.Contains(l, " sync ") || strings.Contains(l, " copy ") },
	},
}

// The mirror guard, for each mirror driver, over every source shape, with
// and without deletion: no source that holds no file, and none that has
// lost most of its files, can empty or gut the mirror; the refusal comes
// before the transfer and says what it found; without deletion every
// shape but a missing source runs and the mirror keeps every book.
func TestMirrorGuard(t *testing.T) {
	for _, md := range mirrorDrivers {
		for _, deleting := range []bool{true, false} {
			for _, sh := range sourceShapes() {
				name := fmt.Sprintf("%s/delete=%v/%s", md.name, deleting, sh.name)
				if !deleting && sh.settings != nil {
					continue // the guard's keys only apply with deletion
				}
				t.Run(name, func(t *testing.T) {
					ctx := context.Background()
					dir := t.TempDir()
					src, dst := filepath.Join(dir, "library"), filepath.Join(dir, "mirror")
					n := sh.books
					if n == 0 {
						n = smallLibrary
					}
					guardLibrary(t, src, n)
					tg := md.target(t, dir, src, dst, deleting)
					for k, v := range sh.settings {
						tg.Settings[k] = v
					}
					if err := md.driver.Validate(tg); err != nil {
						t.Fatal(err)
					}
					if err := md.driver.Init(ctx, proc.ProcessExecutor{}, tg); err != nil {
						t.Fatal(err)
					}
					if _, err := md.driver.Backup(ctx, proc.ProcessExecutor{}, tg); err != nil {
						t.Fatalf("first run: %v", err)
					}
					if got := countBooks(t, dst); got != n {
						t.Fatalf("the first run mirrored %d books, want %d", got, n)
					}
					sh.shape(t, src, n)
					x := &drivertest.RcloneCmdLog{}
					_, err := md.driver.Backup(ctx, x, tg)
					refuse := sh.refuse
					if !deleting && refuse != "no such file" {
						refuse = "" // nothing can be deleted: the run goes ahead
					}
					books := countBooks(t, dst)
					if refuse == "" {
						if err != nil {
							t.Fatalf("want the run to go ahead, got %v", err)
						}
						want := n
						if deleting && sh.kept >= 0 {
							want = sh.kept
						}
						if books != want {
							t.Fatalf("the mirror holds %d books after the run, want %d", books, want)
						}
						if md.name == "rsync" && deleting {
							// The last run's index of the mirror's files
							// clears the run without a dry run, unless the
							// source lost every file it lists.
							wantDry := 0
							if sh.kept == 0 {
								wantDry = 1
							}
							if got := countDryRuns(x.Lines); got != wantDry {
								t.Errorf("the guard ran %d dry runs, want %d: %q", got, wantDry, x.Lines)
							}
						}
						if md.name == "rclone" && deleting {
							// The same with the last run's record: no
							// listing, unless the source lost every file.
							want := 0
							if sh.kept == 0 {
								want = 1
							}
							if got := countListings(x.Lines); got != want {
								t.Errorf("the guard ran %d listings, want %d: %q", got, want, x.Lines)
							}
						}
						return
					}
					if md.name == "rsync" && refuse != "no such file" && countDryRuns(x.Lines) != 1 {
						t.Errorf("a refusal must come from rsync's own count (one dry run): %q", x.Lines)
					}
					if md.name == "rclone" && refuse != "no such file" && countListings(x.Lines) != 1 {
						t.Errorf("a refusal must come from rclone's own listing: %q", x.Lines)
					}
					var se *drivers.SettingsError
					if !errors.As(err, &se) || se.Key != "source" || !strings.Contains(strings.ToLower(err.Error()), refuse) {
						t.Fatalf("want a refusal naming source and saying %q, got %v", refuse, err)
					}
					for _, l := range x.Lines {
						if md.transferred(l) {
							t.Fatalf("the transfer ran despite the refusal: %s", l)
						}
					}
					if books != n {
						t.Fatalf("refused, yet the mirror lost books: %d of %d left", books, n)
					}
					// The books plus what the excludes keep out of reach.
					if refuse != "no such file" && !strings.Contains(err.Error(), humanize.Comma(int64(n))+" files") {
						t.Errorf("the refusal should say how many files the mirror holds (%d): %v", n, err)
					}
					t.Logf("refused as it must: %v", err)
				})
			}
		}
	}
}

// The guard counts a remote mirror too: rsync over ssh to a real sshd,
// rclone to a real sftp server, each refusing a source left with only
// empty directories.
func TestMirrorGuardRemote(t *testing.T) {
	ctx := context.Background()
	t.Run("rsync over ssh", func(t *testing.T) {
		drivertest.RequireTool(t, "rsync", "ssh")
		srv := sshtest.ForTest(t)
		dir := t.TempDir()
		src, dst := filepath.Join(dir, "library"), filepath.Join(dir, "mirror")
		guardLibrary(t, src, guardLibrarySize)
		os.MkdirAll(dst, 0o700)
		tg := mirrorDrivers[0].target(t, dir, src, srv.User()+"@"+srv.Host()+":"+dst+"/", true)
		tg.Settings["ssh_command"] = srv.SSHCommand()
		r := rsync.Driver{}
		if err := r.Validate(tg); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Backup(ctx, proc.ProcessExecutor{}, tg); err != nil {
			t.Fatalf("%v\nsshd log:\n%s", err, srv.LogTail())
		}
		removeBooks(t, src, guardLibrarySize, 3)
		_, err := r.Backup(ctx, proc.ProcessExecutor{}, tg)
		if err == nil || !strings.Contains(err.Error(), "would delete 1,997 of the 2,000 files") {
			t.Fatalf("want a refusal counting the remote mirror, got %v", err)
		}
		if n := countBooks(t, dst); n != guardLibrarySize {
			t.Fatalf("the remote mirror lost books: %d left", n)
		}
	})
	t.Run("rclone to sftp", func(t *testing.T) {
		drivertest.RequireTool(t, "rclone")
		dir := t.TempDir()
		srv := rclonetest.ServeSFTP(t, filepath.Join(dir, "server"))
		conf := rclonetest.WriteConfig(t, dir, srv.SFTPRemote(t, "loop"))
		src := filepath.Join(dir, "library")
		guardLibrary(t, src, guardLibrarySize)
		tg := mirrorDrivers[1].target(t, dir, src, "loop:alexandria/library", true)
		tg.Settings["config"] = conf
		r := rclone.Driver{}
		if err := r.Validate(tg); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Backup(ctx, proc.ProcessExecutor{}, tg); err != nil {
			t.Fatal(err)
		}
		emptyTo(t, src, 0)
		os.MkdirAll(filepath.Join(src, "books", "emptydir"), 0o755)
		_, err := r.Backup(ctx, proc.ProcessExecutor{}, tg)
		if err == nil || !strings.Contains(err.Error(), "has 0 files after excludes; the mirror loop:alexandria/library has 2,000 files") {
			t.Fatalf("want a refusal counting the remote mirror, got %v", err)
		}
		if n := countBooks(t, filepath.Join(srv.Dir, "alexandria", "library")); n != guardLibrarySize {
			t.Fatalf("the remote mirror lost books: %d left", n)
		}
	})
}
