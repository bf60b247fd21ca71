package rsync_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rsync"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// The verification by change plus rotation against the real rsync: what
// a run sent is always read, the rest one slice a run, and the listing of
// names (missing and extra files) every run. Cycles are short (4) so a
// test can run all of one.

const testCycle = 4

// slicesHolding is the set of slices of cycle holding any of names.
func slicesHolding(cycle int, names ...string) map[int]bool {
	out := map[int]bool{}
	for s := 1; s <= cycle; s++ {
		for _, n := range names {
			if (drivers.Scope{Slice: s, Cycle: cycle}).InSlice(n) {
				out[s] = true
			}
		}
	}
	return out
}

// sliceHoldingNone is a slice of cycle holding none of names.
func sliceHoldingNone(t *testing.T, cycle int, names ...string) int {
	t.Helper()
	held := slicesHolding(cycle, names...)
	for s := 1; s <= cycle; s++ {
		if !held[s] {
			return s
		}
	}
	t.Fatalf("every slice of %d holds one of %q", cycle, names)
	return 0
}

// afterBackup returns a verifier of the backup a in a scope as the run
// after that backup would verify it: each verification reads and removes
// the record of the files sent that Backup left, so it puts the record
// back first.
func afterBackup(t testing.TB, x proc.Executor, tg *drivers.Target, a drivers.Artifact) func(s drivers.Scope) (drivers.Coverage, error) {
	t.Helper()
	p := rsync.RecordPath(tg)
	record, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("Backup left no record of the files it sent: %v", err)
	}
	return func(s drivers.Scope) (drivers.Coverage, error) {
		t.Helper()
		cov, err := rsync.Driver{}.VerifyScoped(context.Background(), x, tg, a, s)
		if after, rerr := os.ReadFile(p); rerr != nil || string(after) != string(record) {
			t.Errorf("the verification did not leave the record as it was, for the next run's guard (%v)", rerr)
		}
		if left, _ := filepath.Glob(filepath.Join(tg.TempDir, "rsync-verify-*")); len(left) != 0 {
			t.Errorf("the verification left %q behind", left)
		}
		return cov, err
	}
}

// keepTimes runs change on path and sets its modification time back, so
// only what rsync reads (size, contents) can tell.
func keepTimes(t *testing.T, path string, change func() error) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := change(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// A changed byte in a file the run did not send is found by the one slice
// of the cycle that holds it, and by no other; the full scope finds it too.
// The victims are files of every shape the fixture has: a plain book, a
// small 0600 file, names with a newline and with non-ASCII letters, and a
// hard-linked book (one inode, two names, so the slices of both find it).
func TestRsyncScopedFindsDamageWithinOneCycle(t *testing.T) {
	f := drivertest.NewRsyncFixture(t)
	tg := rsyncMirrored(t, f, false)
	ctx := context.Background()
	r := rsync.Driver{}
	// A second run sends one new book: the damage is in files it did not.
	drivertest.WriteFile(t, f.Src, "books/new.epub", "a new book", 0o644)
	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rsync.SentPaths(t, a), []string{"books/new.epub"}) {
		t.Fatalf("the second run sent %q, want just the new book", rsync.SentPaths(t, a))
	}
	verify := afterBackup(t, f.X, tg, a)
	for _, victim := range [][]string{
		{"books/authorc/bookc.epub"},
		{"covers/cover.jpg"},
		{"odd/line\nbreak.epub"},
		{"odd/Ünïcødé livre.epub"},
		{"books/authora/booka.epub", "books/same-book.epub"},
	} {
		t.Run(victim[0], func(t *testing.T) {
			path := filepath.Join(f.Dst, victim[0])
			corrupt(t, path)
			defer corrupt(t, path) // flips the byte back
			holding := slicesHolding(testCycle, victim...)
			if len(holding) == testCycle {
				t.Fatalf("every slice holds %q: no slice to show passing", victim)
			}
			for s := 1; s <= testCycle; s++ {
				scope := drivers.Scope{Slice: s, Cycle: testCycle}
				cov, err := verify(scope)
				if cov.Full || cov.Slice != s || cov.Cycle != testCycle {
					t.Errorf("slice %d: coverage %+v", s, cov)
				}
				switch {
				case holding[s] && err == nil:
					t.Errorf("slice %d holds %q but passed: %s", s, victim, cov.Detail)
				case holding[s] && !mentionsAny(err.Error(), victim):
					t.Errorf("slice %d: the error does not name %q: %v", s, victim, err)
				case !holding[s] && err != nil:
					t.Errorf("slice %d does not hold %q but failed: %v", s, victim, err)
				}
			}
			cov, err := verify(drivers.FullScope)
			if err == nil || !mentionsAny(err.Error(), victim) || !cov.Full {
				t.Fatalf("the full scope must find %q: %v (%+v)", victim, err, cov)
			}
			// verify --full, with no backup of its own to check.
			if err := r.Verify(ctx, f.X, tg, drivers.Artifact{}); err == nil || !mentionsAny(err.Error(), victim) {
				t.Fatalf("Verify (everything) must find %q: %v", victim, err)
			}
		})
	}
	// Undamaged again: every slice passes.
	for s := 0; s <= testCycle; s++ {
		if _, err := verify(drivers.Scope{Slice: s, Cycle: testCycle}); err != nil {
			t.Fatalf("slice %d of an undamaged mirror: %v", s, err)
		}
	}
}

