package borg_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/borg"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// writeRandom writes n random bytes to rel under dir.
func writeRandom(t *testing.T, rng *rand.Rand, dir, rel string, n int) {
	t.Helper()
	b := make([]byte, n)
	rng.Read(b)
	drivertest.WriteFile(t, dir, rel, string(b), 0o644)
}

// A chunk of a file this run stored, changed with its segment entry's CRC
// recomputed (so that no repository check can see it), is found by this
// run's own verify: the dry-run extract of the files it stored decrypts
// and authenticates every chunk of them. A run that stored no file runs
// no extract; the record of what was stored is gone after the verify.
func TestBorgVerifyReadsBackWhatTheRunStored(t *testing.T) {
	f := drivertest.NewBorgFixture(t)
	ctx := context.Background()
	b := borg.Driver{}
	tg := f.Target("library", nil)
	tg.VerifyCycle = 3
	tg.TempDir = filepath.Join(f.Dir, "tmp")
	scope := drivers.Scope{Slice: 1, Cycle: 3}
	if err := b.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	a, err := b.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Written) != 1 || !strings.HasPrefix(a.Written[0], tg.TempDir) {
		t.Fatalf("written %v, want the record in %s", a.Written, tg.TempDir)
	}
	cov, err := b.VerifyScoped(ctx, f.X, tg, a, scope)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cov.Detail, "the 12 files this run stored") || strings.Count(f.Commands(), "borg extract --dry-run") != 1 {
		t.Fatalf("detail %q\n%s", cov.Detail, f.Commands())
	}
	if _, err := os.Stat(a.Written[0]); !os.IsNotExist(err) {
		t.Fatalf("the record is left after the verify: %v", err)
	}

	// Nothing changed: borg lists only the newest files again (its files
	// cache never trusts the entries of the newest ctime), not all 12.
	a, err = b.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if cov, err = b.VerifyScoped(ctx, f.X, tg, a, scope); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cov.Detail, "12 files") || !strings.Contains(cov.Detail, "this run stored") {
		t.Fatalf("a run that changed nothing: %q", cov.Detail)
	}
	// No file at all stored: no extract.
	empty := f.Target("library", drivers.Values{"paths": []string{t.TempDir()}, "allow_empty_source": true})
	empty.TempDir, empty.VerifyCycle = tg.TempDir, 3
	ea, err := b.Backup(ctx, f.X, empty)
	if err != nil {
		t.Fatal(err)
	}
	extracts := strings.Count(f.Commands(), "borg extract --dry-run")
	if cov, err = b.VerifyScoped(ctx, f.X, empty, ea, scope); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(f.Commands(), "borg extract --dry-run"); n != extracts || !strings.Contains(cov.Detail, "no file (this run stored none)") {
		t.Fatalf("a run that stored no file ran an extract (%d, then %d), detail %q", extracts, n, cov.Detail)
	}

	// A new file, the largest chunk of the repository, tampered with.
	writeRandom(t, rand.New(rand.NewSource(7)), f.Src, "books/new/largest.epub", 400000)
	for _, s := range []drivers.Scope{{Cycle: 3}, scope} { // without and with a slice of the rest
		a, err = b.Backup(ctx, f.X, tg)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.TamperLargestChunk(t, f.Repo)
		cov, err := b.VerifyScoped(ctx, f.X, tg, a, s)
		t.Logf("%+v", cov)
		if err == nil || !strings.Contains(err.Error(), "borg extract --dry-run of the files this run stored") {
			t.Fatalf("scope %v: the verify passed a tampered chunk of a file this run stored, or not by the extract: %v", s, err)
		}
		t.Logf("scope %v: %v", s, err)
		// The next backup stores the file again (its chunk is in the
		// index, so it is not: borg deduplicates). Remove the file so
		// that the next round makes a fresh one.
		os.Remove(filepath.Join(f.Src, "books/new/largest.epub"))
		writeRandom(t, rand.New(rand.NewSource(8)), f.Src, "books/new/largest.epub", 450000)
	}
}

