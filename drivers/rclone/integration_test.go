package rclone_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/rclonetest"
)

func rcloneDirBytes(t *testing.T, dir string) int64 {
	var n int64
	for _, f := range drivertest.RcloneFiles(t, dir) {
		fi, _ := os.Stat(filepath.Join(dir, f))
		n += fi.Size()
	}
	return n
}

func TestRcloneSyncLocalVerifyCatchesFlippedByte(t *testing.T) {
	f := drivertest.NewRcloneFixture(t)
	ctx := context.Background()
	r := rclone.Driver{}
	tg := f.Target(drivers.Values{"exclude": []string{"authorb/**"}})
	if err := r.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	// The mirror's size is unknown after a backup (nothing lists it);
	// snapshots lists it.
	if a.ID != f.Dst || a.Bytes != -1 || len(a.Warnings) != 0 || len(rclone.SentPaths(t, tg, a)) != 8 {
		t.Fatalf("artifact %+v (mirror holds %d bytes)", a, rcloneDirBytes(t, f.Dst))
	}
	got := drivertest.RcloneFiles(t, f.Dst)
	if len(got) != 8 || strings.Contains(strings.Join(got, " "), "authorb") {
		t.Fatalf("mirror holds %v (authorb is excluded)", got)
	}
	if err := r.Verify(ctx, f.X, tg, a); err != nil {
		t.Fatalf("verify: %v", err)
	}
	snaps, err := r.Snapshots(ctx, f.X, tg)
	if err != nil || len(snaps) != 1 || snaps[0].ID != f.Dst || snaps[0].Bytes != rcloneDirBytes(t, f.Dst) || snaps[0].Bytes <= 0 || !snaps[0].Time.IsZero() {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}

	// A byte changed in the mirror, size and mtime kept: a sync would not
	// notice, the check's hashes must.
	drivertest.RcloneFlipByte(t, filepath.Join(f.Dst, got[3]))
	err = r.Verify(ctx, f.X, tg, a)
	if err == nil {
		t.Fatal("verify passed a mirror with a flipped byte")
	}
	if !strings.Contains(err.Error(), "1 file differs from what was sent") || !strings.Contains(err.Error(), filepath.ToSlash(got[3])) {
		t.Fatalf("the error should say what differs: %v", err)
	}
	t.Logf("verify failed as it must: %v", err)
}

