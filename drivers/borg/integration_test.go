package borg_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/borg"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

func TestBorgInitBackupVerifySnapshots(t *testing.T) {
	f := drivertest.NewBorgFixture(t)
	ctx := context.Background()
	b := borg.Driver{}
	tg := f.Target("library", drivers.Values{"exclude": []string{filepath.Join(f.Src, "books", "authorb")}, "compression": "zstd,3"})
	if err := b.Validate(tg); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // init is idempotent
		if err := b.Init(ctx, f.X, tg); err != nil {
			t.Fatalf("init %d: %v", i, err)
		}
	}
	a, err := b.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.ID, "library@") || a.Bytes <= 0 || len(a.Warnings) != 0 {
		t.Fatalf("artifact %+v", a)
	}
	if err := b.Verify(ctx, f.X, tg, a); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := b.Verify(ctx, f.X, tg, drivers.Artifact{}); err != nil {
		t.Fatalf("verify latest: %v", err)
	}
	snaps, err := b.Snapshots(ctx, f.X, tg)
	if err != nil || len(snaps) != 1 || snaps[0].ID != a.ID || time.Since(snaps[0].Time) > time.Hour || time.Since(snaps[0].Time) < 0 {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}
	// The exclude worked: borg's own listing of the archive has no authorb.
	res, err := f.BorgRun(t, "list", "--short", "--", "::"+a.ID)
	if err != nil || strings.Contains(string(res.Stdout), "authorb") || !strings.Contains(string(res.Stdout), "authora/booka.epub") {
		t.Fatalf("list: %v\n%s", err, res.Stdout)
	}
}

func TestBorgInitRefusesWrongPassphrase(t *testing.T) {
	f := drivertest.NewBorgFixture(t)
	ctx := context.Background()
	tg := f.Target("library", nil)
	if err := (borg.Driver{}).Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	config, _ := os.ReadFile(filepath.Join(f.Repo, "config"))
	tg.Settings["passphrase_file"] = drivertest.WriteFile(t, f.Dir, "wrong.pass", "not it\n", 0o600)
	err := borg.Driver{}.Init(ctx, f.X, tg)
	if err == nil || !strings.Contains(err.Error(), "is incorrect") {
		t.Fatalf("init with a wrong passphrase must fail, not re-init: %v", err)
	}
	if strings.Count(f.Commands(), "borg init") != 1 {
		t.Fatalf("borg init ran again:\n%s", f.Commands())
	}
	if now, _ := os.ReadFile(filepath.Join(f.Repo, "config")); string(now) != string(config) {
		t.Fatal("the repository config changed")
	}
	// Something that is not a borg repository is not "missing" either.
	tg.Settings["repository"] = f.Src
	tg.Settings["passphrase_file"] = f.Pass
	if err := (borg.Driver{}).Init(ctx, f.X, tg); err == nil || !strings.Contains(err.Error(), "not a valid repository") {
		t.Fatalf("init over a non-repository: %v", err)
	}
}

// borg drops trailing newlines from what it reads on BORG_PASSPHRASE_FD,
// so a file written by `echo` and one without the newline open the same
// repository; a passcommand gets the same treatment.
func TestBorgPassphraseNewlineAndPasscommand(t *testing.T) {
	f := drivertest.NewBorgFixture(t)
	ctx := context.Background()
	tg := f.Target("library", nil)
	if err := (borg.Driver{}).Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	tg.Settings["passphrase_file"] = drivertest.WriteFile(t, f.Dir, "no-newline.pass", drivertest.BorgPassphrase, 0o600)
	if _, err := (borg.Driver{}).Backup(ctx, f.X, tg); err != nil {
		t.Fatalf("passphrase file without the newline: %v", err)
	}
	cmd := f.Target("library", drivers.Values{"passphrase_file": nil, "passcommand": "cat " + f.Pass})
	if _, err := (borg.Driver{}).Snapshots(ctx, f.X, cmd); err != nil {
		t.Fatalf("passcommand: %v", err)
	}
}

// A passcommand printing nothing would make `borg init` create a
// repository with an empty passphrase (borg 1.2 accepts it).
func TestBorgInitRefusesEmptyPasscommand(t *testing.T) {
	f := drivertest.NewBorgFixture(t)
	tg := f.Target("library", drivers.Values{"passphrase_file": nil, "passcommand": "true"})
	err := borg.Driver{}.Init(context.Background(), f.X, tg)
	if err == nil || !strings.Contains(err.Error(), "empty passphrase") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(f.Repo); !os.IsNotExist(err) {
		t.Fatalf("a repository was created: %v", err)
	}
}