// slowBorg makes borg read each segment 40 ms slower (a sitecustomize
// on PYTHONPATH wraps the segment reader), so that a partial check of a
// small repository stops part way: borg's --max-duration is in whole
// seconds, and the real one reads thousands of small segments a second.
func slowBorg(t *testing.T, tg *drivers.Target) {
	dir := t.TempDir()
	drivertest.WriteFile(t, dir, "sitecustomize.py", `import time
import borg.repository as r
_iter = r.LoggedIO.iter_objects
def _slow(self, segment, *a, **k):
    time.sleep(0.04)
    yield from _iter(self, segment, *a, **k)
r.LoggedIO.iter_objects = _slow
`, 0o644)
	tg.Env["PYTHONPATH"] = dir
}

// segments lists the repository's segment numbers in borg's order.
func segments(t *testing.T, repo string) []int {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(repo, "data", "*", "*"))
	var out []int
	for _, p := range paths {
		if n, err := strconv.Atoi(filepath.Base(p)); err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

// lastChecked is borg's own record of where the last partial check
// stopped (-1: none, the next starts from the first segment).
func lastChecked(t *testing.T, repo string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "last_segment_checked = "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return -1
}

// The rotation: with a cycle of 3 and many segments, each run's partial
// check reads on from where the last stopped. The slices a run reports
// are exactly those whose end it passed by borg's own record
// (last_segment_checked in the repository's config); a byte changed in a
// segment this run did not write and its check does not reach is not
// reported by that run, and is by the run whose check reaches it, within
// one pass; the memo carries the measured rate from run to run.
func TestBorgVerifyRotation(t *testing.T) {
	f := drivertest.NewBorgFixture(t)
	ctx := context.Background()
	b := borg.Driver{}
	tg := f.Target("library", drivers.Values{"encryption": "none", "passphrase_file": nil})
	tg.VerifyCycle = 3
	tg.TempDir = filepath.Join(f.Dir, "tmp")
	if err := b.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	// Small segments: one for every chunk, so the 60 files below make
	// some 70 segments, and a pass takes about three seconds.
	if res, err := f.BorgRun(t, "config", f.Repo, "max_segment_size", "1024"); err != nil {
		t.Fatalf("%v %s", err, res.Stderr)
	}
	rng := rand.New(rand.NewSource(3))
	for i := 0; i < 60; i++ {
		writeRandom(t, rng, f.Src, fmt.Sprintf("shelf/book%02d.epub", i), 3000)
	}
	slowBorg(t, tg)

	var corrupted int = -1 // position of the damaged segment
	var memo string
	found := false
	for run := 0; run < 12 && !found; run++ {
		writeRandom(t, rng, f.Src, fmt.Sprintf("new/run%02d.epub", run), 2000)
		a, err := b.Backup(ctx, f.X, tg)
		if err != nil {
			t.Fatal(err)
		}
		before := segments(t, f.Repo)
		from := 0
		if last := lastChecked(t, f.Repo); last >= 0 {
			from = sort.SearchInts(before, last+1)
		}
		cov, err := b.VerifyScoped(ctx, f.X, tg, a, drivers.Scope{Slice: 1, Cycle: 3, Memo: memo})
		// Where borg says it stopped: the position after its last
		// segment checked, or the end when it went round.
		to := len(before)
		if last := lastChecked(t, f.Repo); last >= 0 {
			to = sort.SearchInts(before, last) + 1
		}
		reached := corrupted >= 0 && from <= corrupted && corrupted < to
		t.Logf("run %d: borg read positions [%d, %d) of %d; corrupted %d; coverage %+v; err %v", run, from, to, len(before), corrupted, cov, err)
		switch {
		case err != nil && !reached:
			t.Fatalf("run %d failed without reading the damaged segment: %v", run, err)
		case err == nil && reached:
			t.Fatalf("run %d read the damaged segment %d and passed", run, corrupted)
		case err != nil:
			if !strings.Contains(err.Error(), "checksum mismatch") {
				t.Fatalf("run %d: the damage is not named: %v", run, err)
			}
			found = true
			continue
		}
		// What it claims is what borg read: the slices whose end lies in
		// (from, to], or all of them after a whole pass from the first.
		var want []int
		n := len(before)
		for k := 1; k <= 3; k++ {
			if end := k * n / 3; from < end && end <= to {
				want = append(want, k)
			}
		}
		if fmt.Sprint(cov.Slices) != fmt.Sprint(want) || cov.Full != (from == 0 && to == n) {
			t.Fatalf("run %d: coverage %+v, want slices %v (borg read [%d, %d) of %d)", run, cov, want, from, to, n)
		}
		if cov.Memo == "" || !strings.Contains(cov.Memo, "bytes_per_second") {
			t.Fatalf("run %d: memo %q", run, cov.Memo)
		}
		memo = cov.Memo
		if corrupted < 0 && run >= 1 && to < n && to > 2 {
			// Damage a segment the check has just passed: older than
			// this run's, and outside what the next runs read until the
			// check comes round again.
			corrupted = to - 2
			p := filepath.Join(f.Repo, "data", strconv.Itoa(before[corrupted]/1000), strconv.Itoa(before[corrupted]))
			data, err := os.ReadFile(p)
			if err != nil || len(data) < 20 {
				t.Fatal(err)
			}
			data[len(data)-5] ^= 0xff
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if corrupted < 0 || !found {
		t.Fatalf("the damaged segment (position %d) was not found in 12 runs", corrupted)
	}
}

// Every name a file can have is read back by exactly its pattern: names
// borg's patterns file would strip, split or take as a pattern become
// regular expressions, the others exact paths. The dry-run extract,
// listing what it reads, must read exactly the chosen half.
func TestBorgIncludePatternNames(t *testing.T) {
	f := drivertest.NewBorgFixture(t)
	ctx := context.Background()
	names := []string{"plain.epub", "with space.epub", " leading space", "trailing space ", "new\nline", "cr\rreturn", "tab\there",
		"star*", "[bracket]", "-dash", "+plus", "#hash", "!bang", "back\\slash", "pp:prefix", "re:regex", "sh:shell", "ünïcödé",
		"nbsp\u00a0", "\u00a0nbsp", "sep\x1cfile", "dollar$", "caret^", "paren(", "dot.", "question?", "book", "book2", "dir/book",
		"ends-with-newline\n", "\xff\xfenot-utf8", "quote\"'"}
	for _, n := range names {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(f.Src, "names", n)), 0o755); err != nil {
			t.Fatal(err)
		}
		drivertest.WriteFile(t, f.Src, filepath.Join("names", n), "contents of "+n, 0o644)
	}
	tg := f.Target("library", nil)
	tg.TempDir = filepath.Join(f.Dir, "tmp")
	if err := (borg.Driver{}).Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	a, err := borg.Driver{}.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	// The record Backup wrote selects every file; the patterns of every
	// other name (and of a "book" whose "book2" and "dir/book" must not
	// come along) select exactly those.
	root := filepath.Join(f.Src, "names")
	var chosen, want, all []string
	for i, n := range names {
		// A byte that is not UTF-8 is a '?' where borg create names the
		// file (the path given), and where extract --list does (the path
		// stored).
		shown := strings.TrimPrefix(root, "/") + "/" + eachInvalidByte(n, "?")
		all = append(all, shown)
		if i%2 == 0 || n == "book" {
			chosen = append(chosen, root+"/"+eachInvalidByte(n, "?"))
			want = append(want, shown)
		}
	}
	for _, p := range []string{a.Written[0], filepath.Join(f.Dir, "patterns")} {
		if p != a.Written[0] {
			if err := os.WriteFile(p, []byte(borg.PatternsFile(chosen)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		res, err := f.BorgRun(t, "extract", "--dry-run", "--list", "--log-json", "--patterns-from="+p, "::"+a.ID)
		if err != nil {
			t.Fatalf("%v\n%s", err, res.Stderr)
		}
		var got []string
		for _, l := range borg.ListedPaths(res.Stderr) {
			if strings.HasPrefix(l, strings.TrimPrefix(root, "/")+"/") {
				got = append(got, l)
			}
		}
		sort.Strings(got)
		expect := want
		if p == a.Written[0] {
			expect = all
		}
		sort.Strings(expect)
		if strings.Join(got, "\x00") != strings.Join(expect, "\x00") {
			t.Fatalf("%s: extract read\n%q\nwant\n%q", p, got, expect)
		}
	}
}

// eachInvalidByte replaces every byte of s that is not UTF-8 with r.
func eachInvalidByte(s, r string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			b.WriteString(r)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
