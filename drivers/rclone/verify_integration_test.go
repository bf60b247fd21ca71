package rclone_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/rclonetest"
)

// Verification by change plus rotation, on the real rclone, for every
// kind of destination the driver treats differently: a local directory,
// an sftp remote (rclone serve sftp on loopback) and a crypt remote
// (cryptcheck).

// rclonePlace is a kind of destination: the target that copies the
// fixture's library there, and where a file of the copy lies on disk,
// for damaging it behind rclone's back.
type rclonePlace struct {
	name  string
	setup func(t *testing.T, f *drivertest.RcloneFixture) (tg *drivers.Target, onDisk func(rel string) string)
}

var rclonePlaces = []rclonePlace{
	{"local", func(t *testing.T, f *drivertest.RcloneFixture) (*drivers.Target, func(string) string) {
		return f.Target(nil), func(rel string) string { return filepath.Join(f.Dst, rel) }
	}},
	{"sftp", func(t *testing.T, f *drivertest.RcloneFixture) (*drivers.Target, func(string) string) {
		srv := rclonetest.ServeSFTP(t, filepath.Join(f.Dir, "server"))
		conf := rclonetest.WriteConfig(t, f.Dir, srv.SFTPRemote(t, "loop"))
		served := filepath.Join(srv.Dir, "alexandria", "library")
		return f.Target(drivers.Values{"destination": "loop:alexandria/library", "config": conf}),
			func(rel string) string { return filepath.Join(served, rel) }
	}},
	{"crypt", func(t *testing.T, f *drivertest.RcloneFixture) (*drivers.Target, func(string) string) {
		vault := filepath.Join(f.Dir, "vault")
		conf := rclonetest.WriteConfig(t, f.Dir, rclonetest.CryptRemote(t, "secret", vault, "crypt passphrase"))
		return f.Target(drivers.Values{"destination": "secret:library", "config": conf, "crypt": true}),
			func(rel string) string { return filepath.Join(vault, rcloneEncryptedName(t, conf, "library/"+rel)) }
	}},
}

// rcloneEncryptedName is the path a crypt remote stores a file under.
func rcloneEncryptedName(t *testing.T, conf, plain string) string {
	t.Helper()
	out, err := exec.Command("rclone", "cryptdecode", "--config="+conf, "--reverse", "secret:", plain).Output()
	if err != nil {
		t.Fatalf("rclone cryptdecode --reverse %s: %v", plain, err)
	}
	_, enc, ok := strings.Cut(strings.TrimSpace(string(out)), "\t")
	if !ok {
		t.Fatalf("rclone cryptdecode: %q", out)
	}
	return strings.TrimSpace(enc)
}

// rcloneEdited are the books the second run of sentTwice sends.
var rcloneEdited = []string{"books/authora/bookd.epub", "books/authora/bookg.epub", "books/authorb/bookh.epub"}

// sentTwice copies the library, edits three books and copies again: the
// second run sends those three, and its artifact says so.
func sentTwice(t *testing.T, f *drivertest.RcloneFixture, tg *drivers.Target) drivers.Artifact {
	t.Helper()
	ctx, r := context.Background(), rclone.Driver{}
	if err := r.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	first, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if sent := rclone.SentPaths(t, tg, first); len(sent) != 12 {
		t.Fatalf("the first run sent %q, want all 12 books", sent)
	}
	// It sent every file, so a verify of any slice after it read all.
	if cov, err := r.VerifyScoped(ctx, f.X, tg, first, drivers.Scope{Slice: 2, Cycle: 30}); err != nil || !cov.Full {
		t.Fatalf("verify after the first run: %+v %v", cov, err)
	}
	for _, p := range rcloneEdited {
		rcloneEdit(t, filepath.Join(f.Src, p))
	}
	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if got := rclone.SentPaths(t, tg, a); !slices.Equal(got, rcloneEdited) {
		t.Fatalf("the second run sent %q, want %q", got, rcloneEdited)
	}
	return a
}

