package rclone_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
	"github.com/alexandria-backup/alexandria-backup/internal/recovery"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// pointOf is the recovery point Snapshots lists the destination in.
func (m *rcloneMirror) pointOf(t *testing.T) string {
	t.Helper()
	snaps, err := rclone.Driver{}.Snapshots(context.Background(), m.x, m.tg)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}
	return snaps[0].Point
}

// withSettings is a copy of m's target with some settings changed.
func (m *rcloneMirror) withSettings(v drivers.Values) *drivers.Target {
	tg := *m.tg
	tg.Settings = drivers.Values{}
	for k, x := range m.tg.Settings {
		tg.Settings[k] = x
	}
	for k, x := range v {
		tg.Settings[k] = x
	}
	return &tg
}

// The marker's life and recover from the destination on the real rclone,
// to a local directory, an sftp remote and a crypt remote on it: sealed
// after a verified run, listed by Snapshots; never deleted by the sync,
// counted by verify or drills, or restored; kept by a run the guard
// refuses; gone after a run that failed. Then recover's restore of the
// source's path, its proof, and every refusal and shape of damage.
func TestRclonePointMarkerAndRecover(t *testing.T) {
	t.Parallel()
	for _, kind := range rcloneKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			m := newRcloneMirror(t, kind) // one run, not sealed
			ctx := context.Background()
			r := rclone.Driver{}
			if p := m.pointOf(t); p != "" {
				t.Fatalf("an unsealed destination is listed in point %s", p)
			}
			m.tg.Point = drivers.NewPoint(time.Now())
			a, err := r.Backup(ctx, m.x, m.tg)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Verify(ctx, m.x, m.tg, a); err != nil {
				t.Fatal(err)
			}
			if err := r.Seal(ctx, m.x, m.tg, a); err != nil {
				t.Fatal(err)
			}
			point := m.tg.Point
			if got := m.pointOf(t); got != point {
				t.Fatalf("Snapshots lists point %q, want %s", got, point)
			}
			if err := r.Verify(ctx, m.x, m.tg, drivers.Artifact{}); err != nil {
				t.Fatalf("verify with the marker there: %v", err)
			}
			m.tg.DrillSample = 1000
			if res, err := r.Drill(ctx, m.x, m.tg); err != nil || res.Checked != 13 {
				t.Fatalf("drill %+v %v, want the 13 source files", res, err)
			}
			plain := filepath.Join(m.dir, "plain-restore")
			if _, err := r.Restore(ctx, m.x, m.tg, drivers.RestoreRequest{To: plain}); err != nil {
				t.Fatal(err)
			}
			sameFiles(t, m.src, plain) // the marker is not among them

			// The sync itself (its marker's removal skipped) keeps it.
			os.Remove(filepath.Join(m.src, "books/authora/bookd.epub"))
			if _, err := r.Backup(ctx, drivertest.MarkerOK{X: m.x}, m.tg); err != nil {
				t.Fatal(err)
			}
			if got := m.pointOf(t); got != point {
				t.Fatalf("the sync deleted the marker (point %q)", got)
			}
			// A run the guard refuses changes nothing.
			empty := filepath.Join(m.dir, "empty")
			os.Mkdir(empty, 0o700)
			if _, err := r.Backup(ctx, m.x, m.withSettings(drivers.Values{"source": empty})); err == nil {
				t.Fatal("the guard let an empty source wipe the destination")
			}
			if got := m.pointOf(t); got != point {
				t.Fatalf("a refused run took the marker (point %q)", got)
			}

			// recover: the source's path below a staging directory,
			// moved into place, proven.
			src := filepath.Clean(m.src)
			places, err := recovery.Places(r.RecoverPaths(m.tg), filepath.Join(m.dir, "root"))
			if err != nil || len(places) != 1 || places[0].Path != src {
				t.Fatalf("places %+v %v", places, err)
			}
			req := func(p string) drivers.RestoreRequest {
				return drivers.RestoreRequest{To: filepath.Join(m.dir, "root"), Paths: []string{src}, Point: p}
			}
			other := drivers.NewPoint(time.Now().Add(-time.Hour))
			if err := r.CheckRestore(ctx, m.x, m.tg, req(other)); err == nil || !strings.Contains(err.Error(), "holds recovery point "+point) {
				t.Fatalf("want a refusal naming the point it holds, got %v", err)
			}
			if err := r.CheckRestore(ctx, m.x, m.tg, req(point)); err != nil {
				t.Fatal(err)
			}
			staging, err := recovery.Stage(places[0])
			if err != nil {
				t.Fatal(err)
			}
			sreq := drivers.RestoreRequest{To: staging, Paths: []string{src}, Point: other}
			if _, err := r.Restore(ctx, m.x, m.tg, sreq); err == nil {
				t.Fatal("Restore of a point the destination does not hold")
			}
			sreq.Point = point
			if _, err := r.Restore(ctx, m.x, m.tg, sreq); err != nil {
				t.Fatal(err)
			}
			if err := recovery.MoveIntoPlace(staging, places[0]); err != nil {
				t.Fatal(err)
			}
			recovery.RemoveStage(staging)
			placed := places[0].Dest
			sameFiles(t, m.src, placed)
			proof, err := r.ProveRestore(ctx, m.x, m.tg, req(point))
			if err != nil {
				t.Fatal(err)
			}
			if proof.Checked != 12 || !strings.Contains(proof.Detail, point) {
				t.Fatalf("proof %+v, want 12 files", proof)
			}
			if _, err := r.ProveRestore(ctx, m.x, m.tg, req(other)); err == nil {
				t.Fatal("a proof of another point passed")
			}
			book := "books/authorb/booke.epub"
			for _, c := range []struct {
				name   string
				damage func() func()
			}{
				{"a restored file changed, size and mtime kept", func() func() {
					p := filepath.Join(placed, book)
					drivertest.RcloneFlipByte(t, p)
					return func() { drivertest.RcloneFlipByte(t, p) }
				}},
				{"the destination's copy changed", func() func() {
					p := m.storedFile(t, book)
					drivertest.RcloneFlipByte(t, p)
					return func() { drivertest.RcloneFlipByte(t, p) }
				}},
				{"a restored file missing", func() func() {
					p := filepath.Join(placed, book)
					keep, _ := os.ReadFile(p)
					fi, _ := os.Stat(p)
					os.Remove(p)
					return func() { os.WriteFile(p, keep, 0o644); os.Chtimes(p, fi.ModTime(), fi.ModTime()) }
				}},
				{"a file in place the destination lacks", func() func() {
					p := filepath.Join(placed, "books/stray.epub")
					os.WriteFile(p, []byte("stray"), 0o644)
					return func() { os.Remove(p) }
				}},
			} {
				undo := c.damage()
				_, err := r.ProveRestore(ctx, m.x, m.tg, req(point))
				undo()
				if err == nil || !strings.Contains(err.Error(), "books/") {
					t.Errorf("%s: want the proof to fail naming the file, got %v", c.name, err)
				} else {
					t.Logf("%s: %v", c.name, err)
				}
			}
			if _, err := r.ProveRestore(ctx, m.x, m.tg, req(point)); err != nil {
				t.Fatalf("after undoing the damage: %v", err)
			}

			// A run that fails after changing the destination (max_delete
			// reached) leaves it in no point.
			for _, b := range []string{"books/authora/booka.epub", "books/authorb/bookb.epub"} {
				os.Remove(filepath.Join(m.src, b))
			}
			if _, err := r.Backup(ctx, m.x, m.withSettings(drivers.Values{"max_delete": 1})); err == nil {
				t.Fatal("want max_delete to fail the run")
			}
			if p := m.pointOf(t); p != "" {
				t.Fatalf("a failed run left the destination in point %s", p)
			}
			if _, err := r.ProveRestore(ctx, m.x, m.tg, req(point)); err == nil || !strings.Contains(err.Error(), "holds no recovery point") {
				t.Fatalf("a proof against a destination in no point: %v", err)
			}
		})
	}
}
