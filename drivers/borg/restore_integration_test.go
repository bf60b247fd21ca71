package borg_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/borg"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/drill"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// newBorgRestoreFixture is a borg fixture over RbArchiveTree's library.
func newBorgRestoreFixture(t *testing.T) (*drivertest.BorgFixture, []string) {
	f := drivertest.NewBorgFixture(t) // parallel
	if err := os.RemoveAll(f.Src); err != nil {
		t.Fatal(err)
	}
	return f, drivertest.RbArchiveTree(t, f.Src)
}

// Restoring the latest archive, and an older one by name, brings back the
// tree as it was, below DIR at its absolute path; "latest" is this
// target's newest archive, and another target's archive is refused.
func TestBorgRestoreLatestAndByName(t *testing.T) {
	f, files := newBorgRestoreFixture(t)
	ctx := context.Background()
	b := borg.Driver{}
	tg := f.RestoreTarget(t, "library", nil)
	first := f.Backup(t, tg)
	firstDir := filepath.Join(f.Dir, "restore-first")
	res, err := b.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: firstDir})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != first.ID || res.Files != len(files) {
		t.Errorf("result %+v, want %d files from %s", res, len(files), first.ID)
	}
	drivertest.RbSameTree(t, f.Src, filepath.Join(firstDir, f.Src))

	drivertest.WriteFile(t, f.Src, "books/new.epub", "new book", 0o644)
	drivertest.WriteFile(t, f.Src, files[0], "rewritten", 0o644)
	second := f.Backup(t, tg)
	other := f.RestoreTarget(t, "other", drivers.Values{"paths": []string{filepath.Join(f.Src, "covers")}})
	otherArchive := f.Backup(t, other)

	to := filepath.Join(f.Dir, "restore-latest")
	res, err = b.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != second.ID || res.Files != len(files)+1 || res.Where != to {
		t.Errorf("result %+v, want %d files from %s", res, len(files)+1, second.ID)
	}
	drivertest.RbSameTree(t, f.Src, filepath.Join(to, f.Src))

	old := filepath.Join(f.Dir, "restore-old")
	if _, err := b.Restore(ctx, f.X, tg, drivers.RestoreRequest{From: first.ID, To: old}); err != nil {
		t.Fatal(err)
	}
	drivertest.RbSameTree(t, filepath.Join(firstDir, f.Src), filepath.Join(old, f.Src))

	_, err = b.Restore(ctx, f.X, tg, drivers.RestoreRequest{From: otherArchive.ID, To: filepath.Join(f.Dir, "x")})
	if err == nil || !strings.Contains(err.Error(), "no archive") {
		t.Errorf("restoring another target's archive: %v", err)
	}
}

// A non-empty directory needs Force; a relative one is refused.
func TestBorgRestoreNonEmptyNeedsForce(t *testing.T) {
	f, _ := newBorgRestoreFixture(t)
	ctx := context.Background()
	b := borg.Driver{}
	tg := f.RestoreTarget(t, "library", nil)
	f.Backup(t, tg)
	to := filepath.Join(f.Dir, "restore")
	keep := drivertest.WriteFile(t, to, "notes.txt", "mine", 0o644)
	_, err := b.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to})
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore into a non-empty directory: %v", err)
	}
	if entries, _ := os.ReadDir(to); len(entries) != 1 {
		t.Fatalf("a refused restore wrote into the directory: %v", entries)
	}
	if _, err := b.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to, Force: true}); err != nil {
		t.Fatal(err)
	}
	drivertest.RbSameTree(t, f.Src, filepath.Join(to, f.Src))
	if b, _ := os.ReadFile(keep); string(b) != "mine" {
		t.Error("a forced restore changed a file that is not in the backup")
	}
	if _, err := b.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: "relative"}); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative directory: %v", err)
	}
}