// withoutTheRecord is a as a backup that could start no record would
// have made it: the record of the destination's files removed, and what
// was sent named in Written. The verifies that follow list both sides
// (sizes, and the files on one side only) and see what changed on either
// side since. With the record (passes_integration_test.go) a verify reads
// it instead, which holds the destination as the sync left it.
func withoutTheRecord(t *testing.T, tg *drivers.Target, a drivers.Artifact) drivers.Artifact {
	t.Helper()
	a.Written = rclone.SentPaths(t, tg, a)
	if err := os.Remove(rclone.RecordPath(tg)); err != nil {
		t.Fatal(err)
	}
	return a
}

// rcloneDamage is a way to damage a file on disk with its modification
// time kept: what a sync does not notice.
type rcloneDamage struct {
	name   string
	damage func(t *testing.T, path string)
}

var (
	flipByte  = rcloneDamage{"a flipped byte", drivertest.RcloneFlipByte}
	zeroBlock = rcloneDamage{"a block of zeros", func(t *testing.T, p string) { rcloneRewrite(t, p, zeroed) }}
	truncated = rcloneDamage{"truncated", func(t *testing.T, p string) { rcloneRewrite(t, p, func(b []byte) []byte { return b[:len(b)/2] }) }}
	grown     = rcloneDamage{"grown", func(t *testing.T, p string) {
		rcloneRewrite(t, p, func(b []byte) []byte { return append(b, "trailing"...) })
	}}
	removed = rcloneDamage{"removed", func(t *testing.T, p string) { rcloneRemove(t, p) }}
)

func zeroed(b []byte) []byte {
	for i := len(b) / 3; i < len(b)/3+512 && i < len(b); i++ {
		b[i] = 0
	}
	return b
}

func rcloneRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// rcloneRewrite changes a file's bytes and puts its modification time back.
func rcloneRewrite(t *testing.T, path string, change func([]byte) []byte) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, change(b), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// rcloneCycle is the verify_cycle of these tests: slices 1..4.
const rcloneCycle = 4

func rcloneSlices() []drivers.Scope {
	var out []drivers.Scope
	for slice := 1; slice <= rcloneCycle; slice++ {
		out = append(out, drivers.Scope{Slice: slice, Cycle: rcloneCycle})
	}
	return out
}

// rcloneNames checks that err names exactly the files in want among all.
func rcloneNames(t *testing.T, what string, err error, all []string, want func(string) bool) {
	t.Helper()
	for _, p := range all {
		if named := err != nil && strings.Contains(err.Error(), p); named != want(p) {
			t.Errorf("%s: %s named: %v, want %v (%v)", what, p, named, want(p), err)
		}
	}
}

// Files this run did not send, damaged in the destination, are found
// within one cycle: each damage of the bytes only by the one slice that
// holds its file, and a slice that holds none of them passes, while the
// full scope fails; a damage that changes the size by every slice (every
// file's size is compared each time). Each kind of destination, each
// shape of damage, each on a file of its own (the sizes over sftp come
// from a listing, as on a local disk: that pair is left out there).
func TestRcloneScopedVerifyFindsDamageWithinOneCycle(t *testing.T) {
	victims := map[string]string{ // damage → a book the second run did not send
		flipByte.name: "books/authorc/bookc.epub", zeroBlock.name: "books/authorc/bookf.epub",
		truncated.name: "books/authorc/booki.epub", grown.name: "books/authorc/bookl.epub",
	}
	all := slices.Sorted(maps.Values(victims))
	for _, place := range rclonePlaces {
		t.Run(place.name, func(t *testing.T) {
			f := drivertest.NewRcloneFixture(t)
			tg, onDisk := place.setup(t, f)
			ctx, r := context.Background(), rclone.Driver{}
			a := sentTwice(t, f, tg)
			a = withoutTheRecord(t, tg, a)
			damaged := map[string]bool{}
			verifyAll := func(sized bool) {
				t.Helper()
				passed := 0
				for _, s := range rcloneSlices() {
					cov, err := r.VerifyScoped(ctx, f.X, tg, a, s)
					rcloneNames(t, s.String(), err, all, func(p string) bool {
						return damaged[p] && (s.InSlice(p) || p == victims[truncated.name] || p == victims[grown.name])
					})
					if err == nil {
						passed++
						if cov.Full || cov.Slice != s.Slice || cov.Cycle != s.Cycle || !strings.Contains(cov.Detail, "the 3 files this run sent") {
							t.Errorf("%s: coverage %+v", s, cov)
						}
					}
				}
				if sized && passed > 0 || !sized && passed == 0 {
					t.Errorf("%d of %d slices passed", passed, rcloneCycle)
				}
			}
			// Damage to the bytes alone: one slice each; with two files
			// in four slices, at least two slices hold neither.
			for _, d := range []rcloneDamage{flipByte, zeroBlock} {
				d.damage(t, onDisk(victims[d.name]))
				damaged[victims[d.name]] = true
			}
			err := r.Verify(ctx, f.X, tg, a)
			rcloneNames(t, "the full scope", err, all, func(p string) bool { return damaged[p] })
			verifyAll(false)
			if place.name == "sftp" {
				return // sizes come from a listing, as on a local disk; a crypt remote computes them
			}
			// Damage to the size too: every slice.
			for _, d := range []rcloneDamage{truncated, grown} {
				d.damage(t, onDisk(victims[d.name]))
				damaged[victims[d.name]] = true
			}
			verifyAll(true)
		})
	}
}

