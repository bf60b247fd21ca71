package rsync_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/drill"
	"github.com/alexandria-backup/alexandria-backup/drivers/rsync"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/sshtest"
)

// rsyncMirrored makes the fixture's mirror, locally or over a loopback
// sshd, and returns the target. Names rsync has to escape in its listings
// (a newline, a backslash before "#", non-ASCII) come along, so remote
// drills prove they read them back.
func rsyncMirrored(t *testing.T, f *drivertest.RsyncFixture, remote bool) *drivers.Target {
	t.Helper()
	drivertest.WriteFile(t, f.Src, "odd/line\nbreak.epub", "a newline in a name", 0o644)
	drivertest.WriteFile(t, f.Src, `odd/back\#012slash.epub`, "a backslash and a hash", 0o644)
	drivertest.WriteFile(t, f.Src, "odd/Ünïcødé livre.epub", "not ASCII", 0o644)
	tg := f.Target(drivers.Values{"delete": true})
	if remote {
		drivertest.RequireTool(t, "ssh")
		srv := sshtest.ForTest(t)
		tg.Settings["destination"] = srv.User() + "@" + srv.Host() + ":" + f.Dst + "/"
		tg.Settings["ssh_command"] = srv.SSHCommand()
	}
	r := rsync.Driver{}
	if err := r.Validate(tg); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(f.Dst, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backup(context.Background(), f.X, tg); err != nil {
		t.Fatal(err)
	}
	return tg
}

// regularFiles counts the regular files under dir.
func regularFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

func TestRsyncRestore(t *testing.T) {
	t.Parallel()
	for _, remote := range []bool{false, true} {
		name := map[bool]string{false: "local", true: "ssh"}[remote]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := drivertest.NewRsyncFixture(t)
			tg := rsyncMirrored(t, f, remote)
			ctx := context.Background()
			r := rsync.Driver{}
			dest := tg.Settings.Str("destination")
			to := filepath.Join(f.Dir, "restore", "here") // missing: Restore creates it

			res, err := r.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to})
			if err != nil {
				t.Fatal(err)
			}
			sameTree(t, f.Src, to, nil)
			var one, two syscall.Stat_t
			syscall.Stat(filepath.Join(to, "books/authora/booka.epub"), &one)
			syscall.Stat(filepath.Join(to, "books/same-book.epub"), &two)
			if one.Ino != two.Ino {
				t.Error("the hard link came back as two files")
			}
			if want := regularFiles(t, f.Src); res.From != dest || res.Where != to || res.Files != want {
				t.Errorf("result %+v, want From %s, Where %s, %d files", res, dest, to, want)
			}
			last := f.X.Runs[len(f.X.Runs)-1]
			if strings.Contains(last, "--delete") || strings.Contains(last, "--checksum") {
				t.Errorf("a restore into an empty directory needs neither --delete nor --checksum: %s", last)
			}

			// Refusals happen before rsync runs.
			for _, c := range []struct {
				name string
				req  drivers.RestoreRequest
				want string
			}{
				{"non-empty without force", drivers.RestoreRequest{To: to}, "not empty"},
				{"another version", drivers.RestoreRequest{To: filepath.Join(f.Dir, "other"), From: "/srv/elsewhere/"}, "one version"},
				{"relative directory", drivers.RestoreRequest{To: "restore/here"}, "absolute"},
			} {
				runs := len(f.X.Runs)
				_, err := r.Restore(ctx, f.X, tg, c.req)
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: want an error with %q, got %v", c.name, c.want, err)
				}
				if len(f.X.Runs) != runs {
					t.Errorf("%s: rsync ran: %s", c.name, f.X.Runs[runs:])
				}
			}
			if _, err := os.Stat(filepath.Join(f.Dir, "other")); err == nil {
				t.Error("a refused restore created its directory")
			}
			// --from naming the destination itself is the one version.
			again := filepath.Join(f.Dir, "again")
			if _, err := r.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: again, From: strings.TrimRight(dest, "/")}); err != nil {
				t.Fatalf("--from the destination: %v", err)
			}
			sameTree(t, f.Src, again, nil)
		})
	}
}