// borg 1.2.4 writes through a symlink it extracted itself: an archive that
// holds "lib/link" (a symlink to a live directory) and "lib/link/o.txt"
// (backed up through it) overwrites the live o.txt on extract. Restore
// and drill refuse such an archive; a forced restore refuses a directory
// holding an escaping symlink; absolute and "../" paths land below DIR.
func TestBorgRestoreStaysInside(t *testing.T) {
	f, _ := newBorgRestoreFixture(t)
	ctx := context.Background()
	b := borg.Driver{}
	outside := filepath.Join(f.Dir, "outside")
	victim := drivertest.WriteFile(t, outside, "o.txt", "backed up", 0o644)
	link := filepath.Join(f.Src, "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	tg := f.RestoreTarget(t, "library", drivers.Values{"paths": []string{f.Src, filepath.Join(link, "o.txt")}})
	evil := f.Backup(t, tg)
	drivertest.WriteFile(t, outside, "o.txt", "live data", 0o644)

	// What borg itself does with it, outside the driver.
	raw := filepath.Join(f.Dir, "raw")
	os.Mkdir(raw, 0o700)
	res, err := f.X.Run(ctx, proc.Command{Program: "borg", Args: []string{"extract", "--", "::" + evil.ID}, Dir: raw,
		ExtraFiles: []string{f.Pass}, Env: []proc.EnvVar{{Name: "BORG_REPO", Value: f.Repo}, {Name: "BORG_PASSPHRASE_FD", Value: "3"},
			{Name: "BORG_BASE_DIR", Value: filepath.Join(f.Dir, "borg-base")}}})
	if got, _ := os.ReadFile(victim); string(got) == "backed up" {
		t.Logf("plain `borg extract` (exit %d, %v) wrote through the archive's symlink outside its directory: the guard is needed", res.ExitCode, err)
	} else {
		t.Logf("plain `borg extract` (exit %d, %v) no longer writes through the archive's symlink", res.ExitCode, err)
	}
	drivertest.WriteFile(t, outside, "o.txt", "live data", 0o644)

	to := filepath.Join(f.Dir, "restore")
	_, err = b.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to})
	if err == nil || !strings.Contains(err.Error(), "link/o.txt below") {
		t.Fatalf("restore of an archive holding a file below its own symlink: %v", err)
	}
	t.Logf("refused as it must: %v", err)
	if _, err := os.Stat(to); err == nil {
		t.Error("a refused restore created its directory")
	}
	tg.DrillSample = 100
	if _, err := b.Drill(ctx, f.X, tg); err == nil || !strings.Contains(err.Error(), "would be refused") {
		t.Fatalf("drill of that archive: %v", err)
	}
	if got, _ := os.ReadFile(victim); string(got) != "live data" {
		t.Fatalf("wrote outside the restore directory: %q", got)
	}

	// A normal archive; the live source changes after it.
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	good := f.RestoreTarget(t, "plain", nil)
	f.Backup(t, good)
	drivertest.WriteFile(t, f.Src, "books/-dash", "live too", 0o644)
	to2 := filepath.Join(f.Dir, "restore2")
	if err := os.MkdirAll(filepath.Join(to2, f.Src), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(to2, f.Src, "books")); err != nil {
		t.Fatal(err)
	}
	_, err = b.Restore(ctx, f.X, good, drivers.RestoreRequest{To: to2, Force: true})
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("forced restore over an escaping symlink: %v", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Fatalf("wrote outside: %v", entries)
	}
	to3 := filepath.Join(f.Dir, "restore3")
	if _, err := b.Restore(ctx, f.X, good, drivers.RestoreRequest{To: to3}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(f.Src, "books/-dash")); string(got) != "live too" {
		t.Fatal("the restore wrote to the backed-up absolute path")
	}
	if got, err := os.ReadFile(filepath.Join(to3, f.Src, "books/-dash")); err != nil || string(got) == "live too" {
		t.Fatalf("the archived file was not restored below the directory: %q %v", got, err)
	}

	// An archive of "../library/books", made from another directory:
	// borg stores "library/books", which lands below DIR.
	sub := filepath.Join(f.Dir, "sub")
	os.Mkdir(sub, 0o700)
	res, err = f.X.Run(ctx, proc.Command{Program: "borg", Args: []string{"create", "--", "::plain@dotdot", "../library/books"}, Dir: sub,
		ExtraFiles: []string{f.Pass}, Env: []proc.EnvVar{{Name: "BORG_REPO", Value: f.Repo}, {Name: "BORG_PASSPHRASE_FD", Value: "3"},
			{Name: "BORG_BASE_DIR", Value: filepath.Join(f.Dir, "borg-base")}}})
	if err != nil {
		t.Fatalf("%v %s", err, res.Stderr)
	}
	to4 := filepath.Join(f.Dir, "restore4")
	if _, err := b.Restore(ctx, f.X, good, drivers.RestoreRequest{From: "dotdot", To: to4}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(to4, "library", "books", "-dash")); err != nil {
		t.Fatalf("a \"../\" path did not land below the directory: %v", err)
	}
	if entries, _ := os.ReadDir(to4); len(entries) != 1 {
		t.Fatalf("restore directory holds %v", entries)
	}
}

