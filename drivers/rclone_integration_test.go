package drivers_test

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/rclonetest"
)

// rcloneCmdLog is a real executor that also keeps every command line it ran, as
// shown in logs (Command.String()), and every argv.
type rcloneCmdLog struct {
	mu    sync.Mutex
	lines []string
	argv  []string
}

func (l *rcloneCmdLog) Run(ctx context.Context, c drivers.Command) (drivers.Result, error) {
	l.mu.Lock()
	l.lines = append(l.lines, c.String())
	l.argv = append(l.argv, c.Program+" "+strings.Join(c.Args, " "))
	l.mu.Unlock()
	return drivers.ProcessExecutor{}.Run(ctx, c)
}

type rcloneFixture struct {
	dir, src, dst string
	x             *rcloneCmdLog
}

// newRcloneFixture makes a small library of random books to mirror.
func newRcloneFixture(t *testing.T) *rcloneFixture {
	requireTool(t, "rclone")
	dir := t.TempDir()
	f := &rcloneFixture{dir: dir, src: filepath.Join(dir, "library"), dst: filepath.Join(dir, "mirror"), x: &rcloneCmdLog{}}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 12; i++ {
		b := make([]byte, 5000+rng.Intn(20000))
		rng.Read(b)
		writeFile(t, f.src, filepath.Join("books", "author"+string(rune('a'+i%3)), "book"+string(rune('a'+i))+".epub"), string(b), 0o644)
	}
	// rclone would otherwise look for ~/.config/rclone/rclone.conf.
	t.Setenv("RCLONE_CONFIG", filepath.Join(dir, "no-rclone.conf"))
	return f
}

func (f *rcloneFixture) target(settings drivers.Values) *drivers.Target {
	v := drivers.Values{"source": f.src, "destination": f.dst}
	for k, x := range settings {
		v[k] = x
	}
	return &drivers.Target{Name: "offsite", Driver: "rclone", Impl: drivers.Rclone{}, Verify: true, Settings: v, TempDir: f.dir}
}

