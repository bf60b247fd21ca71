package rclone_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/drill"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/rclonetest"
)

// rcloneMirror is a library copied by the rclone driver to a local
// directory, an sftp remote or a crypt remote on that sftp remote. Every
// rclone run gets the fixture's own rclone.conf (empty for "local"), so
// the tests need no t.Setenv and run in parallel.
type rcloneMirror struct {
	dir, src string
	conf     string
	stored   string // the directory holding the destination's files (ciphertext for crypt)
	x        *drivertest.RcloneCmdLog
	tg       *drivers.Target
	srv      *rclonetest.Server
}

func newRcloneMirror(t *testing.T, kind string) *rcloneMirror {
	t.Helper()
	drivertest.RequireTool(t, "rclone")
	dir := t.TempDir()
	m := &rcloneMirror{dir: dir, src: filepath.Join(dir, "library"), x: &drivertest.RcloneCmdLog{}}
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 12; i++ {
		b := make([]byte, 3000+rng.Intn(20000))
		rng.Read(b)
		drivertest.WriteFile(t, m.src, filepath.Join("books", "author"+string(rune('a'+i%3)), "book"+string(rune('a'+i))+".epub"), string(b), 0o644)
	}
	drivertest.WriteFile(t, m.src, "covers/#1 ; leading hash.jpg", "rclone --files-from would take this for a comment", 0o644)
	settings := drivers.Values{"source": m.src}
	switch kind {
	case "local":
		m.stored = filepath.Join(dir, "mirror")
		m.conf = rclonetest.WriteConfig(t, dir)
		settings["destination"] = m.stored
	case "sftp", "crypt":
		m.srv = rclonetest.ServeSFTP(t, filepath.Join(dir, "server"))
		m.conf = rclonetest.WriteConfig(t, dir, m.srv.SFTPRemote(t, "loop"),
			rclonetest.CryptRemote(t, "secret", "loop:vault", "crypt passphrase"))
		settings["destination"] = "loop:alexandria/library"
		m.stored = filepath.Join(m.srv.Dir, "alexandria", "library")
		if kind == "crypt" {
			settings["destination"] = "secret:library"
			settings["crypt"] = true
			m.stored = filepath.Join(m.srv.Dir, "vault")
		}
	default:
		t.Fatalf("unknown kind %q", kind)
	}
	settings["config"] = m.conf
	m.tg = &drivers.Target{Name: "offsite", Driver: "rclone", Impl: rclone.Driver{}, Verify: true, Settings: settings, TempDir: dir}
	r := rclone.Driver{}
	if err := r.Validate(m.tg); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backup(context.Background(), m.x, m.tg); err != nil {
		t.Fatal(err)
	}
	return m
}

// storedFile is where the destination keeps a source file on disk: under
// its encrypted name for a crypt remote.
func (m *rcloneMirror) storedFile(t *testing.T, rel string) string {
	t.Helper()
	if !m.tg.Settings.Bool("crypt", false) {
		return filepath.Join(m.stored, filepath.FromSlash(rel))
	}
	out, err := exec.Command("rclone", "--config="+m.conf, "cryptdecode", "--reverse", "secret:", "library/"+rel).Output()
	if err != nil {
		t.Fatal(err)
	}
	_, enc, ok := strings.Cut(strings.TrimSpace(string(out)), "\t")
	if !ok {
		t.Fatalf("rclone cryptdecode printed %q", out)
	}
	return filepath.Join(m.stored, filepath.FromSlash(strings.TrimSpace(enc)))
}

// sameFiles fails unless dir holds exactly src's regular files, with the
// same bytes and modification times (rclone keeps mtimes; the sftp
// server to the second).
func sameFiles(t *testing.T, src, dir string) {
	t.Helper()
	want, got := drivertest.RcloneFiles(t, src), drivertest.RcloneFiles(t, dir)
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Fatalf("restored %q, want %q", got, want)
	}
	for _, rel := range want {
		a, _ := os.ReadFile(filepath.Join(src, rel))
		b, _ := os.ReadFile(filepath.Join(dir, rel))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: restored content differs", rel)
		}
		fa, _ := os.Stat(filepath.Join(src, rel))
		fb, _ := os.Stat(filepath.Join(dir, rel))
		if d := fa.ModTime().Sub(fb.ModTime()); d < 0 || d >= 1e9 {
			t.Errorf("%s: restored mtime %v, source %v", rel, fb.ModTime(), fa.ModTime())
		}
	}
}

