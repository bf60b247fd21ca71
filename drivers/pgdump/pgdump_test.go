package pgdump_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// Retention over dump files: keep_last and keep_days combine (a dump either
// keeps stays), the newest always stays, and nothing but this target's
// promoted dumps is ever touched.
func TestPgDumpRetention(t *testing.T) {
	drivertest.PinClock(t) // 2026-11-26 02:00 UTC
	for _, tc := range []struct {
		name     string
		settings drivers.Values
		kept     []string
	}{
		{"keep_last", drivers.Values{"keep_last": 2}, []string{"20261126T010000Z", "20261125T010000Z-1"}},
		{"keep_days", drivers.Values{"keep_days": 2}, []string{"20261126T010000Z", "20261125T010000Z-1", "20261125T010000Z"}},
		{"both", drivers.Values{"keep_last": 4, "keep_days": 1}, []string{"20261126T010000Z", "20261125T010000Z-1", "20261125T010000Z", "20261120T010000Z"}},
		{"only newest young", drivers.Values{"keep_days": 1}, []string{"20261126T010000Z"}},
		{"none", drivers.Values{}, []string{"20261126T010000Z", "20261125T010000Z-1", "20261125T010000Z", "20261120T010000Z", "20251001T010000Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dumps := []string{"database-20251001T010000Z.dump", "database-20261120T010000Z.sql.gz", "database-20261125T010000Z.dump",
				"database-20261125T010000Z-1.dump", "database-20261126T010000Z.dir"}
			others := []string{"other-20200101T000000Z.dump", ".database-20200101T000000Z.dump.partial", "database-notes.txt", "database-2020.dump"}
			for _, n := range append(dumps, others...) {
				if strings.HasSuffix(n, ".dir") {
					os.MkdirAll(filepath.Join(dir, n), 0o700)
					drivertest.WriteFile(t, filepath.Join(dir, n), "toc.dat", "x", 0o600)
				} else {
					drivertest.WriteFile(t, dir, n, "x", 0o600)
				}
			}
			tc.settings["dir"] = dir
			tg := &drivers.Target{Name: "database", Settings: tc.settings}
			res, err := pgdump.Driver{}.Prune(context.Background(), nil, tg, false)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range drivertest.DirNames(t, dir) {
				for _, d := range dumps {
					if n == d {
						got = append(got, strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(n, ".", 2)[0], "database-"), ""))
					}
				}
			}
			want := append([]string{}, tc.kept...)
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("kept %v, want %v (removed %v)", got, want, res.Removed)
			}
			for _, n := range others {
				if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
					t.Errorf("retention touched %s", n)
				}
			}
			if res.Policy != (len(tc.settings) > 1) || res.Kept != len(tc.kept) {
				t.Errorf("result %+v", res)
			}
		})
	}
}

// Even when every dump is older than keep_days (backups stopped for a
// while), the newest one stays.
func TestPgDumpNewestAlwaysKept(t *testing.T) {
	old := drivers.Now
	drivers.Now = func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }
	t.Cleanup(func() { drivers.Now = old })
	dir := t.TempDir()
	for _, n := range []string{"database-20261120T010000Z.dump", "database-20261121T010000Z.dump"} {
		drivertest.WriteFile(t, dir, n, "x", 0o600)
	}
	tg := &drivers.Target{Name: "database", Settings: drivers.Values{"dir": dir, "keep_days": 7}}
	res, err := pgdump.Driver{}.Prune(context.Background(), nil, tg, false)
	if err != nil || res.Kept != 1 || strings.Join(drivertest.DirNames(t, dir), ",") != "database-20261121T010000Z.dump" {
		t.Fatalf("%+v %v %v", res, err, drivertest.DirNames(t, dir))
	}
}

func TestPgDumpPruneDryRunRemovesNothing(t *testing.T) {
	drivertest.PinClock(t)
	dir := t.TempDir()
	for _, n := range []string{"database-20261120T010000Z.dump", "database-20261121T010000Z.dump"} {
		drivertest.WriteFile(t, dir, n, "x", 0o600)
	}
	tg := &drivers.Target{Name: "database", Settings: drivers.Values{"dir": dir, "keep_last": 1}}
	res, err := pgdump.Driver{}.Prune(context.Background(), nil, tg, true)
	if err != nil || len(res.Removed) != 1 || len(drivertest.DirNames(t, dir)) != 2 {
		t.Fatalf("%+v %v %v", res, err, drivertest.DirNames(t, dir))
	}
}

// A partial dump is recognised by the names the driver writes, for its own
// target only.
func TestPartialDumpNames(t *testing.T) {
	for name, want := range map[string]bool{
		".db-20261126T020000Z.dump.partial":     true,
		".db-20261126T020000Z-2.dump.partial":   true,
		".db-20261126T020000Z.sql.gz.partial":   true,
		".db-20261126T020000Z.dir.partial":      true,
		".db-20261126T020000Z.tar.partial":      true,
		"db-20261126T020000Z.dump":              false, // a finished dump
		".db-20261126T020000Z.dump":             false,
		".db-old-20261126T020000Z.dump.partial": false, // target db-old's
		".db-20261126T020000Z.dump.partial.x":   false,
		".other-20261126T020000Z.dump.partial":  false,
	} {
		if got := pgdump.IsPartialDump("db", name); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
}
