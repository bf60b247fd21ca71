package rsync_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rsync"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// markerIn reads the recovery-point marker at the top of the (local)
// mirror dir: its point, or "" when there is none.
func markerIn(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, drivers.MirrorPointMarker))
	if os.IsNotExist(err) {
		return ""
	}
	var m struct {
		Point    string    `json:"point"`
		Verified time.Time `json:"verified_at"`
		Tool     string    `json:"tool"`
	}
	if err != nil || json.Unmarshal(b, &m) != nil || m.Tool != "rsync" || time.Since(m.Verified) > time.Hour {
		t.Fatalf("marker %q: %v", b, err)
	}
	return m.Point
}

// snapshotPoint is the point Snapshots lists the mirror in.
func snapshotPoint(t *testing.T, tg *drivers.Target, f *drivertest.RsyncFixture) string {
	t.Helper()
	snaps, err := rsync.Driver{}.Snapshots(context.Background(), f.X, tg)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}
	return snaps[0].Point
}

// The marker's life on the real rsync, locally and over ssh: sealed after
// a verified run and listed by Snapshots; gone the moment a run changes
// the mirror, and left gone by a run that fails; kept by a run the guard
// refuses (the mirror is untouched); never deleted by --delete, never
// counted by verify or drills, never restored.
func TestRsyncPointMarker(t *testing.T) {
	t.Parallel()
	for _, remote := range []bool{false, true} {
		t.Run(map[bool]string{false: "local", true: "ssh"}[remote], func(t *testing.T) {
			t.Parallel()
			f := drivertest.NewRsyncFixture(t)
			tg := rsyncMirrored(t, f, remote) // one run, not sealed
			ctx := context.Background()
			r := rsync.Driver{}
			if p := markerIn(t, f.Dst); p != "" {
				t.Fatalf("an unsealed run left point %s", p)
			}
			if p := snapshotPoint(t, tg, f); p != "" {
				t.Fatalf("an unsealed mirror is listed in point %s", p)
			}

			// A verified run, sealed.
			tg.Point = drivers.NewPoint(time.Now())
			a, err := r.Backup(ctx, f.X, tg)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Verify(ctx, f.X, tg, a); err != nil {
				t.Fatal(err)
			}
			if err := r.Seal(ctx, f.X, tg, a); err != nil {
				t.Fatal(err)
			}
			if got := markerIn(t, f.Dst); got != tg.Point {
				t.Fatalf("marker names %q, want %s", got, tg.Point)
			}
			if got := snapshotPoint(t, tg, f); got != tg.Point {
				t.Fatalf("Snapshots lists point %q, want %s", got, tg.Point)
			}

			// With the marker there: verify on its own (a listing with
			// --delete) and a full drill do not count it.
			if err := r.Verify(ctx, f.X, tg, drivers.Artifact{}); err != nil {
				t.Fatalf("verify with the marker in the mirror: %v", err)
			}
			tg.DrillSample = 1000
			res, err := r.Drill(ctx, f.X, tg)
			if err != nil || res.Checked != regularFiles(t, f.Src) {
				t.Fatalf("drill %+v %v, want the %d source files", res, err, regularFiles(t, f.Src))
			}
			// A restore never brings it back.
			to := filepath.Join(f.Dir, "restored")
			if _, err := r.Restore(ctx, f.X, tg, drivers.RestoreRequest{To: to}); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(filepath.Join(to, drivers.MirrorPointMarker)); !os.IsNotExist(err) {
				t.Fatalf("the restore brought the marker back: %v", err)
			}

			// The sync's --delete keeps it: the real mirror command, its
			// marker's removal skipped.
			os.Remove(filepath.Join(f.Src, "covers/cover.jpg"))
			if _, err := r.Backup(ctx, drivertest.MarkerOK{X: f.X}, tg); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(f.Dst, "covers/cover.jpg")); !os.IsNotExist(err) {
				t.Fatal("the sync did not delete what the source dropped")
			}
			if got := markerIn(t, f.Dst); got != tg.Point {
				t.Fatalf("--delete removed the marker (%q)", got)
			}

			// A run the guard refuses changes nothing: the marker stays.
			withGuard := *tg
			withGuard.Settings = drivers.Values{}
			for k, v := range tg.Settings {
				withGuard.Settings[k] = v
			}
			emptySrc := filepath.Join(f.Dir, "empty") + "/"
			os.MkdirAll(emptySrc, 0o700)
			withGuard.Settings["source"] = emptySrc
			if _, err := r.Backup(ctx, f.X, &withGuard); err == nil {
				t.Fatal("the guard let an empty source wipe the mirror")
			}
			if got := markerIn(t, f.Dst); got != tg.Point {
				t.Fatalf("a refused run took the marker (%q)", got)
			}

			// A run that fails after changing the mirror (max_delete
			// reached: rsync exits 25) leaves it in no point.
			for _, b := range []string{"books/authora/booka.epub", "books/authorb/bookb.epub"} {
				os.Remove(filepath.Join(f.Src, b))
			}
			failing := withGuard
			failing.Settings = drivers.Values{}
			for k, v := range tg.Settings {
				failing.Settings[k] = v
			}
			failing.Settings["max_delete"] = 1
			if _, err := r.Backup(ctx, f.X, &failing); err == nil || !strings.Contains(err.Error(), "25") {
				t.Fatalf("want max_delete to fail the run, got %v", err)
			}
			if p := markerIn(t, f.Dst); p != "" {
				t.Fatalf("a failed run left the mirror in point %s", p)
			}
			if p := snapshotPoint(t, tg, f); p != "" {
				t.Fatalf("a failed run's mirror is listed in point %s", p)
			}

			// A file of the marker's name that is no marker (left by
			// someone else, damaged) puts the mirror in no point.
			os.WriteFile(filepath.Join(f.Dst, drivers.MirrorPointMarker), []byte(`{"point": "`+tg.Point+` or so"}`), 0o644)
			snaps, err := r.Snapshots(ctx, f.X, tg)
			if err != nil || len(snaps) != 1 || snaps[0].Point != "" || !strings.Contains(snaps[0].Info, "names no valid recovery point") {
				t.Fatalf("snapshots of a mirror with a damaged marker: %+v %v", snaps, err)
			}
			if err := r.CheckRestore(ctx, f.X, tg, drivers.RestoreRequest{Point: tg.Point}); err == nil {
				t.Fatal("a damaged marker let a point be restored")
			}
		})
	}
}
