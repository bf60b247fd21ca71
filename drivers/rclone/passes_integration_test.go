package rclone_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// The passes of a sync, on the real rclone: what each kind of run runs,
// and what it leaves in the mirror.

// rcloneRan names the commands a log saw: "sync" for each sync, "guard"
// for the mirror guard's listing, "sizes" for the verify's, "hash" for a
// check of named files, and the subcommand for the rest.
func rcloneRan(x *drivertest.RcloneCmdLog) []string {
	var out []string
	for _, argv := range x.Argv {
		args := strings.Fields(argv)[1:]
		switch {
		case slices.Contains(args, "--combined=-"):
			out = append(out, "guard")
		case args[0] == "check" && slices.Contains(args, "--size-only"):
			out = append(out, "sizes")
		case args[0] == "check" && slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--files-from-raw=") }):
			out = append(out, "hash")
		default:
			out = append(out, args[0])
		}
	}
	return out
}

// rcloneTree is every file under dir with a hash of its bytes and its
// modification time: what "nothing in the mirror changed" compares.
func rcloneTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range drivertest.RcloneFiles(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, p))
		fi, serr := os.Stat(filepath.Join(dir, p))
		if err != nil || serr != nil {
			t.Fatal(err, serr)
		}
		out[filepath.ToSlash(p)] = fmt.Sprintf("%x %s", sha256.Sum256(b), fi.ModTime().UTC().Format(time.RFC3339Nano))
	}
	return out
}

