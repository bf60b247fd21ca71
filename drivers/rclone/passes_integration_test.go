package rclone_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// A sync on the real rclone: the guard first (cleared by the last run's
// record of the mirror's files, or rclone's listing), then one sync; what
// each kind of run runs, and what it leaves in the mirror and the record.

// rcloneRan names the commands a log saw: "sync" for a sync, "guard" for
// the mirror guard's listing, "sizes" for the verify's, "hash" for a check
// (or cryptcheck) of named files, and the subcommand for the rest. The
// recovery-point marker's commands are left out (marker_integration_test.go).
func rcloneRan(x *drivertest.RcloneCmdLog) []string {
	var out []string
	for _, argv := range x.Argv {
		args := strings.Fields(argv)[1:]
		switch {
		case rcloneMarkerCommand(proc.Command{Args: args}):
		case slices.Contains(args, "--combined=-"):
			out = append(out, "guard")
		case args[0] == "check" && slices.Contains(args, "--size-only"):
			out = append(out, "sizes")
		case (args[0] == "check" || args[0] == "cryptcheck") && slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--files-from-raw=") }):
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

// keptTarget is the fixture's target with a KeepDir, as a plan gives it:
// its record outlives the run.
func keptTarget(f *drivertest.RcloneFixture) *drivers.Target {
	tg := f.Target(nil)
	tg.VerifyCycle = rcloneCycle
	tg.KeepDir = filepath.Join(f.Dir, "keep")
	return tg
}

// mirrorRecord is what the record must say after a sync: every file of
// dir (the mirror, or the source it now equals), the ones in sent copied,
// the rest unchanged.
func mirrorRecord(t *testing.T, dir string, sent []string) []string {
	var out []string
	for _, p := range drivertest.RcloneFiles(t, dir) {
		kind := "U|"
		if slices.Contains(sent, filepath.ToSlash(p)) {
			kind = "C|"
		}
		out = append(out, kind+filepath.ToSlash(p))
	}
	slices.Sort(out)
	return out
}

// An everyday run, nothing changed: one sync, no guard listing (the last
// run's record clears it), no size; its verify hashes the slice of the
// files the record names, and keeps the record for the next run's guard.
// Over a cycle of such runs the one slice holding a file damaged in the
// mirror (size and time kept: no sync notices) fails, naming it, and
// every other passes. Each kind of destination.
func TestRcloneEverydayRunIsOneSyncAndTheCycleFindsDamage(t *testing.T) {
	for _, place := range rclonePlaces {
		t.Run(place.name, func(t *testing.T) {
			f := drivertest.NewRcloneFixture(t)
			ctx, r := context.Background(), rclone.Driver{}
			tg, onDisk := place.setup(t, f)
			tg.VerifyCycle = rcloneCycle
			tg.KeepDir = filepath.Join(f.Dir, "keep")
			if err := r.Init(ctx, f.X, tg); err != nil {
				t.Fatal(err)
			}
			x := &drivertest.RcloneCmdLog{}
			first, err := r.Backup(ctx, x, tg)
			if err != nil {
				t.Fatal(err)
			}
			// No record yet: the listing guards the first run.
			if got := strings.Join(rcloneRan(x), " "); got != "guard sync" {
				t.Fatalf("a first run ran %q, want the guard's listing and the sync", got)
			}
			sent := rclone.SentPaths(t, tg, first)
			if got, want := rclone.RecordFiles(t, tg), mirrorRecord(t, f.Src, sent); len(sent) != 12 || !slices.Equal(got, want) {
				t.Fatalf("a first run sent %d files and recorded %q, want %q", len(sent), got, want)
			}
			victim := "books/authorb/booke.epub"
			drivertest.RcloneFlipByte(t, onDisk(victim))
			failed := 0
			for _, s := range rcloneSlices() {
				x := &drivertest.RcloneCmdLog{}
				a, err := r.Backup(ctx, x, tg)
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.Join(rcloneRan(x), " "); got != "sync" || len(rclone.SentPaths(t, tg, a)) != 0 || a.Bytes != -1 {
					t.Fatalf("%s: an everyday run ran %q and sent %q (bytes %d), want one sync sending nothing", s, got, rclone.SentPaths(t, tg, a), a.Bytes)
				}
				if got, want := rclone.RecordFiles(t, tg), mirrorRecord(t, f.Src, nil); !slices.Equal(got, want) {
					t.Fatalf("%s: recorded %q, want %q", s, got, want)
				}
				x = &drivertest.RcloneCmdLog{}
				cov, err := r.VerifyScoped(ctx, x, tg, a, s)
				// One check of named files; when it finds a difference,
				// the judgement asks for the times of those files alone.
				want := map[bool]string{false: "hash", true: "hash backend lsjson lsjson"}[s.InSlice(victim)]
				if got := strings.Join(rcloneRan(x), " "); got != want {
					t.Errorf("%s: the verify ran %q, want %q", s, got, want)
				}
				if got := rclone.RecordFiles(t, tg); len(got) != 12 {
					t.Errorf("%s: the verify did not keep the record, for the next run's guard: %q", s, got)
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
		})
	}
}

// What each kind of change costs, and that it lands: whatever changed,
// with a record of few files gone, one sync and the verify's hash check,
// no listing; every file the sync copied is what the run sent, and the
// record names the mirror's files after it.
func TestRcloneOneSyncOnTheRealTool(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(t *testing.T, src string)
		sent   []string
		gone   []string
	}{
		{"nothing", func(t *testing.T, src string) {}, nil, nil},
		{"added", func(t *testing.T, src string) {
			drivertest.WriteFile(t, src, "books/authora/new.epub", "new", 0o644)
		}, []string{"books/authora/new.epub"}, nil},
		{"changed in place", func(t *testing.T, src string) {
			rcloneEdit(t, filepath.Join(src, "books/authora/booka.epub"))
		}, []string{"books/authora/booka.epub"}, nil},
		{"touched only", func(t *testing.T, src string) {
			later := time.Now().Add(time.Hour)
			os.Chtimes(filepath.Join(src, "books/authora/booka.epub"), later, later)
		}, nil, nil},
		{"one deleted", func(t *testing.T, src string) {
			os.Remove(filepath.Join(src, "books/authorb/bookb.epub"))
		}, nil, []string{"books/authorb/bookb.epub"}},
		{"half deleted, at the limit", func(t *testing.T, src string) {
			for _, p := range drivertest.RcloneFiles(t, filepath.Join(src, "books"))[:6] {
				os.Remove(filepath.Join(src, "books", p))
			}
		}, nil, nil},
		{"added, changed and deleted", func(t *testing.T, src string) {
			drivertest.WriteFile(t, src, "books/authora/new.epub", "new", 0o644)
			rcloneEdit(t, filepath.Join(src, "books/authora/booka.epub"))
			os.Remove(filepath.Join(src, "books/authorb/bookb.epub"))
		}, []string{"books/authora/booka.epub", "books/authora/new.epub"}, []string{"books/authorb/bookb.epub"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := drivertest.NewRcloneFixture(t)
			ctx, r := context.Background(), rclone.Driver{}
			tg := keptTarget(f)
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
			if got := strings.Join(rcloneRan(x), " "); got != "sync hash" {
				t.Errorf("ran %q, want one sync and the verify's hash check", got)
			}
			want := c.sent
			if want == nil {
				want = []string{}
			}
			if got := rclone.SentPaths(t, tg, a); !slices.Equal(got, want) {
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
			if got, want := rclone.RecordFiles(t, tg), mirrorRecord(t, f.Dst, rclone.SentPaths(t, tg, a)); !slices.Equal(got, want) {
				t.Errorf("recorded %q, want the mirror's files %q", got, want)
			}
		})
	}
}

// A source that lost most of its files, or all of them, is refused by the
// guard's listing, with its own words, before any sync: the mirror stays
// byte for byte as it was, whatever else the source holds (its remaining
// files damaged in place, a wrong disk's files new to the mirror), and so
// does the last run's record. A source and a mirror both empty are
// refused.
func TestRcloneRefusedSyncChangesNothingInTheMirror(t *testing.T) {
	books := func(t *testing.T, src string) []string { return drivertest.RcloneFiles(t, filepath.Join(src, "books")) }
	for _, c := range []struct {
		name   string
		shape  func(t *testing.T, src string)
		refuse string
	}{
		{"1 of 12 left, damaged in place", func(t *testing.T, src string) {
			for i, p := range books(t, src) {
				if i == 0 {
					rcloneRewrite(t, filepath.Join(src, "books", p), func(b []byte) []byte { return b[:10] })
					continue
				}
				os.Remove(filepath.Join(src, "books", p))
			}
		}, "would delete 11 of the 12 files the mirror"},
		{"a quarter left, the rest of the source edited", func(t *testing.T, src string) {
			for i, p := range books(t, src) {
				if i < 3 {
					rcloneEdit(t, filepath.Join(src, "books", p))
					continue
				}
				os.Remove(filepath.Join(src, "books", p))
			}
		}, "would delete 9 of the 12 files the mirror"},
		{"another library of the same size", func(t *testing.T, src string) {
			os.RemoveAll(filepath.Join(src, "books"))
			for i := 0; i < 12; i++ {
				drivertest.WriteFile(t, src, fmt.Sprintf("other/book%02d.epub", i), "another book", 0o644)
			}
		}, "would delete 12 of the 12 files the mirror"},
		{"a bare mount point", func(t *testing.T, src string) {
			os.RemoveAll(filepath.Join(src, "books"))
		}, "has 0 files after excludes; the mirror " /* ... has 12 files */},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := drivertest.NewRcloneFixture(t)
			ctx, r := context.Background(), rclone.Driver{}
			tg := keptTarget(f)
			if _, err := r.Backup(ctx, f.X, tg); err != nil {
				t.Fatal(err)
			}
			before, record := rcloneTree(t, f.Dst), rclone.RecordFiles(t, tg)
			c.shape(t, f.Src)
			x := &drivertest.RcloneCmdLog{}
			_, err := r.Backup(ctx, x, tg)
			var se *drivers.SettingsError
			if !errors.As(err, &se) || se.Key != "source" || !strings.Contains(err.Error(), c.refuse) || !strings.Contains(err.Error(), "12 files") {
				t.Fatalf("want the guard's refusal saying %q of the mirror's 12 files, got %v", c.refuse, err)
			}
			if got := strings.Join(rcloneRan(x), " "); got != "guard" {
				t.Errorf("ran %q, want the guard's listing alone", got)
			}
			if after := rcloneTree(t, f.Dst); !maps.Equal(after, before) {
				t.Errorf("refused, yet the mirror changed: %d files before, %d after", len(before), len(after))
			}
			if got := rclone.RecordFiles(t, tg); !slices.Equal(got, record) {
				t.Errorf("a refused run changed the record: %q → %q", record, got)
			}
			t.Logf("refused as it must: %v", err)
		})
	}
	t.Run("a source and a mirror both empty", func(t *testing.T) {
		f := drivertest.NewRcloneFixture(t)
		os.RemoveAll(filepath.Join(f.Src, "books"))
		ctx, r := context.Background(), rclone.Driver{}
		tg := keptTarget(f)
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