// With force, a restore overwrites what the mirror has and deletes
// nothing: files only in the directory stay. A file damaged in place
// (same size and mtime) is repaired: the comparison is by checksum.
func TestRsyncRestoreForce(t *testing.T) {
	t.Parallel()
	f := drivertest.NewRsyncFixture(t)
	tg := rsyncMirrored(t, f, false)
	ctx := context.Background()
	r := rsync.Driver{}
	to := filepath.Join(f.Dir, "live")
	if _, err := r.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to}); err != nil {
		t.Fatal(err)
	}
	extra := drivertest.WriteFile(t, to, "books/added-since.epub", "only in the live library", 0o644)
	corrupt(t, filepath.Join(to, "books/authorb/bookb.epub"))
	os.Remove(filepath.Join(to, "covers/cover.jpg"))

	if _, err := r.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to, Force: true}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(extra); err != nil || string(b) != "only in the live library" {
		t.Fatalf("a forced restore must not delete or change files the mirror lacks: %q %v", b, err)
	}
	os.Remove(extra)
	sameTree(t, f.Src, to, nil)
}

// rsyncHostile is an --rsh "ssh" that starts no ssh: it runs a sender
// that ignores what the client asked for and sends $HOSTILE_SEND (paths
// with "/./" marking where the name starts), as a compromised backup
// server could.
const rsyncHostile = `#!/bin/sh
# Called as: hostile.sh [-l USER] HOST rsync --server --sender FLAGS ...
while [ "$1" != "--sender" ]; do shift; done
exec rsync --server --sender "$2" -R --no-implied-dirs --numeric-ids . $HOSTILE_SEND
`

// Whatever the mirror holds, a restore writes only under its directory:
// symlinks out of the tree come back as symlinks and are never written
// through, whether they were planted in the directory or come from the
// mirror with a path through them.
func TestRsyncRestoreStaysInside(t *testing.T) {
	t.Parallel()
	drivertest.RequireTool(t, "rsync")
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	os.Mkdir(outside, 0o755)
	// The hostile server's material: a symlink "abs" out of the tree, and
	// files at abs/pwned.epub and abs/sub/pwned.epub.
	evil := filepath.Join(dir, "evil")
	os.MkdirAll(evil, 0o755)
	if err := os.Symlink(outside, filepath.Join(evil, "abs")); err != nil {
		t.Fatal(err)
	}
	drivertest.WriteFile(t, filepath.Join(dir, "evil2"), "abs/pwned.epub", "pwned", 0o644)
	drivertest.WriteFile(t, filepath.Join(dir, "evil3"), "abs/sub/pwned.epub", "pwned", 0o644)
	hostile := drivertest.WriteFile(t, dir, "hostile.sh", rsyncHostile, 0o755)
	outsideEmpty := func(when string) {
		t.Helper()
		if left, _ := os.ReadDir(outside); len(left) != 0 {
			t.Fatalf("%s: the restore wrote outside its directory: %v", when, left)
		}
	}

	x := &recordingExecutor{}
	r := rsync.Driver{}
	tg := &drivers.Target{Name: "mirror", Driver: "rsync", Impl: rsync.Driver{}, TempDir: dir, Settings: drivers.Values{
		"source": filepath.Join(dir, "library") + "/", "destination": "backup@127.0.0.1:/srv/mirror/", "ssh_command": hostile}}
	if err := r.Validate(tg); err != nil {
		t.Fatal(err)
	}
	// A confused server may wait for input forever: bound every run.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	restore := func(to, send string, force bool) error {
		tg.Env = map[string]string{"HOSTILE_SEND": send}
		_, err := r.Restore(ctx, x, tg, drivers.RestoreRequest{To: to, Force: force})
		return err
	}

	// One session: the symlink, then a directory through it.
	one := filepath.Join(dir, "one")
	err := restore(one, dir+"/evil/./abs"+" "+dir+"/evil3/./abs/sub", false)
	if err == nil {
		t.Fatal("a restore whose mirror sends a path through a symlink succeeded")
	}
	t.Logf("one session: failed as it must: %v", err)
	outsideEmpty("one session")

	// A mirror holding a symlink out of the tree restores it as it is.
	two := filepath.Join(dir, "two")
	if err := restore(two, dir+"/evil/./abs", false); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(filepath.Join(two, "abs")); err != nil || l != outside {
		t.Fatalf("the symlink came back as %q (%v)", l, err)
	}
	// A forced restore over it is refused before rsync runs...
	runs := len(x.cmds)
	err = restore(two, dir+"/evil2/./abs/pwned.epub", true)
	if err == nil || !strings.Contains(err.Error(), "symlink") || len(x.cmds) != runs {
		t.Fatalf("want a refusal naming the symlink before rsync runs, got %v", err)
	}
	// ...and were the symlink planted after that check, rsync itself
	// refuses to write through it (3.4+, CVE-2024-12087): the same
	// command, run directly.
	cmd := x.cmds[len(x.cmds)-1]
	cmd.Env = []proc.EnvVar{{Name: "HOSTILE_SEND", Value: dir + "/evil2/./abs/pwned.epub"}}
	res, err := proc.ProcessExecutor{}.Run(ctx, cmd)
	var te *proc.ToolError
	if !errors.As(err, &te) || te.ExitCode != 23 {
		t.Fatalf("rsync wrote a file through a symlink, or failed otherwise: %v", err)
	}
	t.Logf("rsync refused on its own: %s", proc.LastLines(res.Stderr, 2))
	outsideEmpty("a file through a planted symlink")
}