var rcloneKinds = []string{"local", "sftp", "crypt"}

func TestRcloneRestore(t *testing.T) {
	t.Parallel()
	for _, kind := range rcloneKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			m := newRcloneMirror(t, kind)
			ctx := context.Background()
			r := rclone.Driver{}
			dest := m.tg.Settings.Str("destination")
			to := filepath.Join(m.dir, "restore", "here") // missing: Restore creates it

			res, err := r.Restore(ctx, m.x, m.tg, drivers.RestoreRequest{To: to})
			if err != nil {
				t.Fatal(err)
			}
			sameFiles(t, m.src, to)
			if fi, _ := os.Stat(to); fi.Mode().Perm() != 0o700 {
				t.Errorf("the restore directory was created with mode %v, want 0700", fi.Mode().Perm())
			}
			if res.From != dest || res.Where != to || res.Files != 13 {
				t.Errorf("result %+v", res)
			}
			last := m.x.Argv[len(m.x.Argv)-1]
			if !strings.HasPrefix(last, "rclone copy ") || !strings.Contains(last, "--ask-password=false") ||
				strings.Contains(last, "--checksum") || strings.Contains(last, "--ignore-times") {
				t.Errorf("restore ran %s", last)
			}
			for _, l := range m.x.Lines {
				if m.srv != nil && strings.Contains(l, m.srv.Pass) || strings.Contains(l, "crypt passphrase") {
					t.Errorf("a password shows in %s", l)
				}
			}

			for _, c := range []struct {
				name string
				req  drivers.RestoreRequest
				want string
			}{
				{"non-empty without force", drivers.RestoreRequest{To: to}, "not empty"},
				{"another version", drivers.RestoreRequest{To: filepath.Join(m.dir, "other"), From: "b2:elsewhere"}, "one version"},
			} {
				runs := len(m.x.Argv)
				_, err := r.Restore(ctx, m.x, m.tg, c.req)
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: want an error with %q, got %v", c.name, c.want, err)
				}
				if len(m.x.Argv) != runs {
					t.Errorf("%s: rclone ran: %s", c.name, m.x.Argv[runs:])
				}
			}
			again := filepath.Join(m.dir, "again")
			if _, err := r.Restore(ctx, m.x, m.tg, drivers.RestoreRequest{To: again, From: dest + "/"}); err != nil {
				t.Fatalf("--from the destination: %v", err)
			}
			sameFiles(t, m.src, again)
		})
	}
}

// With force, a restore overwrites and never deletes, and repairs a file
// damaged in place (same size and mtime): by hash where the destination
// shares one with the local disk, by copying everything again where it
// does not (crypt).
func TestRcloneRestoreForce(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ kind, flag string }{{"local", "--checksum"}, {"crypt", "--ignore-times"}} {
		t.Run(c.kind, func(t *testing.T) {
			t.Parallel()
			m := newRcloneMirror(t, c.kind)
			ctx := context.Background()
			r := rclone.Driver{}
			to := filepath.Join(m.dir, "live")
			if _, err := r.Restore(ctx, m.x, m.tg, drivers.RestoreRequest{To: to}); err != nil {
				t.Fatal(err)
			}
			extra := drivertest.WriteFile(t, to, "books/added-since.epub", "only in the live library", 0o644)
			drivertest.RcloneFlipByte(t, filepath.Join(to, "books/authorb/bookb.epub"))
			os.Remove(filepath.Join(to, "books/authorc/bookc.epub"))
			if _, err := r.Restore(ctx, m.x, m.tg, drivers.RestoreRequest{To: to, Force: true}); err != nil {
				t.Fatal(err)
			}
			if last := m.x.Argv[len(m.x.Argv)-1]; !strings.Contains(last, " "+c.flag+" ") {
				t.Errorf("a forced restore from %s should use %s: %s", c.kind, c.flag, last)
			}
			if b, err := os.ReadFile(extra); err != nil || string(b) != "only in the live library" {
				t.Fatalf("a forced restore must not delete or change files the destination lacks: %q %v", b, err)
			}
			os.Remove(extra)
			sameFiles(t, m.src, to)
		})
	}
}