// rclone 1.60 deletes up to --max-delete files, then stops with exit 7:
// the target fails and the rest of the mirror stays.
func TestRcloneMaxDelete(t *testing.T) {
	f := drivertest.NewRcloneFixture(t)
	ctx := context.Background()
	r := rclone.Driver{}
	// max_delete_percent off: max_delete is an independent guard.
	tg := f.Target(drivers.Values{"max_delete": 3, "max_delete_percent": 100})
	if _, err := r.Backup(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	all := drivertest.RcloneFiles(t, f.Dst)
	for _, p := range all[2:] { // the source loses 10 of its 12 books
		os.Remove(filepath.Join(f.Src, p))
	}
	_, err := r.Backup(ctx, f.X, tg)
	if err == nil || !strings.Contains(err.Error(), "exited 7") || !strings.Contains(err.Error(), "max-delete") {
		t.Fatalf("want a failure at the max-delete limit, got %v", err)
	}
	left := drivertest.RcloneFiles(t, f.Dst)
	if len(left) < len(all)-3 {
		t.Fatalf("more than max_delete files were deleted: %d of %d left", len(left), len(all))
	}
	t.Logf("failed as it must (%d of %d files left in the mirror): %v", len(left), len(all), err)
}

// copy adds and updates, never deletes; its one-way check does not look
// at extra files in the destination. A sync's check sees one, and does
// not count it as damage: it is what a file deleted from the source since
// the copy looks like (the next sync deletes it).
func TestRcloneCopyKeepsExtraFiles(t *testing.T) {
	f := drivertest.NewRcloneFixture(t)
	ctx := context.Background()
	r := rclone.Driver{}
	extra := drivertest.WriteFile(t, f.Dst, "older/kept.epub", "from an earlier copy", 0o644)
	tg := f.Target(drivers.Values{"mode": "copy"})
	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(extra); err != nil {
		t.Fatalf("copy deleted a destination file: %v", err)
	}
	if len(drivertest.RcloneFiles(t, f.Dst)) != 13 {
		t.Fatalf("destination holds %v", drivertest.RcloneFiles(t, f.Dst))
	}
	if cov, err := r.VerifyScoped(ctx, f.X, tg, a, drivers.FullScope); err != nil || strings.Contains(cov.Detail, "only in the destination") {
		t.Fatalf("one-way verify: %+v %v", cov, err)
	}
	tg.Settings["mode"] = "sync"
	if cov, err := r.VerifyScoped(ctx, f.X, tg, a, drivers.FullScope); err != nil || !strings.Contains(cov.Detail, "1 file only in the destination") {
		t.Fatalf("a two-way check must count the extra file, not fail: %+v %v", cov, err)
	}
	// And a book this run sent, missing from the copy, fails the one-way
	// check too.
	tg.Settings["mode"] = "copy"
	os.Remove(filepath.Join(f.Dst, drivertest.RcloneFiles(t, f.Src)[0]))
	if err := r.Verify(ctx, f.X, tg, a); err == nil || !strings.Contains(err.Error(), "1 file this run sent is missing") {
		t.Fatalf("want a missing file reported, got %v", err)
	}
}

// A mirror on a remote reached through an rclone.conf: rclone serve sftp on
// loopback, password obscured in the config.
func TestRcloneSyncToSFTPRemote(t *testing.T) {
	f := drivertest.NewRcloneFixture(t)
	ctx := context.Background()
	r := rclone.Driver{}
	srv := rclonetest.ServeSFTP(t, filepath.Join(f.Dir, "server"))
	conf := rclonetest.WriteConfig(t, f.Dir, srv.SFTPRemote(t, "loop"))
	tg := f.Target(drivers.Values{"destination": "loop:alexandria/library", "config": conf, "max_delete": 100})
	if err := r.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	served := filepath.Join(srv.Dir, "alexandria", "library")
	if a.ID != "loop:alexandria/library" || a.Bytes != -1 || len(drivertest.RcloneFiles(t, served)) != 12 {
		t.Fatalf("artifact %+v; server holds %v", a, drivertest.RcloneFiles(t, served))
	}
	if err := r.Verify(ctx, f.X, tg, a); err != nil {
		t.Fatalf("verify: %v", err)
	}
	snaps, err := r.Snapshots(ctx, f.X, tg)
	if err != nil || len(snaps) != 1 || snaps[0].Bytes != rcloneDirBytes(t, f.Src) {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}
	drivertest.RcloneFlipByte(t, filepath.Join(served, drivertest.RcloneFiles(t, served)[0]))
	if err := r.Verify(ctx, f.X, tg, a); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Fatalf("verify over sftp passed a flipped byte: %v", err)
	}
	for _, l := range f.X.Lines {
		if strings.Contains(l, srv.Pass) {
			t.Errorf("the sftp password shows in %s", l)
		}
	}
}