// borg 1.2 makes an empty archive and exits 1 when a source path is
// missing; the driver must refuse before borg runs.
func TestBorgMissingPathFailsBeforeBorg(t *testing.T) {
	f := drivertest.NewBorgFixture(t)
	ctx := context.Background()
	b := borg.Driver{}
	tg := f.Target("library", drivers.Values{"paths": []string{f.Src, filepath.Join(f.Dir, "unmounted")}})
	if err := b.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	_, err := b.Backup(ctx, f.X, tg)
	if err == nil || !strings.Contains(err.Error(), "unmounted") {
		t.Fatalf("want an error naming the missing path, got %v", err)
	}
	if strings.Contains(f.Commands(), "borg create") {
		t.Fatalf("borg create ran:\n%s", f.Commands())
	}
	if snaps, err := b.Snapshots(ctx, f.X, tg); err != nil || len(snaps) != 0 {
		t.Fatalf("an archive was made: %+v %v", snaps, err)
	}
}

// The passphrase never reaches argv or a shown command line; a passphrase
// file others can read is refused before anything runs.
func TestBorgPassphraseNeverInArgv(t *testing.T) {
	f := drivertest.NewBorgFixture(t)
	ctx := context.Background()
	b := borg.Driver{}
	tg := f.Target("library", drivers.Values{"keep_last": 1})
	if err := b.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	a, err := b.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(ctx, f.X, tg, a); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Prune(ctx, f.X, tg, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Snapshots(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	all := f.Commands()
	if n := strings.Count(all, "\n") + 1; n < 6 {
		t.Fatalf("only %d commands recorded:\n%s", n, all)
	}
	if strings.Contains(all, "horse") || !strings.Contains(all, "BORG_PASSPHRASE_FD=3") {
		t.Fatalf("commands:\n%s", all)
	}

	os.Chmod(f.Pass, 0o644)
	before := len(f.Log)
	_, err = b.Backup(ctx, f.X, tg)
	if err == nil || !strings.Contains(err.Error(), "passphrase_file") || !strings.Contains(err.Error(), "0644") {
		t.Fatalf("got %v", err)
	}
	if len(f.Log) != before {
		t.Fatalf("borg ran with an open passphrase file: %q", f.Log[before:])
	}
}

// A byte changed in a segment file (size and mtime kept) passes
// `borg check --archives-only`, which reads no data, but fails the
// repository check that Verify runs, and --verify-data.
func TestBorgVerifyCatchesCorruptSegment(t *testing.T) {
	f := drivertest.NewBorgFixture(t)
	ctx := context.Background()
	b := borg.Driver{}
	tg := f.Target("library", nil)
	if err := b.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	a, err := b.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	segments, _ := filepath.Glob(filepath.Join(f.Repo, "data", "*", "*"))
	var biggest string
	var fi os.FileInfo
	for _, p := range segments {
		if s, _ := os.Stat(p); fi == nil || s.Size() > fi.Size() {
			biggest, fi = p, s
		}
	}
	if fi == nil || fi.Size() < 100000 {
		t.Fatalf("no segment holding the data: %v", segments)
	}
	fh, err := os.OpenFile(biggest, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	fh.ReadAt(buf, fi.Size()/2)
	buf[0] ^= 0xff
	fh.WriteAt(buf, fi.Size()/2)
	fh.Close()
	os.Chtimes(biggest, fi.ModTime(), fi.ModTime())
	if now, _ := os.Stat(biggest); now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()) {
		t.Fatal("size or mtime changed")
	}

	if _, err := f.BorgRun(t, "check", "--archives-only", "--", "::"+a.ID); err != nil {
		t.Logf("note: even --archives-only noticed: %v", err)
	} else {
		t.Logf("borg check --archives-only passed the damaged segment (it reads no data)")
	}
	err = b.Verify(ctx, f.X, tg, a)
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("verify passed a damaged segment, or did not say why: %v", err)
	}
	t.Logf("verify failed as it must: %v", err)
	// Watched on a terminal, borg check speaks JSON: the verdict and its
	// reason must be the same.
	watched := *tg
	watched.Progress = true
	err = b.Verify(ctx, f.X, &watched, a)
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") || strings.Contains(err.Error(), `"type"`) {
		t.Fatalf("verify with progress on: %v", err)
	}
	tg.Settings["check_verify_data"] = true
	if err := b.Verify(ctx, f.X, tg, drivers.Artifact{}); err == nil {
		t.Fatal("verify with check_verify_data passed a damaged segment")
	}
}