// Whatever names the destination holds, nothing is written outside the
// restore directory: a crypt remote can hold an encrypted ".." (anyone
// with the key can make one), which rclone writes as full-width dots; a
// symlink out of the directory, which rclone would write through, is
// refused before it runs. A drill names such a path as a finding.
func TestRcloneRestoreStaysInside(t *testing.T) {
	t.Parallel()
	m := newRcloneMirror(t, "crypt")
	ctx := context.Background()
	r := rclone.Driver{}
	outside := filepath.Join(m.dir, "outside")
	os.Mkdir(outside, 0o755)
	outsideEmpty := func(when string) {
		t.Helper()
		if left, _ := os.ReadDir(outside); len(left) != 0 {
			t.Fatalf("%s: a restore wrote outside its directory: %v", when, left)
		}
	}

	// Plant library/../../outside/escaped.epub in the vault.
	cmd := exec.Command("rclone", "--config="+m.conf, "rcat", "secret:escaped.epub")
	cmd.Stdin = strings.NewReader("escaped")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	enc := func(name string) string {
		out, err := exec.Command("rclone", "--config="+m.conf, "cryptdecode", "--reverse", "secret:", name).Output()
		_, e, _ := strings.Cut(strings.TrimSpace(string(out)), "\t")
		if err != nil || e == "" {
			t.Fatalf("cryptdecode %q: %v %s", name, err, out)
		}
		return strings.TrimSpace(e)
	}
	lib, dots, escaped := enc("library"), enc(".."), enc("escaped.epub")
	planted := filepath.Join(m.stored, lib, dots, dots, enc("outside"))
	os.MkdirAll(planted, 0o700)
	if err := os.Rename(filepath.Join(m.stored, escaped), filepath.Join(planted, escaped)); err != nil {
		t.Fatal(err)
	}
	listing, _ := exec.Command("rclone", "--config="+m.conf, "lsf", "-R", "--files-only", "secret:library").Output()
	if !strings.Contains(string(listing), "../../outside/escaped.epub") {
		t.Fatalf("the planted path is not listed:\n%s", listing)
	}

	to := filepath.Join(m.dir, "restore", "here")
	if _, err := r.Restore(ctx, m.x, m.tg, drivers.RestoreRequest{To: to}); err != nil {
		t.Fatal(err)
	}
	outsideEmpty("the encrypted ..")
	if _, err := os.Stat(filepath.Join(to, "．．", "．．", "outside", "escaped.epub")); err != nil {
		t.Errorf("the planted file was expected inside the restore directory, under full-width dots: %v", err)
	}

	m.tg.DrillSample = 1000
	_, err := r.Drill(ctx, m.x, m.tg)
	var mm *drill.Mismatch
	if !errors.As(err, &mm) || !strings.Contains(mm.File, "../../outside/escaped.epub") {
		t.Fatalf("the drill should name the path outside the tree, got %v", err)
	}
	t.Logf("drill failed as it must: %v", err)
	drivertest.NoDrillDirs(t, m.dir)

	// A symlink in the directory leading out of it.
	live := filepath.Join(m.dir, "live")
	os.MkdirAll(live, 0o700)
	if err := os.Symlink(outside, filepath.Join(live, "books")); err != nil {
		t.Fatal(err)
	}
	runs := len(m.x.Argv)
	_, err = r.Restore(ctx, m.x, m.tg, drivers.RestoreRequest{To: live, Force: true})
	if err == nil || !strings.Contains(err.Error(), "symlink") || len(m.x.Argv) != runs {
		t.Fatalf("want a refusal naming the symlink before rclone runs, got %v", err)
	}
	outsideEmpty("a symlink in the directory")
}