// On a crypt remote plain `rclone check` compares sizes only and passes
// damaged ciphertext with exit 0; cryptcheck catches it.
func TestRcloneCryptcheckCatchesDamagedCiphertext(t *testing.T) {
	f := drivertest.NewRcloneFixture(t)
	ctx := context.Background()
	r := rclone.Driver{}
	vault := filepath.Join(f.Dir, "vault")
	conf := rclonetest.WriteConfig(t, f.Dir, rclonetest.CryptRemote(t, "secret", vault, "crypt passphrase"))
	tg := f.Target(drivers.Values{"destination": "secret:library", "config": conf, "crypt": true})
	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(ctx, f.X, tg, a); err != nil {
		t.Fatalf("cryptcheck of a good copy: %v", err)
	}
	encrypted := drivertest.RcloneFiles(t, vault)
	if len(encrypted) != 12 || strings.Contains(strings.Join(encrypted, " "), "book") {
		t.Fatalf("vault holds %v, want 12 files with encrypted names", encrypted)
	}
	drivertest.RcloneFlipByte(t, filepath.Join(vault, encrypted[0]))

	// Plain check, run by hand: exit 0, only a notice that hashes could
	// not be checked.
	plain, err := f.X.Run(ctx, proc.Command{Program: "rclone", Args: []string{"check", "--config=" + conf, "--", f.Src, "secret:library"}})
	if err != nil || plain.ExitCode != 0 || !strings.Contains(string(plain.Stderr), "12 hashes could not be checked") {
		t.Fatalf("expected plain check to pass the damage (rc 0, hashes not checked): rc %d err %v\n%s", plain.ExitCode, err, plain.Stderr)
	}
	// The driver does not accept that as a verification...
	tg.Settings["crypt"] = false
	err = r.Verify(ctx, f.X, tg, a)
	if err == nil || !strings.Contains(err.Error(), "compared only sizes") || !strings.Contains(err.Error(), "crypt = true") {
		t.Fatalf("a check without hashes must fail and point at crypt = true: %v", err)
	}
	// ...and cryptcheck finds the damage.
	tg.Settings["crypt"] = true
	err = r.Verify(ctx, f.X, tg, a)
	if err == nil || !strings.Contains(err.Error(), "rclone cryptcheck: the destination is damaged") || !strings.Contains(err.Error(), "1 file differs") {
		t.Fatalf("cryptcheck passed damaged ciphertext: %v", err)
	}
	t.Logf("cryptcheck failed as it must: %v", err)
	// check_download reads and decrypts, and fails too.
	tg.Settings["check_download"] = true
	if err := r.Verify(ctx, f.X, tg, a); err == nil {
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
	f := drivertest.NewRcloneFixture(t)
	ctx := context.Background()
	r := rclone.Driver{}
	conf := drivertest.WriteFile(t, f.Dir, "rclone.conf", rcloneEncryptedConf, 0o600)
	passFile := drivertest.WriteFile(t, f.Dir, "rclone.pass", "hunter2pass\n", 0o600)
	wrong := drivertest.WriteFile(t, f.Dir, "wrong.pass", "not it\n", 0o600)
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
			os.RemoveAll(f.Dst)
			settings := drivers.Values{"destination": "loc:" + f.Dst, "config": conf}
			for k, v := range c.settings {
				settings[k] = v
			}
			tg := f.Target(settings)
			a, err := r.Backup(ctx, f.X, tg)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want an error with %q, got %v", c.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(drivertest.RcloneFiles(t, f.Dst)) != 12 {
				t.Fatalf("mirror holds %v", drivertest.RcloneFiles(t, f.Dst))
			}
			if err := r.Verify(ctx, f.X, tg, a); err != nil {
				t.Fatal(err)
			}
		})
	}
	if len(f.X.Argv) == 0 {
		t.Fatal("nothing ran")
	}
	for i, l := range f.X.Lines {
		if strings.Contains(l, "hunter2pass") || strings.Contains(f.X.Argv[i], "hunter2pass") {
			t.Errorf("the config password shows in %s", l)
		}
	}
}

func TestRcloneBwlimitAgreesWithRclone(t *testing.T) {
	f := drivertest.NewRcloneFixture(t)
	for _, c := range rcloneBwlimits {
		if c.value == "" {
			continue // refused by the plan; rclone has no opinion
		}
		_, err := proc.ProcessExecutor{}.Run(context.Background(), proc.Command{Program: "rclone",
			Args: []string{"lsf", "--config=" + os.DevNull, "--bwlimit=" + c.value, "--", f.Src}})
		if (err == nil) != c.ok {
			t.Errorf("bwlimit %q: the option says ok=%v, rclone says %v", c.value, c.ok, err)
		}
	}
}

func TestRcloneCheckToolsInstalled(t *testing.T) {
	drivertest.RequireTool(t, "rclone")
	if err := (rclone.Driver{}).CheckTools(context.Background(), proc.ProcessExecutor{}, &drivers.Target{}); err != nil {
		t.Fatal(err)
	}
}