// A chunk changed with its segment entry's CRC32 recomputed (tampering,
// not bit rot) passes the repository check; only check_verify_data,
// which decrypts and authenticates every chunk, catches it.
func TestBorgVerifyDataCatchesTamperedChunk(t *testing.T) {
	f := drivertest.NewBorgFixture(t)
	ctx := context.Background()
	b := borg.Driver{}
	tg := f.Target("library", nil)
	if err := b.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	a, err := b.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.TamperLargestChunk(t, f.Repo)
	if err := b.Verify(ctx, f.X, tg, a); err != nil {
		t.Logf("note: the default verify noticed too: %v", err)
	} else {
		t.Logf("the default verify (repository CRCs + archive metadata) passed the tampered chunk")
	}
	tg.Settings["check_verify_data"] = true
	err = b.Verify(ctx, f.X, tg, a)
	if err == nil {
		t.Fatal("verify with check_verify_data passed a tampered chunk")
	}
	t.Logf("check_verify_data failed as it must: %v", err)
}

// Retention thins only this target's archives, keeps the newest, and a
// dry run removes nothing. Another target's archives in the same
// repository, even one whose name starts like this one's, are untouched.
func TestBorgRetentionPerTarget(t *testing.T) {
	f := drivertest.NewBorgFixture(t)
	ctx := context.Background()
	b := borg.Driver{}
	lib := f.Target("lib", drivers.Values{"keep_last": 2})
	other := f.Target("lib-borg", drivers.Values{"keep_last": 1})
	if err := b.Init(ctx, f.X, lib); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := b.Backup(ctx, f.X, other); err != nil {
			t.Fatal(err)
		}
	}
	var last drivers.Artifact
	for i := 0; i < 3; i++ {
		if i > 0 {
			// keep_last is borg's --keep-secondly: archives must be a second apart.
			time.Sleep(1100 * time.Millisecond)
		}
		drivertest.WriteFile(t, f.Src, "new"+string(rune('0'+i))+".txt", "change", 0o644)
		a, err := b.Backup(ctx, f.X, lib)
		if err != nil {
			t.Fatal(err)
		}
		last = a
	}
	dry, err := b.Prune(ctx, f.X, lib, true)
	if err != nil || len(dry.Removed) != 1 || dry.Kept != 2 || !dry.Policy {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if snaps, _ := b.Snapshots(ctx, f.X, lib); len(snaps) != 3 {
		t.Fatalf("a dry run removed archives: %d left", len(snaps))
	}
	res, err := b.Prune(ctx, f.X, lib, false)
	if err != nil || len(res.Removed) != 1 || res.Removed[0] != dry.Removed[0] {
		t.Fatalf("prune: %+v %v", res, err)
	}
	snaps, _ := b.Snapshots(ctx, f.X, lib)
	if len(snaps) != 2 || snaps[0].ID != last.ID {
		t.Fatalf("after prune: %+v (newest %s must stay)", snaps, last.ID)
	}
	if o, _ := b.Snapshots(ctx, f.X, other); len(o) != 2 {
		t.Fatalf("pruning lib touched lib-borg: %+v", o)
	}
	if !strings.Contains(f.Commands(), "borg compact") {
		t.Fatalf("prune did not compact:\n%s", f.Commands())
	}
}

// An unencrypted repository (encryption = "none") needs no passphrase, and
// still works from a machine that has not seen it (a restore host).
func TestBorgUnencrypted(t *testing.T) {
	f := drivertest.NewBorgFixture(t)
	ctx := context.Background()
	b := borg.Driver{}
	tg := f.Target("library", drivers.Values{"passphrase_file": nil, "encryption": "none"})
	if err := b.Validate(tg); err != nil {
		t.Fatal(err)
	}
	if err := b.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Backup(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	tg.Env["BORG_BASE_DIR"] = filepath.Join(f.Dir, "fresh-host")
	if snaps, err := b.Snapshots(ctx, f.X, tg); err != nil || len(snaps) != 1 {
		t.Fatalf("from a fresh host: %+v %v", snaps, err)
	}
}

func TestBorgCheckToolsInstalled(t *testing.T) {
	drivertest.RequireTool(t, "borg")
	t.Parallel()
	if err := (borg.Driver{}).CheckTools(context.Background(), proc.ProcessExecutor{}, &drivers.Target{}); err != nil {
		t.Fatal(err)
	}
}