// The drill passes on a good backup with every file compared with its
// source and with borg's SHA-256; it fails, naming the file, when a source
// differs with size and mtime unchanged; a file changed the normal way is
// skipped; a flipped segment byte and a tampered chunk (CRC recomputed)
// fail it. Scratch directories never stay behind.
func TestBorgDrill(t *testing.T) {
	f, files := newBorgRestoreFixture(t)
	ctx := context.Background()
	b := borg.Driver{}
	tg := f.RestoreTarget(t, "library", nil)
	tg.DrillSample = 100
	a := f.Backup(t, tg)

	d, err := b.Drill(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	n := strconv.Itoa(len(files))
	if d.Artifact != a.ID || d.Checked != len(files) || !strings.Contains(d.Detail, "restored: "+n+" match their source") ||
		!strings.Contains(d.Detail, n+" match borg's sha256") {
		t.Fatalf("drill %+v, want all %s files compared with source and sha256", d, n)
	}
	t.Logf("good backup: %s", d.Detail)
	drivertest.RbNoDrillLeftovers(t, tg.TempDir)

	tg.DrillSample = 2
	if d, err := b.Drill(ctx, f.X, tg); err != nil || d.Checked != 2 {
		t.Fatalf("a sample of 2: %+v %v", d, err)
	}
	tg.DrillSample = 100

	drivertest.WriteFile(t, f.Src, files[1], "changed after the backup", 0o644)
	d, err = b.Drill(ctx, f.X, tg)
	if err != nil || !strings.Contains(d.Detail, "1 changed since the backup") {
		t.Fatalf("changed source: %+v %v", d, err)
	}

	bad := filepath.Join(f.Src, files[2])
	drivertest.RbChangeKeepingStat(t, bad, 100)
	_, err = b.Drill(ctx, f.X, tg)
	var m *drill.Mismatch
	if !errors.As(err, &m) || m.File != bad || !strings.Contains(err.Error(), "byte 100") {
		t.Fatalf("drill passed, or did not name %s: %v", bad, err)
	}
	t.Logf("drill failed as it must: %v", err)
	drivertest.RbChangeKeepingStat(t, bad, 100)
	drivertest.RbNoDrillLeftovers(t, tg.TempDir)

	// A flipped byte in a segment (bit rot), then undone.
	seg := drivertest.RbFlipInLargest(t, filepath.Join(f.Repo, "data"))
	_, err = b.Drill(ctx, f.X, tg)
	if err == nil || !strings.Contains(err.Error(), "integrity") {
		t.Fatalf("drill passed with %s damaged, or did not say why: %v", seg, err)
	}
	t.Logf("drill failed as it must: %v", err)
	drivertest.RbNoDrillLeftovers(t, tg.TempDir)
	fi, _ := os.Stat(seg)
	drivertest.RbChangeKeepingStat(t, seg, fi.Size()/2)
	if _, err := b.Drill(ctx, f.X, tg); err != nil {
		t.Fatalf("after undoing the damage: %v", err)
	}

	// A chunk changed with its CRC recomputed: only decrypting notices.
	drivertest.TamperLargestChunk(t, f.Repo)
	_, err = b.Drill(ctx, f.X, tg)
	if err == nil {
		t.Fatal("drill passed a tampered chunk")
	}
	t.Logf("drill failed as it must: %v", err)
	drivertest.RbNoDrillLeftovers(t, tg.TempDir)
}

// ProveRestore compares every file in place with the size and SHA-256
// borg computes from the archive's chunks, and names the file that
// differs, however it does. With Paths, only what is below them counts.
func TestBorgProveRestore(t *testing.T) {
	f, files := newBorgRestoreFixture(t)
	ctx := context.Background()
	b := borg.Driver{}
	tg := f.RestoreTarget(t, "library", nil)
	f.Backup(t, tg)
	to := filepath.Join(f.Dir, "restored")
	if _, err := b.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to}); err != nil {
		t.Fatal(err)
	}
	drivertest.RbProveRestore(t, f.Src, to, files, func() (drivers.RestoreProof, error) {
		return b.ProveRestore(ctx, f.X, tg, drivers.RestoreRequest{To: to})
	})

	os.Remove(filepath.Join(to, f.Src, files[0]))
	proof, err := b.ProveRestore(ctx, f.X, tg, drivers.RestoreRequest{To: to, Paths: []string{filepath.Join(f.Src, "covers")}})
	if err != nil || proof.Checked != 1 {
		t.Errorf("the proof of covers/ alone: %+v, %v", proof, err)
	}
}