// rcloneFlipByte changes one byte in the middle of path and puts its mtime back:
// the size and time rclone sync compares stay the same.
func rcloneFlipByte(t *testing.T, path string) {
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
	if _, err := fh.ReadAt(b, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := fh.WriteAt(b, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if after.Size() != fi.Size() || !after.ModTime().Equal(fi.ModTime()) {
		t.Fatal("rcloneFlipByte changed the size or mtime")
	}
}

// rcloneFiles lists the regular files under dir, relative, sorted.
func rcloneFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func rcloneDirBytes(t *testing.T, dir string) int64 {
	var n int64
	for _, f := range rcloneFiles(t, dir) {
		fi, _ := os.Stat(filepath.Join(dir, f))
		n += fi.Size()
	}
	return n
}

func TestRcloneSyncLocalVerifyCatchesFlippedByte(t *testing.T) {
	f := newRcloneFixture(t)
	ctx := context.Background()
	r := drivers.Rclone{}
	tg := f.target(drivers.Values{"exclude": []string{"authorb/**"}})
	if err := r.Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	a, err := r.Backup(ctx, f.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != f.dst || a.Bytes != rcloneDirBytes(t, f.dst) || a.Bytes <= 0 || len(a.Warnings) != 0 {
		t.Fatalf("artifact %+v (mirror holds %d bytes)", a, rcloneDirBytes(t, f.dst))
	}
	got := rcloneFiles(t, f.dst)
	if len(got) != 8 || strings.Contains(strings.Join(got, " "), "authorb") {
		t.Fatalf("mirror holds %v (authorb is excluded)", got)
	}
	if err := r.Verify(ctx, f.x, tg, a); err != nil {
		t.Fatalf("verify: %v", err)
	}
	snaps, err := r.Snapshots(ctx, f.x, tg)
	if err != nil || len(snaps) != 1 || snaps[0].ID != f.dst || snaps[0].Bytes != a.Bytes || snaps[0].Time.IsZero() {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}

	// A byte changed in the mirror, size and mtime kept: a sync would not
	// notice, the check's hashes must.
	rcloneFlipByte(t, filepath.Join(f.dst, got[3]))
	err = r.Verify(ctx, f.x, tg, a)
	if err == nil {
		t.Fatal("verify passed a mirror with a flipped byte")
	}
	if !strings.Contains(err.Error(), "1 differences found") || !strings.Contains(err.Error(), filepath.ToSlash(got[3])) {
		t.Fatalf("the error should say what differs: %v", err)
	}
	t.Logf("verify failed as it must: %v", err)
}

// rclone 1.60 deletes up to --max-delete files, then stops with exit 7:
// the target fails and the rest of the mirror stays.
func TestRcloneMaxDelete(t *testing.T) {
	f := newRcloneFixture(t)
	ctx := context.Background()
	r := drivers.Rclone{}
	// max_delete_percent off: max_delete is an independent guard.
	tg := f.target(drivers.Values{"max_delete": 3, "max_delete_percent": 100})
	if _, err := r.Backup(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	all := rcloneFiles(t, f.dst)
	for _, p := range all[2:] { // the source loses 10 of its 12 books
		os.Remove(filepath.Join(f.src, p))
	}
	_, err := r.Backup(ctx, f.x, tg)
	if err == nil || !strings.Contains(err.Error(), "exited 7") || !strings.Contains(err.Error(), "max-delete") {
		t.Fatalf("want a failure at the max-delete limit, got %v", err)
	}
	left := rcloneFiles(t, f.dst)
	if len(left) < len(all)-3 {
		t.Fatalf("more than max_delete files were deleted: %d of %d left", len(left), len(all))
	}
	t.Logf("failed as it must (%d of %d files left in the mirror): %v", len(left), len(all), err)
}

// copy adds and updates, never deletes; its one-way check accepts extra
// files in the destination, which a sync's check would not.
func TestRcloneCopyKeepsExtraFiles(t *testing.T) {
	f := newRcloneFixture(t)
	ctx := context.Background()
	r := drivers.Rclone{}
	extra := writeFile(t, f.dst, "older/kept.epub", "from an earlier copy", 0o644)
	tg := f.target(drivers.Values{"mode": "copy"})
	a, err := r.Backup(ctx, f.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(extra); err != nil {
		t.Fatalf("copy deleted a destination file: %v", err)
	}
	if len(rcloneFiles(t, f.dst)) != 13 {
		t.Fatalf("destination holds %v", rcloneFiles(t, f.dst))
	}
	if err := r.Verify(ctx, f.x, tg, a); err != nil {
		t.Fatalf("one-way verify: %v", err)
	}
	tg.Settings["mode"] = "sync"
	if err := r.Verify(ctx, f.x, tg, a); err == nil || !strings.Contains(err.Error(), "kept.epub") {
		t.Fatalf("a two-way check must name the extra file, got %v", err)
	}
	// And a book missing from the copy fails the one-way check too.
	tg.Settings["mode"] = "copy"
	os.Remove(filepath.Join(f.dst, rcloneFiles(t, f.src)[0]))
	if err := r.Verify(ctx, f.x, tg, a); err == nil || !strings.Contains(err.Error(), "1 files missing") {
		t.Fatalf("want a missing file reported, got %v", err)
	}
}

// A mirror on a remote reached through an rclone.conf: rclone serve sftp on
// loopback, password obscured in the config.
func TestRcloneSyncToSFTPRemote(t *testing.T) {
	f := newRcloneFixture(t)
	ctx := context.Background()
	r := drivers.Rclone{}
	srv := rclonetest.ServeSFTP(t, filepath.Join(f.dir, "server"))
	conf := rclonetest.WriteConfig(t, f.dir, srv.SFTPRemote(t, "loop"))
	tg := f.target(drivers.Values{"destination": "loop:alexandria/library", "config": conf, "max_delete": 100})
	if err := r.Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	a, err := r.Backup(ctx, f.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	served := filepath.Join(srv.Dir, "alexandria", "library")
	if a.ID != "loop:alexandria/library" || a.Bytes != rcloneDirBytes(t, f.src) || len(rcloneFiles(t, served)) != 12 {
		t.Fatalf("artifact %+v; server holds %v", a, rcloneFiles(t, served))
	}
	if err := r.Verify(ctx, f.x, tg, a); err != nil {
		t.Fatalf("verify: %v", err)
	}
	snaps, err := r.Snapshots(ctx, f.x, tg)
	if err != nil || len(snaps) != 1 || snaps[0].Bytes != a.Bytes {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}
	rcloneFlipByte(t, filepath.Join(served, rcloneFiles(t, served)[0]))
	if err := r.Verify(ctx, f.x, tg, a); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Fatalf("verify over sftp passed a flipped byte: %v", err)
	}
	for _, l := range f.x.lines {
		if strings.Contains(l, srv.Pass) {
			t.Errorf("the sftp password shows in %s", l)
		}
	}
}

// On a crypt remote plain `rclone check` compares sizes only and passes
// damaged ciphertext with exit 0; cryptcheck catches it.
func TestRcloneCryptcheckCatchesDamagedCiphertext(t *testing.T) {
	f := newRcloneFixture(t)
	ctx := context.Background()
	r := drivers.Rclone{}
	vault := filepath.Join(f.dir, "vault")
	conf := rclonetest.WriteConfig(t, f.dir, rclonetest.CryptRemote(t, "secret", vault, "crypt passphrase"))
	tg := f.target(drivers.Values{"destination": "secret:library", "config": conf, "crypt": true})
	a, err := r.Backup(ctx, f.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(ctx, f.x, tg, a); err != nil {
		t.Fatalf("cryptcheck of a good copy: %v", err)
	}
	encrypted := rcloneFiles(t, vault)
	if len(encrypted) != 12 || strings.Contains(strings.Join(encrypted, " "), "book") {
		t.Fatalf("vault holds %v, want 12 files with encrypted names", encrypted)
	}
	rcloneFlipByte(t, filepath.Join(vault, encrypted[0]))

	// Plain check, run by hand: exit 0, only a notice that hashes could
	// not be checked.
	plain, err := f.x.Run(ctx, drivers.Command{Program: "rclone", Args: []string{"check", "--config=" + conf, "--", f.src, "secret:library"}})
	if err != nil || plain.ExitCode != 0 || !strings.Contains(string(plain.Stderr), "12 hashes could not be checked") {
		t.Fatalf("expected plain check to pass the damage (rc 0, hashes not checked): rc %d err %v\n%s", plain.ExitCode, err, plain.Stderr)
	}
	// The driver does not accept that as a verification...
	tg.Settings["crypt"] = false
	err = r.Verify(ctx, f.x, tg, a)
	if err == nil || !strings.Contains(err.Error(), "compared only sizes") || !strings.Contains(err.Error(), "crypt = true") {
		t.Fatalf("a check without hashes must fail and point at crypt = true: %v", err)
	}
	// ...and cryptcheck finds the damage.
	tg.Settings["crypt"] = true
	err = r.Verify(ctx, f.x, tg, a)
	if err == nil || !strings.Contains(err.Error(), "rclone cryptcheck exited 1") || !strings.Contains(err.Error(), "1 differences found") {
		t.Fatalf("cryptcheck passed damaged ciphertext: %v", err)
	}
	t.Logf("cryptcheck failed as it must: %v", err)
	// check_download reads and decrypts, and fails too.
	tg.Settings["check_download"] = true
	if err := r.Verify(ctx, f.x, tg, a); err == nil {
		t.Fatal("check --download passed damaged ciphertext")
	}
}

// rcloneEncryptedConf is an rclone.conf encrypted with the password
// "hunter2pass", made once with `rclone config` (s, a) on a terminal:
// rclone 1.60 reads a new config password only from a TTY. It defines
// `[loc] type = local`.
const rcloneEncryptedConf = `# Encrypted rclone configuration File

RCLONE_ENCRYPT_V0:
1njabCxt9um4c//NYltpS2yU4gHT9eWRqhPKhKio+MOqx0MA1923eOXqLYKS2g1v7taH6LwfdxniS57s
`

// An encrypted rclone.conf opens with the password from a file (passed as
// RCLONE_CONFIG_PASS) or a command; without one, rclone fails at once
// instead of prompting; the password is in no command line.
func TestRcloneEncryptedConfig(t *testing.T) {
	f := newRcloneFixture(t)
	ctx := context.Background()
	r := drivers.Rclone{}
	conf := writeFile(t, f.dir, "rclone.conf", rcloneEncryptedConf, 0o600)
	passFile := writeFile(t, f.dir, "rclone.pass", "hunter2pass\n", 0o600)
	wrong := writeFile(t, f.dir, "wrong.pass", "not it\n", 0o600)
	for _, c := range []struct {
		name     string
		settings drivers.Values
		wantErr  string
	}{
		{"password file", drivers.Values{"config_password_file": passFile}, ""},
		{"password command", drivers.Values{"config_password_command": "cat " + passFile}, ""},
		{"no password", nil, "unable to decrypt configuration and not allowed to ask for password"},
		{"wrong password", drivers.Values{"config_password_file": wrong}, "most likely wrong password"},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.RemoveAll(f.dst)
			settings := drivers.Values{"destination": "loc:" + f.dst, "config": conf}
			for k, v := range c.settings {
				settings[k] = v
			}
			tg := f.target(settings)
			a, err := r.Backup(ctx, f.x, tg)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want an error with %q, got %v", c.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rcloneFiles(t, f.dst)) != 12 {
				t.Fatalf("mirror holds %v", rcloneFiles(t, f.dst))
			}
			if err := r.Verify(ctx, f.x, tg, a); err != nil {
				t.Fatal(err)
			}
		})
	}
	if len(f.x.argv) == 0 {
		t.Fatal("nothing ran")
	}
	for i, l := range f.x.lines {
		if strings.Contains(l, "hunter2pass") || strings.Contains(f.x.argv[i], "hunter2pass") {
			t.Errorf("the config password shows in %s", l)
		}
	}
}

func TestRcloneBwlimitAgreesWithRclone(t *testing.T) {
	f := newRcloneFixture(t)
	for _, c := range rcloneBwlimits {
		if c.value == "" {
			continue // refused by the plan; rclone has no opinion
		}
		_, err := drivers.ProcessExecutor{}.Run(context.Background(), drivers.Command{Program: "rclone",
			Args: []string{"lsf", "--config=" + os.DevNull, "--bwlimit=" + c.value, "--", f.src}})
		if (err == nil) != c.ok {
			t.Errorf("bwlimit %q: the option says ok=%v, rclone says %v", c.value, c.ok, err)
		}
	}
}

func TestRcloneCheckToolsInstalled(t *testing.T) {
	requireTool(t, "rclone")
	if err := (drivers.Rclone{}).CheckTools(context.Background(), drivers.ProcessExecutor{}, &drivers.Target{}); err != nil {
		t.Fatal(err)
	}
}
