package rsync_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rsync"
	"github.com/alexandria-backup/alexandria-backup/internal/recovery"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// recover from a mirror on the real rsync, locally and over ssh: the
// source's path restored below a staging directory as recover lays it
// out, moved into place, and proven against the mirror; a point the
// mirror does not hold is refused by the check, the restore and the
// proof; every shape of damage, in place or in the mirror, fails the
// proof, naming the file.
func TestRsyncRecoverAndProve(t *testing.T) {
	t.Parallel()
	for _, remote := range []bool{false, true} {
		t.Run(map[bool]string{false: "local", true: "ssh"}[remote], func(t *testing.T) {
			t.Parallel()
			f := drivertest.NewRsyncFixture(t)
			tg := rsyncMirrored(t, f, remote)
			ctx := context.Background()
			r := rsync.Driver{}
			tg.Point = drivers.NewPoint(time.Now())
			a, err := r.Backup(ctx, f.X, tg)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Seal(ctx, f.X, tg, a); err != nil {
				t.Fatal(err)
			}
			src := filepath.Clean(f.Src)
			if got := r.RecoverPaths(tg); len(got) != 1 || got[0] != src {
				t.Fatalf("RecoverPaths %q", got)
			}
			root := filepath.Join(f.Dir, "root")
			places, err := recovery.Places(r.RecoverPaths(tg), root)
			if err != nil {
				t.Fatal(err)
			}
			req := func(point string) drivers.RestoreRequest {
				return drivers.RestoreRequest{From: tg.Settings.Str("destination"), To: root, Paths: []string{src}, Point: point}
			}

			// Another point, or a path the mirror does not hold: refused
			// before anything is written.
			other := drivers.NewPoint(time.Now().Add(-time.Hour))
			for _, bad := range []drivers.RestoreRequest{req(other), {To: root, Paths: []string{"/etc"}, Point: tg.Point}} {
				if err := r.CheckRestore(ctx, f.X, tg, bad); err == nil {
					t.Fatalf("CheckRestore of %+v passed", bad)
				}
				if _, err := r.ProveRestore(ctx, f.X, tg, bad); err == nil {
					t.Fatalf("ProveRestore of %+v passed", bad)
				}
			}
			if err := r.CheckRestore(ctx, f.X, tg, req(other)); err == nil || !strings.Contains(err.Error(), "holds recovery point "+tg.Point) || !strings.Contains(err.Error(), "not "+other) {
				t.Fatalf("want a refusal naming both points, got %v", err)
			}
			if err := r.CheckRestore(ctx, f.X, tg, req(tg.Point)); err != nil {
				t.Fatal(err)
			}

			// recover's way: staging beside the place, then renamed.
			staging, err := recovery.Stage(places[0])
			if err != nil {
				t.Fatal(err)
			}
			sreq := drivers.RestoreRequest{From: tg.Settings.Str("destination"), To: staging, Paths: []string{src}}
			sreq.Point = other
			if _, err := r.Restore(ctx, f.X, tg, sreq); err == nil {
				t.Fatal("Restore of a point the mirror does not hold")
			}
			sreq.Point = tg.Point
			if _, err := r.Restore(ctx, f.X, tg, sreq); err != nil {
				t.Fatal(err)
			}
			if err := recovery.MoveIntoPlace(staging, places[0]); err != nil {
				t.Fatal(err)
			}
			recovery.RemoveStage(staging)
			placed := places[0].Dest
			sameTree(t, f.Src, placed, nil)
			if _, err := os.Lstat(filepath.Join(placed, drivers.MirrorPointMarker)); !os.IsNotExist(err) {
				t.Fatal("the marker was restored into the place")
			}
			proof, err := r.ProveRestore(ctx, f.X, tg, req(tg.Point))
			if err != nil {
				t.Fatal(err)
			}
			if files := regularFiles(t, f.Src); proof.Checked != files || !strings.Contains(proof.Detail, tg.Point) {
				t.Fatalf("proof %+v, want %d files", proof, files)
			}

			// Each shape of damage fails the proof, naming the file;
			// undone after.
			book := "books/authora/bookg.epub"
			for _, c := range []struct {
				name   string
				damage func() func()
				names  string
			}{
				{"a restored file changed, size and mtime kept", func() func() {
					p := filepath.Join(placed, book)
					keep, _ := os.ReadFile(p)
					corrupt(t, p)
					return func() { os.WriteFile(p, keep, 0o644) }
				}, book},
				{"the mirror's copy changed", func() func() {
					p := filepath.Join(f.Dst, book)
					keep, _ := os.ReadFile(p)
					corrupt(t, p)
					return func() { os.WriteFile(p, keep, 0o644) }
				}, book},
				{"a restored file missing", func() func() {
					p := filepath.Join(placed, "covers/cover.jpg")
					keep, _ := os.ReadFile(p)
					os.Remove(p)
					return func() { os.WriteFile(p, keep, 0o600) }
				}, "covers/cover.jpg"},
				{"a file in place the mirror lacks", func() func() {
					p := filepath.Join(placed, "books/stray.epub")
					os.WriteFile(p, []byte("stray"), 0o644)
					return func() { os.Remove(p) }
				}, "books/stray.epub"},
				{"a restored file truncated", func() func() {
					p := filepath.Join(placed, book)
					keep, _ := os.ReadFile(p)
					os.Truncate(p, 10)
					return func() { os.WriteFile(p, keep, 0o644) }
				}, book},
			} {
				undo := c.damage()
				_, err := r.ProveRestore(ctx, f.X, tg, req(tg.Point))
				undo()
				if err == nil || !strings.Contains(err.Error(), c.names) {
					t.Errorf("%s: want the proof to fail naming %s, got %v", c.name, c.names, err)
				}
			}
			if _, err := r.ProveRestore(ctx, f.X, tg, req(tg.Point)); err != nil {
				t.Fatalf("after undoing the damage: %v", err)
			}
			// A newer run took the mirror out of the point.
			if _, err := r.Backup(ctx, f.X, tg); err != nil {
				t.Fatal(err)
			}
			if _, err := r.ProveRestore(ctx, f.X, tg, req(tg.Point)); err == nil || !strings.Contains(err.Error(), "holds no recovery point") {
				t.Fatalf("a proof against a mirror in no point: %v", err)
			}
		})
	}
}
