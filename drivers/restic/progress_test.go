package restic

import (
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/progresstest"
)

// Lines below were printed by the tools on Debian 12 (restic 0.14, rsync
// 3.2 protocol 32, borg 1.2.4, rclone 1.60.1).

func TestParseResticStatus(t *testing.T) {
	p, ok, _ := parseResticStatus([]byte(`{"message_type":"status","seconds_elapsed":2,"seconds_remaining":6,"percent_done":0.25,"total_files":3,"files_done":1,"total_bytes":100000000,"bytes_done":25000000,"current_files":["/srv/library/big.pdf"]}`))
	want := proc.Progress{Bytes: 25000000, Total: 100000000, Percent: 25, Files: 1, Rate: 12500000, ETA: 6 * time.Second, Item: "/srv/library/big.pdf"}
	if !ok || p != want {
		t.Errorf("status = %+v, %v; want %+v", p, ok, want)
	}
	summary := []byte(`{"message_type":"summary","snapshot_id":"abc"}`)
	if _, ok, keep := parseResticStatus(summary); ok || string(keep) != string(summary) {
		t.Errorf("the summary must stay in the tail: ok=%v keep=%q", ok, keep)
	}
}

// Progress flags only when someone watches, only on the command doing the work.
func TestResticProgressOnlyWhenWatched(t *testing.T) {
	progresstest.Check(t, progresstest.Case{Name: "restic", Unwatched: []string{"--quiet"},
		Build: func(w bool) []proc.Command {
			tg := &drivers.Target{Name: "library", Driver: "restic", Impl: Driver{}, Progress: w, Settings: drivers.Values{"repository": "/r", "paths": []string{"/srv"}}}
			return []proc.Command{Driver{}.backupCommand(tg)}
		}},
		progresstest.Case{Name: "into restic", Unwatched: []string{"--quiet"},
			Build: func(w bool) []proc.Command {
				m := &drivers.DumpManifest{}
				tg := resticIntoTarget(Driver{}, w)
				return []proc.Command{resticStore{}.StoreCommand(tg, m, ""), resticStore{}.manifestCommand(tg, m, "abcd", nil)}
			}})
}

// resticIntoTarget is a pg_dump target streaming into a target of driver d.
func resticIntoTarget(d drivers.Driver, watched bool) *drivers.Target {
	into := &drivers.Target{Name: "library", Driver: d.Name(), Impl: d, Settings: drivers.Values{"repository": "/srv/repo", "host": "h"}}
	return &drivers.Target{Name: "db", Driver: "pg_dump", Progress: watched, Settings: drivers.Values{"database": "alexandria", "into": "library"}, Into: into}
}

// BenchmarkProgressRestic: restic prints a JSON status line 60 times a
// second for the whole backup; reading them must cost next to nothing
// (the target: well under 10 µs a line, so under 0.1% of one core).
func BenchmarkProgressRestic(b *testing.B) {
	line := []byte(`{"message_type":"status","seconds_elapsed":12,"seconds_remaining":30,"percent_done":0.2871,"total_files":100000,"files_done":28710,"total_bytes":1099511627776,"bytes_done":315680000000,"current_files":["/srv/alexandria/library/books/some-author/some-book.epub"]}`)
	b.SetBytes(int64(len(line)) + 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := parseResticStatus(line); !ok {
			b.Fatal("not read as progress")
		}
	}
}
