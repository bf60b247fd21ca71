package restic_test

import (
	"context"
	"io"
	"math/rand"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/rclonetest"
)

// testCycle is small so that a test runs every slice of a cycle.
const testCycle = 4

// packedRepo makes a repository of many small packs: the library, then a
// new book a night for 11 nights (each backup adds a pack of data and one
// of trees), and returns the last backup, whose two packs are few against
// the rest, as a nightly run's are.
func packedRepo(t *testing.T, f *drivertest.ResticFixture, tg *drivers.Target, x proc.Executor) drivers.Artifact {
	t.Helper()
	ctx := context.Background()
	if err := (restic.Driver{}).Init(ctx, x, tg); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(2))
	var a drivers.Artifact
	for night := 0; night < 12; night++ {
		if night > 0 {
			b := make([]byte, 50000)
			rng.Read(b)
			drivertest.WriteFile(t, f.Src, filepath.Join("books", "new", "night"+strconv.Itoa(night)+".epub"), string(b), 0o644)
		}
		var err error
		if a, err = (restic.Driver{}).Backup(ctx, x, tg); err != nil {
			t.Fatal(err)
		}
	}
	if len(a.Written) != 2 {
		t.Fatalf("the last backup added %d packs, want a data pack and a tree pack: %q", len(a.Written), a.Written)
	}
	return a
}

// packFile is a pack of a local repository.
type packFile struct {
	path string // absolute
	size int64
}

// repoPacks lists a local repository's packs, those in written apart.
func repoPacks(t *testing.T, repo string, written []string) (added, older []packFile) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(repo, "data", "*", "*"))
	for _, p := range files {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repo, p)
		if slices.Contains(written, filepath.ToSlash(rel)) {
			added = append(added, packFile{p, fi.Size()})
		} else {
			older = append(older, packFile{p, fi.Size()})
		}
	}
	sort.Slice(added, func(i, j int) bool { return added[i].size > added[j].size })
	sort.Slice(older, func(i, j int) bool { return older[i].size > older[j].size })
	if len(added) != len(written) || len(older) < 10 {
		t.Fatalf("packs: %d added (of %d written), %d older", len(added), len(written), len(older))
	}
	return added, older
}

// Which pack of a list: a pack of data (a book, 50 kB and more) or of
// trees (a few kB); the middle one of its kind, so not always the first
// backup's.
type packKind struct {
	name string
	of   func(size int64) bool
}

var packKinds = []packKind{
	{"data pack", func(size int64) bool { return size > 40000 }},
	{"tree pack", func(size int64) bool { return size < 10000 }},
}

func (k packKind) pick(t *testing.T, packs []packFile) packFile {
	t.Helper()
	var of []packFile
	for _, p := range packs {
		if k.of(p.size) {
			of = append(of, p)
		}
	}
	if len(of) == 0 {
		t.Fatalf("no %s among %+v", k.name, packs)
	}
	return of[len(of)/2]
}

// A damage shape, and what else than reading the pack sees it: the
// structure check compares every pack's size with the index (so it sees
// a size change), and reads the blobs of every tree pack (so it sees a
// change in their blobs, but not in their header).
type damage struct {
	name     string
	sameSize bool
	inBlobs  bool
	apply    func(t *testing.T, path string)
}

// onlyReadFinds: a check that does not read this pack passes it.
func (d damage) onlyReadFinds(k packKind) bool {
	return d.sameSize && (k.name == "data pack" || !d.inBlobs)
}