// mentionsAny says whether msg names one of the paths as rsync prints
// them: a backslash before "#" as \#134, a newline as \#012.
func mentionsAny(msg string, paths []string) bool {
	for _, p := range paths {
		p = strings.ReplaceAll(strings.ReplaceAll(p, `\#`, `\#134#`), "\n", `\#012`)
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// What a run sent is read whatever the slice, even none, and compared
// with what was sent, not with the source: each shape of damage to a file
// just sent is found in every scope, a source that changed again (or went)
// after the transfer is none, and a damaged copy of a file whose source
// changed since is still found.
func TestRsyncScopedChecksWhatTheRunSent(t *testing.T) {
	f := drivertest.NewRsyncFixture(t)
	tg := rsyncMirrored(t, f, false)
	ctx := context.Background()
	r := rsync.Driver{}
	type shape struct {
		path   string
		damage func(t *testing.T, src, dst string)
		found  bool
	}
	newEdition := func(t *testing.T, p string) {
		drivertest.WriteFile(t, filepath.Dir(p), filepath.Base(p), fmt.Sprintf("a later edition, %v", time.Now()), 0o644)
	}
	shapes := map[string]shape{
		"a byte flipped": {"books/authora/bookd.epub", func(t *testing.T, src, dst string) { corrupt(t, dst) }, true},
		"truncated": {"books/authorb/booke.epub", func(t *testing.T, src, dst string) {
			keepTimes(t, dst, func() error { return os.Truncate(dst, 10) })
		}, true},
		"removed from the mirror": {"books/authorc/bookf.epub", func(t *testing.T, src, dst string) {
			if err := os.Remove(dst); err != nil {
				t.Fatal(err)
			}
		}, true},
		"a byte flipped, and the source changed since": {"books/authora/bookg.epub", func(t *testing.T, src, dst string) {
			corrupt(t, dst)
			newEdition(t, src)
		}, true},
		"the source changed since": {"books/authorb/bookh.epub", func(t *testing.T, src, dst string) { newEdition(t, src) }, false},
		"the source removed since": {"books/authorc/booki.epub", func(t *testing.T, src, dst string) {
			if err := os.Remove(src); err != nil {
				t.Fatal(err)
			}
		}, false},
		"a name with a newline, a byte flipped": {"odd/line\nbreak.epub", func(t *testing.T, src, dst string) { corrupt(t, dst) }, true},
	}
	var sent []string
	for _, s := range shapes {
		newEdition(t, filepath.Join(f.Src, s.path))
		sent = append(sent, s.path)
	}
	sort.Strings(sent)
	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(slices.Values(rsync.SentPaths(t, a))); !slices.Equal(got, sent) {
		t.Fatalf("the run sent %q, want exactly %q", got, sent)
	}
	verify := afterBackup(t, f.X, tg, a)
	var found, clean []string
	for name, s := range shapes {
		s.damage(t, filepath.Join(f.Src, s.path), filepath.Join(f.Dst, s.path))
		if s.found {
			found = append(found, name)
		} else {
			clean = append(clean, name)
		}
	}
	scopes := []drivers.Scope{{Slice: 0, Cycle: testCycle}, drivers.FullScope}
	for s := 1; s <= testCycle; s++ {
		scopes = append(scopes, drivers.Scope{Slice: s, Cycle: testCycle})
	}
	for _, scope := range scopes {
		cov, err := verify(scope)
		if err == nil {
			t.Fatalf("%v passed damage to files this run sent: %s", scope, cov.Detail)
		}
		if want := fmt.Sprintf("(%d differences)", len(found)); !strings.Contains(err.Error(), want) {
			t.Errorf("%v: want %s, got %v", scope, want, err)
		}
		for name, s := range shapes {
			if mentionsAny(err.Error(), []string{s.path}) != s.found {
				t.Errorf("%v, %s (%s): found %v, want %v: %v", scope, name, s.path, !s.found, s.found, err)
			}
		}
		if !strings.Contains(cov.Detail, "the 7 files this run sent") {
			t.Errorf("%v: detail %q", scope, cov.Detail)
		}
	}
	t.Logf("found %q, rightly passed %q", found, clean)
}

// A source that changes after the backup began is no damage, in any slice,
// and the next run sends what changed. The same changes made to the mirror
// instead are found by a verify on its own in every slice (its listing:
// missing and extra files, sizes and modes need no file read), and the
// next run's backup sends the mirror what it lost.
func TestRsyncScopedSourceChangesAreNoDamage(t *testing.T) {
	f := drivertest.NewRsyncFixture(t)
	tg := rsyncMirrored(t, f, false)
	ctx := context.Background()
	r := rsync.Driver{}
	a, err := r.Backup(ctx, f.X, tg) // sends nothing
	if err != nil || len(rsync.SentPaths(t, a)) != 0 {
		t.Fatalf("a run with nothing to send sent %q (%v)", rsync.SentPaths(t, a), err)
	}
	everyScope := func(verify func(drivers.Scope) (drivers.Coverage, error), check func(drivers.Scope, drivers.Coverage, error)) {
		t.Helper()
		for s := 0; s <= testCycle; s++ {
			scope := drivers.Scope{Slice: s, Cycle: testCycle}
			cov, err := verify(scope)
			check(scope, cov, err)
		}
		cov, err := verify(drivers.FullScope)
		check(drivers.FullScope, cov, err)
	}

	// The library changes after the backup.
	src := func(p string) string { return filepath.Join(f.Src, p) }
	drivertest.WriteFile(t, f.Src, "books/authorb/bookh.epub", "a new edition, another size", 0o644)
	drivertest.WriteFile(t, f.Src, "books/authorc/brand-new.epub", "a new book", 0o644)
	must(t, os.Remove(src("books/authorc/booki.epub")))
	must(t, os.Chmod(src("books/authora/bookj.epub"), 0o600))
	must(t, os.Rename(src("covers/cover.jpg"), src("covers/cover-renamed.jpg")))
	everyScope(afterBackup(t, f.X, tg, a), func(s drivers.Scope, cov drivers.Coverage, err error) {
		if err != nil {
			t.Errorf("%v: the source's own changes since the backup are no damage: %v", s, err)
		}
	})
	// The next run sends them, and nothing is left over.
	a, err = r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"books/authorb/bookh.epub", "books/authorc/brand-new.epub", "covers/cover-renamed.jpg"}; !slices.Equal(slices.Sorted(slices.Values(rsync.SentPaths(t, a))), want) {
		t.Fatalf("the next run sent %q, want %q", rsync.SentPaths(t, a), want)
	}
	verify := afterBackup(t, f.X, tg, a)
	everyScope(verify, func(s drivers.Scope, cov drivers.Coverage, err error) {
		if err != nil || strings.Contains(cov.Detail, "left to the next run") {
			t.Errorf("%v after the next run: %v (%s)", s, err, cov.Detail)
		}
	})

	// The same kinds of change, made to the mirror.
	dst := func(p string) string { return filepath.Join(f.Dst, p) }
	must(t, os.Remove(dst("books/authorc/bookc.epub")))
	drivertest.WriteFile(t, f.Dst, "covers/stray.jpg", "not in the library", 0o644)
	keepTimes(t, dst("odd/Ünïcødé livre.epub"), func() error {
		return os.WriteFile(dst("odd/Ünïcødé livre.epub"), []byte("not ASCII, and longer now"), 0o644)
	})
	must(t, os.Chmod(dst("books/authorb/bookb.epub"), 0o600))
	damaged := []string{"books/authorc/bookc.epub", "covers/stray.jpg", "livre.epub", "books/authorb/bookb.epub"}
	verifyAlone := func(s drivers.Scope) (drivers.Coverage, error) {
		return r.VerifyScoped(ctx, f.X, tg, drivers.Artifact{}, s)
	}
	everyScope(verifyAlone, func(s drivers.Scope, cov drivers.Coverage, err error) {
		if err == nil {
			t.Errorf("%v passed a mirror with missing, extra and changed files: %s", s, cov.Detail)
			return
		}
		for _, d := range damaged {
			if !strings.Contains(err.Error(), d) {
				t.Errorf("%v: %s not named: %v", s, d, err)
			}
		}
		if !strings.Contains(err.Error(), "(4 differences)") {
			t.Errorf("%v: want 4 differences: %v", s, err)
		}
	})
	a, err = r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"books/authorc/bookc.epub", "odd/Ünïcødé livre.epub"}; !slices.Equal(slices.Sorted(slices.Values(rsync.SentPaths(t, a))), want) {
		t.Fatalf("the next run sent %q, want what the mirror lost, %q", rsync.SentPaths(t, a), want)
	}
	if _, err := afterBackup(t, f.X, tg, a)(drivers.FullScope); err != nil {
		t.Fatalf("after the next run: %v", err)
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// Over ssh, with names rsync escapes: a damaged file the run sent is found
// in a slice that does not hold it, a damaged file it did not send only in
// the slice that holds it, a source changed since the transfer is no
// damage, and the full scope finds both. (Few scopes: each verification
// opens three ssh connections.)
func TestRsyncScopedOverSSH(t *testing.T) {
	f := drivertest.NewRsyncFixture(t)
	tg := rsyncMirrored(t, f, true)
	ctx := context.Background()
	r := rsync.Driver{}
	sentPath, changedPath, restPath := `odd/back\#012slash.epub`, "books/authora/bookd.epub", "odd/line\nbreak.epub"
	drivertest.WriteFile(t, f.Src, sentPath, "a backslash and a hash, second edition", 0o644)
	drivertest.WriteFile(t, f.Src, changedPath, "second edition", 0o644)
	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(slices.Values(rsync.SentPaths(t, a))); !slices.Equal(got, []string{changedPath, sentPath}) {
		t.Fatalf("sent %q", got)
	}
	verify := afterBackup(t, f.X, tg, a)
	if _, err := verify(drivers.Scope{Slice: 0, Cycle: testCycle}); err != nil {
		t.Fatalf("verify of a fresh mirror over ssh: %v", err)
	}
	corrupt(t, filepath.Join(f.Dst, sentPath))
	drivertest.WriteFile(t, f.Src, changedPath, "third edition, after the transfer", 0o644)
	corrupt(t, filepath.Join(f.Dst, restPath))
	restSlice := 0
	for s := 1; s <= testCycle; s++ {
		if (drivers.Scope{Slice: s, Cycle: testCycle}).InSlice(restPath) {
			restSlice = s
		}
	}
	for _, c := range []struct {
		scope drivers.Scope
		found []string
	}{
		{drivers.Scope{Slice: sliceHoldingNone(t, testCycle, sentPath, restPath), Cycle: testCycle}, []string{sentPath}},
		{drivers.Scope{Slice: restSlice, Cycle: testCycle}, []string{sentPath, restPath}},
		{drivers.FullScope, []string{sentPath, restPath}},
	} {
		cov, err := verify(c.scope)
		if err == nil {
			t.Fatalf("%v over ssh passed: %s", c.scope, cov.Detail)
		}
		if want := fmt.Sprintf("(%d difference", len(c.found)); !strings.Contains(err.Error(), want) {
			t.Errorf("%v: want %s: %v", c.scope, want, err)
		}
		for _, p := range c.found {
			if !mentionsAny(err.Error(), []string{p}) {
				t.Errorf("%v: %q not named: %v", c.scope, p, err)
			}
		}
		if strings.Contains(err.Error(), changedPath) {
			t.Errorf("%v: a source changed after the transfer is no damage: %v", c.scope, err)
		}
		if c.scope.Slice != 0 && mentionsAny(err.Error(), []string{restPath}) != (c.scope.Slice == restSlice) {
			t.Errorf("%v: the file not sent is found only in its slice %d: %v", c.scope, restSlice, err)
		}
		t.Logf("%v: %s: %v", c.scope, cov.Detail, err)
	}
}

// A verification after a backup is two rsync processes whatever the
// number of files and the scope (the files come from the backup's record,
// not from a listing), no file name is in any argv (the lists go through
// --files-from), and the detail counts what was read: every file the run
// sent, and a slice of about 1/cycle of the others. BenchmarkRsyncVerify
// runs the same at 100,000 files.
func TestRsyncScopedScale(t *testing.T) {
	drivertest.RequireTool(t, "rsync")
	verify, x := scaleMirror(t, 10_000)
	for _, scope := range []drivers.Scope{{Slice: 7, Cycle: scaleCycle}, drivers.FullScope} {
		checkScaleRun(t, x, verify, scope, 10_000)
	}
}

// BenchmarkRsyncVerify verifies the slices of a cycle of a 100,000-file
// mirror in turn, checking each as TestRsyncScopedScale does.
func BenchmarkRsyncVerify(b *testing.B) {
	if _, err := exec.LookPath("rsync"); err != nil {
		b.Skip("rsync is not installed")
	}
	const files = 100_000
	verify, x := scaleMirror(b, files)
	s := 0
	for b.Loop() {
		s = s%scaleCycle + 1
		checkScaleRun(b, x, verify, drivers.Scope{Slice: s, Cycle: scaleCycle}, files)
	}
}

const scaleCycle = 30

// scaleMirror mirrors a library of files small books, then has a second
// run send 1 in 100 of them again, and returns the verifier of that run.
func scaleMirror(tb testing.TB, files int) (func(drivers.Scope) (drivers.Coverage, error), *drivertest.CountingExecutor) {
	dir := tb.TempDir()
	src, dst := filepath.Join(dir, "library"), filepath.Join(dir, "mirror")
	name := func(i int) string { return fmt.Sprintf("books/shelf%03d/book%06d.epub", i%500, i) }
	for i := 0; i < files; i++ {
		p := filepath.Join(src, name(i))
		if i < 500 {
			must(tb, os.MkdirAll(filepath.Dir(p), 0o755))
		}
		must(tb, os.WriteFile(p, []byte(name(i)), 0o644))
	}
	x := &drivertest.CountingExecutor{}
	tg := &drivers.Target{Name: "mirror", Driver: "rsync", Impl: rsync.Driver{}, Verify: true, TempDir: filepath.Join(dir, "tmp"),
		Settings: drivers.Values{"source": src + "/", "destination": dst, "delete": true}}
	r := rsync.Driver{}
	ctx := context.Background()
	must(tb, r.Init(ctx, x, tg))
	a, err := r.Backup(ctx, x, tg)
	if err != nil || len(rsync.SentPaths(tb, a)) != files {
		tb.Fatalf("the first run sent %d files, want %d (%v)", len(rsync.SentPaths(tb, a)), files, err)
	}
	for i := 0; i < files; i += 100 {
		must(tb, os.WriteFile(filepath.Join(src, name(i)), []byte("second edition of "+name(i)), 0o644))
	}
	if a, err = r.Backup(ctx, x, tg); err != nil || len(rsync.SentPaths(tb, a)) != files/100 {
		tb.Fatalf("the second run sent %d files, want %d (%v)", len(rsync.SentPaths(tb, a)), files/100, err)
	}
	return afterBackup(tb, x, tg, a), x
}

// checkScaleRun verifies in scope and checks the commands and the detail.
func checkScaleRun(tb testing.TB, x *drivertest.CountingExecutor, verify func(drivers.Scope) (drivers.Coverage, error), scope drivers.Scope, files int) {
	tb.Helper()
	x.Runs = nil
	cov, err := verify(scope)
	if err != nil {
		tb.Fatal(err)
	}
	if len(x.Runs) != 2 {
		tb.Errorf("%v ran %d commands, want 2: %q", scope, len(x.Runs), x.Runs)
	}
	for _, run := range x.Runs {
		if strings.Contains(run, ".epub") || len(run) > 4096 {
			tb.Errorf("a file name in argv: %.300s", run)
		}
	}
	sent, others := files/100, files-files/100
	want := fmt.Sprintf("the %s files this run sent and all %s others", humanComma(sent), humanComma(others))
	if !scope.Full {
		// An even partition: the slice is within 20% of its share. The
		// detail reads "... sent and 3,310 of the 99,000 others".
		_, after, _ := strings.Cut(cov.Detail, " sent and ")
		n := atoiComma(tb, strings.Fields(after + " x")[0])
		if share := others / scope.Cycle; n < share*8/10 || n > share*12/10 {
			tb.Errorf("the slice read %d of %d others, want about %d", n, others, share)
		}
		want = fmt.Sprintf("the %s files this run sent and %s of the %s others (slice %d/%d)",
			humanComma(sent), humanComma(n), humanComma(others), scope.Slice, scope.Cycle)
	}
	if !strings.Contains(cov.Detail, want) || !strings.Contains(cov.Detail, "all "+humanComma(files)+" files") {
		tb.Errorf("%v: detail %q, want %q", scope, cov.Detail, want)
	}
}

func humanComma(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func atoiComma(tb testing.TB, s string) int {
	tb.Helper()
	var n int
	if _, err := fmt.Sscanf(strings.ReplaceAll(s, ",", ""), "%d", &n); err != nil {
		tb.Fatalf("no number in %q", s)
	}
	return n
}

// A run that sent every file (a first backup) read them all: its verify
// covers everything, whatever the slice; the next run, which sent one
// file, covers only its slice of the rest.
func TestRsyncScopedFirstBackupReadsEverything(t *testing.T) {
	drivertest.RequireTool(t, "rsync")
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "library"), filepath.Join(dir, "mirror")
	for _, name := range []string{"a.epub", "b.epub", "shelf/c.pdf"} {
		drivertest.WriteFile(t, src, name, "book "+name, 0o644)
	}
	os.MkdirAll(dst, 0o700)
	tg := &drivers.Target{Name: "mirror", Driver: "rsync", Impl: rsync.Driver{}, Verify: true, TempDir: dir,
		Settings: drivers.Values{"source": src + "/", "destination": dst}}
	ctx, r, x := context.Background(), rsync.Driver{}, proc.ProcessExecutor{}
	scope := drivers.Scope{Slice: 2, Cycle: 30}
	a, err := r.Backup(ctx, x, tg)
	if err != nil {
		t.Fatal(err)
	}
	if cov, err := r.VerifyScoped(ctx, x, tg, a, scope); err != nil || !cov.Full {
		t.Fatalf("after the first backup: %+v %v", cov, err)
	}
	drivertest.WriteFile(t, src, "d.epub", "a new book", 0o644)
	if a, err = r.Backup(ctx, x, tg); err != nil {
		t.Fatal(err)
	}
	if cov, err := r.VerifyScoped(ctx, x, tg, a, scope); err != nil || cov.Full || cov.Slice != 2 {
		t.Fatalf("after a backup of one new book: %+v %v", cov, err)
	}
}