// What the run sent is hashed whatever the slice: damage to it fails a
// slice that does not hold it, and a verify of nothing else; a verify of
// that slice without the run's artifact does not read those files and
// passes (the artifact is what made it fail).
func TestRcloneScopedVerifyAlwaysChecksWhatTheRunSent(t *testing.T) {
	shapes := map[string]rcloneDamage{rcloneEdited[0]: flipByte, rcloneEdited[1]: zeroBlock, rcloneEdited[2]: removed}
	for _, place := range rclonePlaces {
		t.Run(place.name, func(t *testing.T) {
			f := drivertest.NewRcloneFixture(t)
			tg, onDisk := place.setup(t, f)
			ctx, r := context.Background(), rclone.Driver{}
			a := sentTwice(t, f, tg)
			for p, d := range shapes {
				d.damage(t, onDisk(p))
			}
			scopes := []drivers.Scope{{Cycle: rcloneCycle}} // slice 0: nothing else
			for _, s := range rcloneSlices() {
				if !slices.ContainsFunc(rcloneEdited, s.InSlice) {
					scopes = append(scopes, s)
				}
			}
			for _, s := range scopes {
				_, err := r.VerifyScoped(ctx, f.X, tg, a, s)
				rcloneNames(t, s.String(), err, rcloneEdited, func(string) bool { return true })
				if err == nil || !strings.Contains(err.Error(), "2 files differ from what was sent") || !strings.Contains(err.Error(), "1 file this run sent is missing") {
					t.Errorf("%s: %v", s, err)
				}
			}
			s := scopes[len(scopes)-1]
			if cov, err := r.VerifyScoped(ctx, f.X, tg, drivers.Artifact{}, s); err != nil || strings.Contains(cov.Detail, "this run sent") {
				t.Errorf("%s without the artifact: %+v %v", s, cov, err)
			}
		})
	}
}