func rewrite(t *testing.T, p string, change func(b []byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o600)
	if err := os.WriteFile(p, change(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

func flipAt(where func(n int) int) func(t *testing.T, p string) {
	return func(t *testing.T, p string) {
		rewrite(t, p, func(b []byte) []byte { b[where(len(b))] ^= 0x01; return b })
	}
}

// damages are the shapes of a changed byte: anywhere in a pack (its first
// bytes, its blobs, the encrypted header at its end, the header's length
// in its last byte), a run of them, and a pack cut short or grown.
var damages = []damage{
	{"first byte flipped", true, true, flipAt(func(int) int { return 0 })},
	{"middle byte flipped", true, true, flipAt(func(n int) int { return n / 2 })},
	{"header byte flipped", true, false, flipAt(func(n int) int { return n - 20 })},
	{"last byte flipped", true, false, flipAt(func(n int) int { return n - 1 })},
	{"4 KiB zeroed", true, true, func(t *testing.T, p string) {
		rewrite(t, p, func(b []byte) []byte {
			clear(b[len(b)/4 : len(b)/4+min(4096, len(b)/2)])
			return b
		})
	}},
	{"cut by a byte", false, true, func(t *testing.T, p string) { rewrite(t, p, func(b []byte) []byte { return b[:len(b)-1] }) }},
	{"a byte appended", false, false, func(t *testing.T, p string) { rewrite(t, p, func(b []byte) []byte { return append(b, 0) }) }},
}

// copyRepo copies a repository, so each damage starts from the same one.
func copyRepo(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "repo")
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(filepath.Join(to, rel), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o400)
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// A changed byte in a pack this run did not write is found within one
// cycle: of slices 1..4 at least one fails, and the full scope fails; when
// nothing but reading the pack can find the damage, exactly one slice
// fails, and the others pass, as a verify that did not read it must. A
// tree pack's blobs are read by every check: there, only its header.
// A pack removed or emptied fails even a verify that reads no data (not
// run for every slice: restic retries reading such a pack for 45 s).
func TestResticRotationFindsDamageWithinACycle(t *testing.T) {
	f := drivertest.NewResticFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	a := packedRepo(t, f, f.Target("library", nil), f.X)
	// damaged copies the repository and damages the middle pack of a kind
	// that this run did not write.
	damaged := func(t *testing.T, kind packKind, apply func(*testing.T, string)) *drivers.Target {
		tg := f.Target("library", drivers.Values{"repository": copyRepo(t, f.Repo)})
		_, older := repoPacks(t, tg.Settings.Str("repository"), a.Written)
		apply(t, kind.pick(t, older).path)
		return tg
	}
	for _, kind := range packKinds {
		for _, d := range damages {
			if kind.name == "tree pack" && d.name != "header byte flipped" {
				continue
			}
			t.Run(kind.name+", "+d.name, func(t *testing.T) {
				tg := damaged(t, kind, d.apply)
				var failed []int
				for s := 1; s <= testCycle; s++ {
					cov, err := r.VerifyScoped(ctx, f.X, tg, a, drivers.Scope{Slice: s, Cycle: testCycle})
					if err != nil {
						failed = append(failed, s)
						continue
					}
					if cov.Full || cov.Slice != s || cov.Cycle != testCycle || !strings.Contains(cov.Detail, "the 2 packs (") {
						t.Errorf("slice %d: coverage %+v", s, cov)
					}
				}
				t.Logf("slices %v of %d failed", failed, testCycle)
				if len(failed) == 0 {
					t.Fatal("no slice of the cycle found the damage")
				}
				if d.onlyReadFinds(kind) && len(failed) != 1 {
					t.Errorf("slices %v failed: only the slice holding the pack reads it", failed)
				}
				if err := r.Verify(ctx, f.X, tg, a); err == nil {
					t.Fatal("the full verify passed a damaged pack")
				}
			})
		}
	}
	for name, apply := range map[string]func(string) error{
		"removed": os.Remove,
		"emptied": func(p string) error { os.Chmod(p, 0o600); return os.Truncate(p, 0) },
	} {
		t.Run("data pack "+name, func(t *testing.T) {
			tg := damaged(t, packKinds[0], func(t *testing.T, p string) {
				if err := apply(p); err != nil {
					t.Fatal(err)
				}
			})
			if _, err := r.VerifyScoped(ctx, f.X, tg, a, drivers.Scope{Cycle: testCycle}); err == nil {
				t.Fatal("a verify passed a repository missing a pack")
			}
		})
	}
}

// What the run wrote is read whatever the slice: damage a pack the last
// backup added, find a slice whose check alone passes (it does not hold
// the pack), and given the backup it fails, naming the pack; so does the
// scope that reads nothing else. Both a local repository (read from disk)
// and a REST one (through restic cat pack, where a tree pack's copy in
// restic's cache must not stand in for the repository's).
func TestResticVerifyReadsWhatTheRunWrote(t *testing.T) {
	for _, repoKind := range []string{"local", "REST"} {
		t.Run(repoKind, func(t *testing.T) {
			f := drivertest.NewResticFixture(t)
			ctx := context.Background()
			r := restic.Driver{}
			repo := filepath.Join(t.TempDir(), "repo")
			tg := f.Target("library", drivers.Values{"repository": repo})
			if repoKind == "REST" {
				drivertest.RequireTool(t, "rclone")
				srv := rclonetest.ServeRestic(t, repo)
				tg = f.Target("library", drivers.Values{"repository": srv.ResticURL()})
			}
			a := packedRepo(t, f, tg, f.X)
			pristine := copyRepo(t, repo)
			for _, kind := range packKinds {
				for _, d := range damages {
					if !d.onlyReadFinds(kind) || d.name == "first byte flipped" || repoKind == "REST" && d.name != "middle byte flipped" && d.name != "last byte flipped" {
						continue // what the structure check finds anyway; over REST, one shape a kind
					}
					t.Run(kind.name+", "+d.name, func(t *testing.T) {
						restoreRepo(t, pristine, repo)
						added, _ := repoPacks(t, repo, a.Written)
						victim := kind.pick(t, added)
						d.apply(t, victim.path)
						want := "pack " + path.Base(victim.path) + " this backup added is damaged"

						_, err := r.VerifyScoped(ctx, f.X, tg, a, drivers.Scope{Cycle: testCycle})
						if err == nil || !strings.Contains(err.Error(), want) {
							t.Errorf("reading nothing else: %v", err)
						}
						for s := 1; s <= testCycle; s++ {
							scope := drivers.Scope{Slice: s, Cycle: testCycle}
							if _, err := r.VerifyScoped(ctx, f.X, tg, drivers.Artifact{}, scope); err != nil {
								continue // this slice's check reads the pack itself
							}
							_, err := r.VerifyScoped(ctx, f.X, tg, a, scope)
							if err == nil || !strings.Contains(err.Error(), want) {
								t.Errorf("slice %d of %d, which does not hold the damaged pack: %v", s, testCycle, err)
							}
							return
						}
						t.Fatal("every slice read the damaged pack itself: nothing shown")
					})
				}
			}
		})
	}
}

// restoreRepo puts the pristine copy back where the repository is (a REST
// server keeps serving the same directory).
func restoreRepo(t *testing.T, pristine, repo string) {
	t.Helper()
	if err := os.RemoveAll(repo); err != nil {
		t.Fatal(err)
	}
	copied := copyRepo(t, pristine)
	if err := os.Rename(copied, repo); err != nil {
		t.Fatal(err)
	}
}

// At 100,000 files a verify runs what it runs at ten: restic reads back
// packs, not files, so no command depends on the file count, and no file
// list goes anywhere. 1,000 changed books make a couple of packs against
// the hundred megabytes of the first backup: read from disk (local) with
// no process at all, then one check.
func TestResticVerifyAt100000Files(t *testing.T) {
	f := drivertest.NewResticFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	tg := f.Target("library", nil)
	rng := rand.New(rand.NewSource(3))
	page := make([]byte, 1024) // random: every book its own blob, none compressible
	write := func(every int) {
		for i := 0; i < 100000; i += every {
			dir := filepath.Join(f.Src, "shelf"+strconv.Itoa(i%500))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			rng.Read(page)
			if err := os.WriteFile(filepath.Join(dir, "book"+strconv.Itoa(i)), page, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(1)
	if err := r.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backup(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	write(100)
	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	x := &commandLog{}
	cov, err := r.VerifyScoped(ctx, x, tg, a, drivers.Scope{Slice: 7, Cycle: 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ran %q; %s", x.ran, cov.Detail)
	if len(a.Written) == 0 || len(a.Written) > 4 || !slices.Equal(x.ran, []string{"check --read-data-subset=7/30"}) {
		t.Fatalf("the backup added %d packs; verify ran %q", len(a.Written), x.ran)
	}
}
