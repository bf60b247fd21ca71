package rclone_test

import (
	"context"
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

// rcloneEdit gives a source file new bytes of the same size and a later
// modification time, as an editor saving it would.
func rcloneEdit(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for i := range b {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	later := fi.ModTime().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
}

// The artifact names exactly the files the run copied: all of them the
// first time, none when nothing changed, then the edited and the added
// ones (not the deleted), excludes respected; whether or not someone
// watches the progress.
func TestRcloneBackupNamesTheFilesItSent(t *testing.T) {
	for _, watched := range []bool{false, true} {
		f := drivertest.NewRcloneFixture(t)
		ctx, r := context.Background(), rclone.Driver{}
		tg := f.Target(drivers.Values{"exclude": []string{"authorb/**"}})
		tg.Progress = watched
		sent := func() []string {
			t.Helper()
			a, err := r.Backup(ctx, f.X, tg)
			if err != nil {
				t.Fatal(err)
			}
			if a.Written == nil {
				t.Fatal("Written is nil: the driver tracks what it sends")
			}
			return rclone.SentPaths(t, tg, a)
		}
		var all []string
		for _, p := range drivertest.RcloneFiles(t, f.Src) {
			if !strings.Contains(p, "authorb") {
				all = append(all, filepath.ToSlash(p))
			}
		}
		if got := sent(); !slices.Equal(got, all) {
			t.Fatalf("watched=%v: first run sent %q, want %q", watched, got, all)
		}
		if got := sent(); len(got) != 0 {
			t.Fatalf("watched=%v: an unchanged library sent %q", watched, got)
		}
		rcloneEdit(t, filepath.Join(f.Src, "books/authora/booka.epub"))
		rcloneEdit(t, filepath.Join(f.Src, "books/authorb/bookb.epub")) // excluded
		drivertest.WriteFile(t, f.Src, "books/authorc/new #1: a name.epub", "new", 0o644)
		os.Remove(filepath.Join(f.Src, "books/authorc/bookc.epub"))
		want := []string{"books/authora/booka.epub", "books/authorc/new #1: a name.epub"}
		if got := sent(); !slices.Equal(got, want) {
			t.Fatalf("watched=%v: sent %q, want %q", watched, got, want)
		}
	}
}