// Changes the source makes after the copy are not damage, in any scope:
// files edited (a later modification time; one of the same size, one
// longer), new files (a restic repository that gained a snapshot),
// deleted files; to files the run sent and to files it did not. The
// detail counts them when the scope saw them. Damage next to them is
// still found, naming only the damaged file.
func TestRcloneScopedVerifyForgivesTheSourceChangingAfterTheCopy(t *testing.T) {
	const editedBefore = "books/authorc/bookc.epub" // sent by the first run only; same size
	for _, place := range rclonePlaces {
		t.Run(place.name, func(t *testing.T) {
			f := drivertest.NewRcloneFixture(t)
			tg, onDisk := place.setup(t, f)
			ctx, r := context.Background(), rclone.Driver{}
			a := sentTwice(t, f, tg)
			a = withoutTheRecord(t, tg, a)
			rcloneEdit(t, filepath.Join(f.Src, rcloneEdited[0]))
			rcloneEdit(t, filepath.Join(f.Src, editedBefore))
			longer := filepath.Join(f.Src, "books/authorc/bookf.epub")
			rcloneRewrite(t, longer, func(b []byte) []byte { return append(b, " and an epilogue"...) })
			rcloneEdit(t, longer)
			drivertest.WriteFile(t, f.Src, "snapshots/4f1c0e2a", "snapshot", 0o600)
			drivertest.WriteFile(t, f.Src, "data/9a/9a7b3c", "pack", 0o600)
			drivertest.WriteFile(t, f.Src, "index/5e6f", "index", 0o600)
			rcloneRemove(t, filepath.Join(f.Src, rcloneEdited[1]))
			rcloneRemove(t, filepath.Join(f.Src, "books/authorc/booki.epub"))

			for _, s := range append([]drivers.Scope{drivers.FullScope}, rcloneSlices()...) {
				cov, err := r.VerifyScoped(ctx, f.X, tg, a, s)
				if err != nil {
					t.Fatalf("%s: the source's own changes were taken for damage: %v", s, err)
				}
				// The sent file and the longer one show in every scope;
				// the one of the same size only where it is hashed.
				changed := 2
				if s.InSlice(editedBefore) {
					changed++
				}
				for _, want := range []string{fmt.Sprintf("%d files changed in the source since sent", changed),
					"3 files only in the source", "2 files only in the destination (deleted from the source since)"} {
					if !strings.Contains(cov.Detail, want) {
						t.Errorf("%s: detail %q lacks %q", s, cov.Detail, want)
					}
				}
			}
			victim := "books/authorb/bookb.epub"
			drivertest.RcloneFlipByte(t, onDisk(victim))
			err := r.Verify(ctx, f.X, tg, a)
			if err == nil || !strings.Contains(err.Error(), "1 file differs from what was sent ("+victim+")") {
				t.Fatalf("damage next to the source's changes: want %s named alone, got %v", victim, err)
			}
		})
	}
}

// A verify after a backup whose record of what it sent is gone, or cut
// short, cannot tell what was sent from the rest: it hashes every file,
// says why, and so finds damage any slice would have skipped.
func TestRcloneVerifyHashesEverythingWithoutTheRunsRecord(t *testing.T) {
	for _, lose := range []string{"removed", "cut short"} {
		t.Run(lose, func(t *testing.T) {
			f := drivertest.NewRcloneFixture(t)
			tg, onDisk := rclonePlaces[0].setup(t, f)
			ctx, r := context.Background(), rclone.Driver{}
			a := sentTwice(t, f, tg)
			victim := "books/authorc/bookc.epub"
			var s drivers.Scope
			for _, c := range rcloneSlices() {
				if !c.InSlice(victim) {
					s = c
				}
			}
			if cov, err := r.VerifyScoped(ctx, f.X, tg, a, s); err != nil || cov.Full {
				t.Fatalf("with the record: %+v %v", cov, err)
			}
			drivertest.RcloneFlipByte(t, onDisk(victim))
			if _, err := r.VerifyScoped(ctx, f.X, tg, a, s); err != nil {
				t.Fatalf("%s does not hold %s, yet: %v", s, victim, err)
			}
			p := rclone.RecordPath(tg)
			if lose == "removed" {
				os.Remove(p)
			} else {
				b, _ := os.ReadFile(p)
				os.WriteFile(p, b[:len(b)-3], 0o600)
			}
			_, err := r.VerifyScoped(ctx, f.X, tg, a, s)
			rcloneNames(t, s.String(), err, []string{victim}, func(string) bool { return true })
			drivertest.RcloneFlipByte(t, onDisk(victim)) // back as it was
			cov, err := r.VerifyScoped(ctx, f.X, tg, a, s)
			if err != nil || !cov.Full || !strings.Contains(cov.Detail, "all 12 files by hash (this run's record of what it sent could not be read") {
				t.Errorf("without the record: %+v %v", cov, err)
			}
		})
	}
}