// recordingExecutor runs commands for real and keeps them.
type recordingExecutor struct{ cmds []proc.Command }

func (r *recordingExecutor) Run(ctx context.Context, c proc.Command) (proc.Result, error) {
	r.cmds = append(r.cmds, c)
	return proc.ProcessExecutor{}.Run(ctx, c)
}

func TestRsyncDrill(t *testing.T) {
	t.Parallel()
	for _, remote := range []bool{false, true} {
		name := map[bool]string{false: "local", true: "ssh"}[remote]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := drivertest.NewRsyncFixture(t)
			tg := rsyncMirrored(t, f, remote)
			ctx := context.Background()
			r := rsync.Driver{}
			files := regularFiles(t, f.Src)

			// A sample smaller than the mirror.
			tg.DrillSample = 4
			res, err := r.Drill(ctx, f.X, tg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Checked != 4 || res.Artifact != tg.Settings.Str("destination") || !strings.Contains(res.Detail, "4 sampled files restored: 4 match their source") {
				t.Fatalf("drill %+v", res)
			}
			drivertest.NoDrillDirs(t, f.Dir)

			// Every file, odd names included; a source changed the
			// ordinary way (new size and mtime) is skipped, not failed.
			tg.DrillSample = 1000
			changed := filepath.Join(f.Src, "books/authorc/bookf.epub")
			if err := os.WriteFile(changed, []byte("a new edition"), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err = r.Drill(ctx, f.X, tg)
			if err != nil {
				t.Fatal(err)
			}
			want := "match their source, 1 changed since the backup"
			if res.Checked != files || !strings.Contains(res.Detail, want) {
				t.Fatalf("drill %+v, want %d files checked and %q", res, files, want)
			}
			t.Logf("drill: %s", res.Detail)
			drivertest.NoDrillDirs(t, f.Dir)

			// A mirrored file damaged in place, size and mtime kept.
			corrupt(t, filepath.Join(f.Dst, "books/authora/bookg.epub"))
			_, err = r.Drill(ctx, f.X, tg)
			var m *drill.Mismatch
			if !errors.As(err, &m) || m.File != filepath.Join(f.Src, "books/authora/bookg.epub") || !strings.Contains(err.Error(), "differs from its source") {
				t.Fatalf("want the drill to fail naming bookg.epub, got %v", err)
			}
			t.Logf("drill failed as it must: %v", err)
			drivertest.NoDrillDirs(t, f.Dir)
		})
	}
}

// A drill of an empty or unreachable mirror fails and leaves nothing.
func TestRsyncDrillNothingToDrill(t *testing.T) {
	t.Parallel()
	f := drivertest.NewRsyncFixture(t)
	ctx := context.Background()
	r := rsync.Driver{}
	tg := f.Target(nil)
	os.MkdirAll(f.Dst, 0o700)
	if _, err := r.Drill(ctx, f.X, tg); err == nil || !strings.Contains(err.Error(), "holds no files") {
		t.Fatalf("empty mirror: %v", err)
	}
	os.Remove(f.Dst)
	if _, err := r.Drill(ctx, f.X, tg); err == nil {
		t.Fatal("a missing mirror drilled fine")
	}
	drivertest.NoDrillDirs(t, f.Dir)
}