func TestRcloneDrill(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ kind, sum string }{{"local", "; 13 match rclone's sha256"}, {"sftp", "; 13 match rclone's sha1"}, {"crypt", ""}} {
		t.Run(c.kind, func(t *testing.T) {
			t.Parallel()
			m := newRcloneMirror(t, c.kind)
			ctx := context.Background()
			r := rclone.Driver{}

			m.tg.DrillSample = 5
			res, err := r.Drill(ctx, m.x, m.tg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Checked != 5 || res.Artifact != m.tg.Settings.Str("destination") || !strings.Contains(res.Detail, "5 sampled files restored: 5 match their source") {
				t.Fatalf("drill %+v", res)
			}
			drivertest.NoDrillDirs(t, m.dir)

			// Every file; one source changed the ordinary way is skipped.
			m.tg.DrillSample = 1000
			if err := os.WriteFile(filepath.Join(m.src, "books/authorc/bookf.epub"), []byte("a new edition"), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err = r.Drill(ctx, m.x, m.tg)
			if err != nil {
				t.Fatal(err)
			}
			want := "13 sampled files restored: 12 match their source, 1 changed since the backup (not compared with it)" + c.sum
			if res.Checked != 13 || !strings.HasPrefix(res.Detail, want) {
				t.Fatalf("drill %+v, want %q", res, want)
			}
			t.Logf("drill: %s", res.Detail)
			drivertest.NoDrillDirs(t, m.dir)

			// A stored file damaged in place, size and mtime kept.
			drivertest.RcloneFlipByte(t, m.storedFile(t, "books/authora/bookd.epub"))
			_, err = r.Drill(ctx, m.x, m.tg)
			if err == nil || !strings.Contains(err.Error(), "books/authora/bookd.epub") {
				t.Fatalf("want the drill to fail naming bookd.epub, got %v", err)
			}
			// On crypt, rclone itself refuses the damaged ciphertext.
			var mm *drill.Mismatch
			if !errors.As(err, &mm) || mm.File != filepath.Join(m.src, "books/authora/bookd.epub") {
				t.Fatalf("want a mismatch naming the source file, got %v", err)
			}
			t.Logf("drill failed as it must: %v", err)
			drivertest.NoDrillDirs(t, m.dir)
		})
	}
}

// A remote source is compared through a copy of the sampled files; a
// mismatch names the file on the source remote.
func TestRcloneDrillRemoteSource(t *testing.T) {
	t.Parallel()
	drivertest.RequireTool(t, "rclone")
	dir := t.TempDir()
	srv := rclonetest.ServeSFTP(t, filepath.Join(dir, "server"))
	for _, b := range []string{"a", "b", "c"} {
		drivertest.WriteFile(t, filepath.Join(srv.Dir, "library"), "books/book"+b+".epub", strings.Repeat(b, 5000), 0o644)
	}
	conf := rclonetest.WriteConfig(t, dir, srv.SFTPRemote(t, "loop"))
	mirror := filepath.Join(dir, "mirror")
	tg := &drivers.Target{Name: "pull", Driver: "rclone", Impl: rclone.Driver{}, TempDir: dir, DrillSample: 10,
		Settings: drivers.Values{"source": "loop:library", "destination": mirror, "config": conf}}
	ctx := context.Background()
	r := rclone.Driver{}
	x := &drivertest.RcloneCmdLog{}
	if _, err := r.Backup(ctx, x, tg); err != nil {
		t.Fatal(err)
	}
	res, err := r.Drill(ctx, x, tg)
	if err != nil || !strings.HasPrefix(res.Detail, "3 sampled files restored: 3 match their source") {
		t.Fatalf("drill %+v %v", res, err)
	}
	drivertest.RcloneFlipByte(t, filepath.Join(mirror, "books/bookb.epub"))
	_, err = r.Drill(ctx, x, tg)
	var mm *drill.Mismatch
	if !errors.As(err, &mm) || mm.File != "loop:library/books/bookb.epub" || !strings.Contains(err.Error(), "differs from its source") {
		t.Fatalf("want a mismatch naming loop:library/books/bookb.epub, got %v", err)
	}
	t.Logf("drill failed as it must: %v", err)
	drivertest.NoDrillDirs(t, dir)
}

// A drill of a destination with nothing in it fails and leaves nothing.
func TestRcloneDrillNothingToDrill(t *testing.T) {
	t.Parallel()
	drivertest.RequireTool(t, "rclone")
	dir := t.TempDir()
	conf := rclonetest.WriteConfig(t, dir)
	src := filepath.Join(dir, "library")
	drivertest.WriteFile(t, src, "book.epub", "a book", 0o644)
	tg := &drivers.Target{Name: "offsite", Driver: "rclone", Impl: rclone.Driver{}, TempDir: dir,
		Settings: drivers.Values{"source": src, "destination": filepath.Join(dir, "never-copied"), "config": conf}}
	_, err := rclone.Driver{}.Drill(context.Background(), &drivertest.RcloneCmdLog{}, tg)
	if err == nil || !strings.Contains(err.Error(), "holds no files") {
		t.Fatalf("want a failure saying the destination holds no files, got %v", err)
	}
	drivertest.NoDrillDirs(t, dir)
}
