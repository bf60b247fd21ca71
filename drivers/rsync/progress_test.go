package rsync

import (
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/progresstest"
)

// Lines below were printed by the tools on Debian 12 (restic 0.14, rsync
// 3.2 protocol 32, borg 1.2.4, rclone 1.60.1).

func TestParseRsyncProgress2(t *testing.T) {
	p, ok, _ := parseRsyncProgress([]byte("     50,000,000  45%  294.15MB/s    0:00:03 (xfr#1, to-chk=3/5)"))
	if !ok || p.Bytes != 50000000 || p.Percent != 45 || p.Files != 1 || p.ETA != 3*time.Second || p.Rate < 294*(1<<20) {
		t.Errorf("to-chk line = %+v, %v", p, ok)
	}
	// While rsync still scans, its percentage is not of the whole.
	p, ok, _ = parseRsyncProgress([]byte("      1,048,576   3%    1.00MB/s    0:00:30 (xfr#2, ir-chk=1021/1100)"))
	if !ok || p.Percent >= 0 || p.ETA >= 0 || p.Bytes != 1048576 {
		t.Errorf("ir-chk line = %+v, %v", p, ok)
	}
	p, ok, _ = parseRsyncProgress([]byte("         32,768   0%    0.00kB/s    0:00:00  "))
	if !ok || p.Bytes != 32768 {
		t.Errorf("first line = %+v, %v", p, ok)
	}
	stats := []byte("Total file size: 110,000,000 bytes")
	if _, ok, keep := parseRsyncProgress(stats); ok || string(keep) != string(stats) {
		t.Errorf("--stats lines must stay in the tail")
	}
}

// Progress flags only when someone watches, only on the command doing the work.
func TestRsyncProgressOnlyWhenWatched(t *testing.T) {
	progresstest.Check(t, progresstest.Case{Name: "rsync", Watched: []string{"--info=progress2"}, Reader: true,
		Build: func(w bool) []proc.Command {
			tg := &drivers.Target{Name: "mirror", Driver: "rsync", Impl: Driver{}, Progress: w, Settings: drivers.Values{"source": "/srv/", "destination": "/m"}}
			return []proc.Command{Driver{}.backupCommand(tg, false)}
		}})
}

// BenchmarkProgressRsync: rsync --info=progress2 lines (split at \r).
func BenchmarkProgressRsync(b *testing.B) {
	line := []byte("  315,680,000,000  28%  112.34MB/s    2:40:10 (xfr#28710, to-chk=71290/100000)")
	b.SetBytes(int64(len(line)) + 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := parseRsyncProgress(line); !ok {
			b.Fatal("not read as progress")
		}
	}
}