// An everyday run, nothing changed: one sync, no guard, no size, no
// listing; its verify hashes the slice of what the sync found unchanged,
// and over a cycle of such runs the one slice holding a file damaged in
// the mirror (size and time kept: no sync notices) fails, naming it, and
// every other passes.
func TestRcloneEverydayRunIsOneSyncAndTheCycleFindsDamage(t *testing.T) {
	f := drivertest.NewRcloneFixture(t)
	ctx, r := context.Background(), rclone.Driver{}
	tg := f.Target(nil)
	tg.VerifyCycle = rcloneCycle
	if err := r.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backup(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	victim := "books/authorb/booke.epub"
	drivertest.RcloneFlipByte(t, filepath.Join(f.Dst, victim))
	failed := 0
	for _, s := range rcloneSlices() {
		x := &drivertest.RcloneCmdLog{}
		a, err := r.Backup(ctx, x, tg)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(rcloneRan(x), " "); got != "sync" || len(a.Written) != 0 || a.Bytes != -1 {
			t.Fatalf("%s: an everyday run ran %q and sent %q (bytes %d), want one sync sending nothing", s, got, a.Written, a.Bytes)
		}
		if _, err := os.Stat(filepath.Join(tg.TempDir, "rclone-unchanged-"+tg.Name)); err != nil {
			t.Fatalf("%s: no record of the files found unchanged: %v", s, err)
		}
		x = &drivertest.RcloneCmdLog{}
		cov, err := r.VerifyScoped(ctx, x, tg, a, s)
		// One check of named files; when it finds a difference, the
		// judgement asks for the times of those files alone.
		want := map[bool]string{false: "hash", true: "hash backend lsjson lsjson"}[s.InSlice(victim)]
		if got := strings.Join(rcloneRan(x), " "); got != want {
			t.Errorf("%s: the verify ran %q, want %q", s, got, want)
		}
		if _, serr := os.Stat(filepath.Join(tg.TempDir, "rclone-unchanged-"+tg.Name)); !os.IsNotExist(serr) {
			t.Errorf("%s: the record outlived the verify: %v", s, serr)
		}
		if s.InSlice(victim) {
			failed++
			if err == nil || !strings.Contains(err.Error(), "1 file differs from what was sent ("+victim+")") {
				t.Errorf("%s holds %s: want it named as damaged, got %v", s, victim, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", s, err)
		} else if !strings.Contains(cov.Detail, "the 0 files this run sent and ") || !strings.Contains(cov.Detail, "of the 12 others by hash; the sync compared the sizes and modification times of all 12") {
			t.Errorf("%s: detail %q", s, cov.Detail)
		}
	}
	if failed != 1 {
		t.Fatalf("%d slices of the cycle failed, want the one holding %s", failed, victim)
	}
}

// What each kind of change costs, and that it lands: files added take the
// one sync; files changed in place a second, deleting nothing; a deletion
// the guard's listing and a last sync that deletes; both at once the
// same. Every file copied by any pass is what the run sent.
func TestRcloneSyncPassesOnTheRealTool(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(t *testing.T, src string)
		ran    string
		sent   []string
		gone   []string
	}{
		{"added", func(t *testing.T, src string) {
			drivertest.WriteFile(t, src, "books/authora/new.epub", "new", 0o644)
		}, "sync hash", []string{"books/authora/new.epub"}, nil},
		{"changed in place", func(t *testing.T, src string) {
			rcloneEdit(t, filepath.Join(src, "books/authora/booka.epub"))
		}, "sync sync hash", []string{"books/authora/booka.epub"}, nil},
		{"touched only", func(t *testing.T, src string) {
			later := time.Now().Add(time.Hour)
			os.Chtimes(filepath.Join(src, "books/authora/booka.epub"), later, later)
		}, "sync sync hash", nil, nil},
		{"one deleted", func(t *testing.T, src string) {
			os.Remove(filepath.Join(src, "books/authorb/bookb.epub"))
		}, "sync guard sync hash", nil, []string{"books/authorb/bookb.epub"}},
		{"added, changed and deleted", func(t *testing.T, src string) {
			drivertest.WriteFile(t, src, "books/authora/new.epub", "new", 0o644)
			rcloneEdit(t, filepath.Join(src, "books/authora/booka.epub"))
			os.Remove(filepath.Join(src, "books/authorb/bookb.epub"))
		}, "sync guard sync hash", []string{"books/authora/booka.epub", "books/authora/new.epub"}, []string{"books/authorb/bookb.epub"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := drivertest.NewRcloneFixture(t)
			ctx, r := context.Background(), rclone.Driver{}
			tg := f.Target(nil)
			tg.VerifyCycle = rcloneCycle
			if _, err := r.Backup(ctx, f.X, tg); err != nil {
				t.Fatal(err)
			}
			c.change(t, f.Src)
			x := &drivertest.RcloneCmdLog{}
			a, err := r.Backup(ctx, x, tg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.VerifyScoped(ctx, x, tg, a, drivers.Scope{Slice: 1, Cycle: rcloneCycle}); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(rcloneRan(x), " "); got != c.ran {
				t.Errorf("ran %q, want %q", got, c.ran)
			}
			want := c.sent
			if want == nil {
				want = []string{}
			}
			if got := slices.Sorted(slices.Values(a.Written)); !slices.Equal(got, want) {
				t.Errorf("sent %q, want %q", got, want)
			}
			src, dst := rcloneTree(t, f.Src), rcloneTree(t, f.Dst)
			for p, v := range src {
				if dst[p] != v {
					t.Errorf("%s differs in the mirror after the run", p)
				}
			}
			if len(dst) != len(src) {
				t.Errorf("the mirror holds %d files, the source %d", len(dst), len(src))
			}
			for _, p := range c.gone {
				if _, ok := dst[p]; ok {
					t.Errorf("%s was not deleted", p)
				}
			}
		})
	}
}

// A source that lost most of its files, or all of them, is refused with
// the guard's own words, before anything the mirror holds is replaced or
// deleted, whatever else the source holds: its remaining files damaged in
// place are not copied over the good ones; a wrong disk's files, new to
// the mirror, may be added first, but are not counted as the mirror's (it
// is judged as it was). A source and a mirror both empty are refused.
func TestRcloneRefusedSyncChangesNothingInTheMirror(t *testing.T) {
	books := func(t *testing.T, src string) []string { return drivertest.RcloneFiles(t, filepath.Join(src, "books")) }
	for _, c := range []struct {
		name   string
		shape  func(t *testing.T, src string)
		refuse string
		added  int // files the mirror gained (new to it)
	}{
		{"1 of 12 left, damaged in place", func(t *testing.T, src string) {
			for i, p := range books(t, src) {
				if i == 0 {
					rcloneRewrite(t, filepath.Join(src, "books", p), func(b []byte) []byte { return b[:10] })
					continue
				}
				os.Remove(filepath.Join(src, "books", p))
			}
		}, "would delete 11 of the 12 files the mirror", 0},
		{"a quarter left, the rest of the source edited", func(t *testing.T, src string) {
			for i, p := range books(t, src) {
				if i < 3 {
					rcloneEdit(t, filepath.Join(src, "books", p))
					continue
				}
				os.Remove(filepath.Join(src, "books", p))
			}
		}, "would delete 9 of the 12 files the mirror", 0},
		{"another library of the same size", func(t *testing.T, src string) {
			os.RemoveAll(filepath.Join(src, "books"))
			for i := 0; i < 12; i++ {
				drivertest.WriteFile(t, src, fmt.Sprintf("other/book%02d.epub", i), "another book", 0o644)
			}
		}, "would delete 12 of the 12 files the mirror", 12},
		{"a bare mount point", func(t *testing.T, src string) {
			os.RemoveAll(filepath.Join(src, "books"))
		}, "has 0 files after excludes; the mirror " /* ... has 12 files */, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := drivertest.NewRcloneFixture(t)
			ctx, r := context.Background(), rclone.Driver{}
			tg := f.Target(nil)
			if _, err := r.Backup(ctx, f.X, tg); err != nil {
				t.Fatal(err)
			}
			before := rcloneTree(t, f.Dst)
			c.shape(t, f.Src)
			x := &drivertest.RcloneCmdLog{}
			_, err := r.Backup(ctx, x, tg)
			var se *drivers.SettingsError
			if !errors.As(err, &se) || se.Key != "source" || !strings.Contains(err.Error(), c.refuse) || !strings.Contains(err.Error(), "12 files") {
				t.Fatalf("want the guard's refusal saying %q of the mirror's 12 files, got %v", c.refuse, err)
			}
			if got := strings.Join(rcloneRan(x), " "); got != "sync guard" {
				t.Errorf("ran %q, want the first pass and the guard", got)
			}
			after := rcloneTree(t, f.Dst)
			for p, v := range before {
				if after[p] != v {
					t.Errorf("refused, yet the mirror's %s was replaced or deleted", p)
				}
			}
			if len(after)-len(before) != c.added {
				t.Errorf("the mirror gained %d files, want %d", len(after)-len(before), c.added)
			}
			if _, err := os.Stat(filepath.Join(tg.TempDir, "rclone-unchanged-"+tg.Name)); !os.IsNotExist(err) {
				t.Errorf("a refused run left a record of the files unchanged: %v", err)
			}
			t.Logf("refused as it must: %v", err)
		})
	}
	t.Run("a source and a mirror both empty", func(t *testing.T) {
		f := drivertest.NewRcloneFixture(t)
		os.RemoveAll(filepath.Join(f.Src, "books"))
		ctx, r := context.Background(), rclone.Driver{}
		tg := f.Target(nil)
		if err := r.Init(ctx, f.X, tg); err != nil {
			t.Fatal(err)
		}
		_, err := r.Backup(ctx, f.X, tg)
		if err == nil || !strings.Contains(err.Error(), "has none either") {
			t.Fatalf("want a refusal of an empty mirror, got %v", err)
		}
		tg.Settings["allow_empty_source"] = true
		if _, err := r.Backup(ctx, f.X, tg); err != nil {
			t.Fatalf("allow_empty_source: %v", err)
		}
	})
}
