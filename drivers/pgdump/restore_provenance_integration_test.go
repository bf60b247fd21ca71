package pgdump_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// No dump is restored unless its SHA-256 matches a manifest, or the
// operator says Unverified; --from names only this target's own dumps as
// `snapshots` lists them, and anything else must come through --file. Each
// shape runs twice, without and with Unverified, against a real server: an
// allowed restore really restores (every table's count as dumped), a
// refused one leaves the database without a table.
func TestPgDumpRestoreProvenance(t *testing.T) {
	t.Parallel()
	f := drivertest.NewPgFixture(t)
	ctx := context.Background()
	d := pgdump.Driver{}
	source := pgCounts(t, f.Srv, "alexandria")

	// A target with a dump of its own in dir; settings may change the format.
	dumpIn := func(name string, settings drivers.Values) (*drivers.Target, string) {
		t.Helper()
		if settings == nil {
			settings = drivers.Values{}
		}
		settings["dir"] = filepath.Join(f.Dir, name)
		tg := f.Target(t, settings)
		a, err := d.Backup(ctx, f.X, tg)
		if err != nil {
			t.Fatal(err)
		}
		return tg, a.ID
	}
	// copyOut copies a dump (file or directory) to a directory outside
	// every target's dir, with its manifest or without.
	copyOut := func(dump, where string, manifest bool) string {
		t.Helper()
		dst := filepath.Join(f.Dir, "elsewhere", where)
		if err := os.MkdirAll(dst, 0o700); err != nil {
			t.Fatal(err)
		}
		paths := []string{dump}
		if manifest {
			paths = append(paths, dump+".manifest.json")
		}
		for _, p := range paths {
			if out, err := exec.Command("cp", "-a", p, dst).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v %s", err, out)
			}
		}
		return filepath.Join(dst, filepath.Base(dump))
	}

	own, good := dumpIn("own", nil)
	// Another target writing into the same dir.
	other := *own
	other.Name = "other"
	a, err := d.Backup(ctx, f.X, &other)
	if err != nil {
		t.Fatal(err)
	}
	othersDump := a.ID
	drivertest.WriteFile(t, filepath.Dir(good), "database.dump", "PGDMP not one of ours", 0o600)

	bareTarget, bare := dumpIn("bare", nil)
	os.Remove(bare + ".manifest.json")

	badShaTarget, badSha := dumpIn("badsha", nil)
	m := pgReadManifest(t, badSha)
	m.SHA256 = strings.Repeat("0", 64)
	pgWriteManifest(t, badSha, m)

	truncTarget, trunc := dumpIn("trunc", nil)
	truncate(t, trunc)

	dirTarget, dirDump := dumpIn("dirfmt", drivers.Values{"format": "directory"})

	outside := copyOut(good, "with-manifest", true)
	outsideBare := copyOut(good, "bare", false)
	outsideTrunc := copyOut(trunc, "trunc", true)
	outsideDir := copyOut(dirDump, "dir-with-manifest", true)
	outsideDirBare := copyOut(dirDump, "dir-bare", false)

	// A symlink in a target's dir, named as its dump would be, leading to a
	// verified dump outside (its manifest linked beside it too).
	linkTarget := f.Target(t, drivers.Values{"dir": filepath.Join(f.Dir, "links")})
	link := filepath.Join(f.Dir, "links", "database-20990101T000000Z.dump")
	os.MkdirAll(filepath.Dir(link), 0o700)
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside+".manifest.json", link+".manifest.json"); err != nil {
		t.Fatal(err)
	}

	const allowed = ""
	databases := 0 // each restore goes into a new, empty database
	for _, tc := range []struct {
		name string
		tg   *drivers.Target
		req  drivers.RestoreRequest
		// What a restore without and with Unverified does: allowed, or
		// refused with an error that says this.
		checked, unverified string
		from                string // the dump an allowed restore restored
	}{
		{"ID: base name", own, drivers.RestoreRequest{From: filepath.Base(good)}, allowed, allowed, good},
		{"ID: as snapshots lists it", own, drivers.RestoreRequest{From: good}, allowed, allowed, good},
		{"the latest", own, drivers.RestoreRequest{}, allowed, allowed, good},
		{"ID of a directory dump", dirTarget, drivers.RestoreRequest{From: filepath.Base(dirDump)}, allowed, allowed, dirDump},

		{"--from a path outside dir, no manifest", own, drivers.RestoreRequest{From: outsideBare}, "--file", "--file", ""},
		{"--from a path outside dir", own, drivers.RestoreRequest{From: outside}, "--file", "--file", ""},
		{"--from a relative path", own, drivers.RestoreRequest{From: "../bare/" + filepath.Base(bare)}, "--file", "--file", ""},
		{"--from with .. leading out of dir", own, drivers.RestoreRequest{From: filepath.Join(filepath.Dir(good), "..", "bare", filepath.Base(bare))}, "--file", "--file", ""},
		{"--from another target's dump in the same dir", own, drivers.RestoreRequest{From: filepath.Base(othersDump)}, "not one of", "not one of", ""},
		{"--from a file in dir not named as a dump", own, drivers.RestoreRequest{From: "database.dump"}, "not one of", "not one of", ""},
		{"--from a symlink in dir leading out", linkTarget, drivers.RestoreRequest{From: filepath.Base(link)}, "not one of", "not one of", ""},
		{"the latest is never a symlink", linkTarget, drivers.RestoreRequest{}, "no dumps", "no dumps", ""},
		{"--from a manifest", own, drivers.RestoreRequest{From: filepath.Base(good) + ".manifest.json"}, "not one of", "not one of", ""},
		{"--from and --file", own, drivers.RestoreRequest{From: filepath.Base(good), File: outside}, "not both", "not both", ""},

		{"--file outside, its manifest beside it", own, drivers.RestoreRequest{File: outside}, allowed, allowed, outside},
		{"--file outside, no manifest", own, drivers.RestoreRequest{File: outsideBare}, "no manifest", allowed, outsideBare},
		{"--file, another target's verified dump", own, drivers.RestoreRequest{File: othersDump}, allowed, allowed, othersDump},
		{"--file a directory dump, its manifest beside it", own, drivers.RestoreRequest{File: outsideDir}, allowed, allowed, outsideDir},
		{"--file a directory dump, no manifest", own, drivers.RestoreRequest{File: outsideDirBare}, "no manifest", allowed, outsideDirBare},
		{"--file a truncated dump", own, drivers.RestoreRequest{File: outsideTrunc}, "SHA-256", "nothing was changed", ""},
		{"--file a manifest", own, drivers.RestoreRequest{File: outside + ".manifest.json"}, "restore the dump itself", "restore the dump itself", ""},
		{"--file missing", own, drivers.RestoreRequest{File: outside + ".gone"}, "no dump", "no dump", ""},

		{"ID without a manifest", bareTarget, drivers.RestoreRequest{From: filepath.Base(bare)}, "no manifest", allowed, bare},
		{"the latest without a manifest", bareTarget, drivers.RestoreRequest{}, "no manifest", allowed, bare},
		{"--file in dir without a manifest", own, drivers.RestoreRequest{File: bare}, "no manifest", allowed, bare},
		{"ID whose manifest has another SHA-256", badShaTarget, drivers.RestoreRequest{From: filepath.Base(badSha)}, "SHA-256", allowed, badSha},
		{"ID of a truncated dump", truncTarget, drivers.RestoreRequest{From: filepath.Base(trunc)}, "SHA-256", "nothing was changed", ""},
	} {
		for _, unverified := range []bool{false, true} {
			want := map[bool]string{false: tc.checked, true: tc.unverified}[unverified]
			t.Run(fmt.Sprintf("%s/unverified=%v", tc.name, unverified), func(t *testing.T) {
				databases++
				db := fmt.Sprintf("prov_%d", databases)
				if err := f.Srv.CreateDatabase(ctx, db); err != nil {
					t.Fatal(err)
				}
				req := tc.req
				req.Database, req.Unverified = db, unverified
				res, err := d.Restore(ctx, f.X, tc.tg, req)
				if want == allowed {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					if res.From != tc.from {
						t.Errorf("restored %s, want %s", res.From, tc.from)
					}
					if got := pgCounts(t, f.Srv, db); !sameCounts(got, source) {
						t.Fatalf("restored %v, source %v", got, source)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("got %v, want an error saying %q", err, want)
				}
				t.Logf("refused: %v", err)
				if n := len(pgCounts(t, f.Srv, db)); n != 0 {
					t.Fatalf("a refused restore left %d tables", n)
				}
			})
		}
	}
}
