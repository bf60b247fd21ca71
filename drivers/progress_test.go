package drivers

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Lines below were printed by the tools on Debian 12 (restic 0.14, rsync
// 3.2 protocol 32, borg 1.2.4, rclone 1.60.1).

func TestParseResticStatus(t *testing.T) {
	p, ok, _ := parseResticStatus([]byte(`{"message_type":"status","seconds_elapsed":2,"seconds_remaining":6,"percent_done":0.25,"total_files":3,"files_done":1,"total_bytes":100000000,"bytes_done":25000000,"current_files":["/srv/library/big.pdf"]}`))
	want := Progress{Bytes: 25000000, Total: 100000000, Percent: 25, Files: 1, Rate: 12500000, ETA: 6 * time.Second, Item: "/srv/library/big.pdf"}
	if !ok || p != want {
		t.Errorf("status = %+v, %v; want %+v", p, ok, want)
	}
	summary := []byte(`{"message_type":"summary","snapshot_id":"abc"}`)
	if _, ok, keep := parseResticStatus(summary); ok || string(keep) != string(summary) {
		t.Errorf("the summary must stay in the tail: ok=%v keep=%q", ok, keep)
	}
}

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

func TestParseBorgLogJSON(t *testing.T) {
	p, ok, _ := parseBorgLogJSON([]byte(`{"original_size": 60000000, "compressed_size": 60001075, "deduplicated_size": 60001075, "nfiles": 2, "path": "src/f1", "time": 1795675314.79, "type": "archive_progress", "finished": false}`))
	if !ok || p.Bytes != 60000000 || p.Files != 2 || p.Item != "src/f1" || p.Percent >= 0 {
		t.Errorf("archive_progress = %+v, %v", p, ok)
	}
	_, ok, keep := parseBorgLogJSON([]byte(`{"type": "log_message", "time": 1795675318.82, "message": "Archive a1 already exists", "levelname": "ERROR", "name": "borg.archiver", "msgid": "Archive.AlreadyExists"}`))
	if ok || string(keep) != "Archive a1 already exists" {
		t.Errorf("log_message kept as %q", keep)
	}
	_, ok, keep = parseBorgLogJSON([]byte(`{"message": "Initializing cache transaction: Reading config", "operation": 1, "msgid": "cache.begin_transaction", "type": "progress_message", "finished": false, "time": 1795675314.38}`))
	if ok || keep != nil {
		t.Errorf("progress_message kept as %q", keep)
	}
	p, ok, _ = parseBorgLogJSON([]byte(`{"message": "Checking segments 16.7%", "current": 2, "total": 6, "info": null, "operation": 1, "msgid": "repository.check", "type": "progress_percent", "finished": false, "time": 1795677830.2273216}`))
	if !ok || int(p.Percent*10) != 333 || p.Item != "Checking segments" || p.Bytes != 0 {
		t.Errorf("progress_percent = %+v, %v", p, ok)
	}
	if _, ok, keep := parseBorgLogJSON([]byte(`{"operation": 1, "msgid": "repository.check", "type": "progress_percent", "finished": true, "time": 1795677831.23}`)); ok || keep != nil {
		t.Errorf("a finished progress_percent: ok=%v keep=%q", ok, keep)
	}
	plain := []byte("Traceback (most recent call last):")
	if _, _, keep := parseBorgLogJSON(plain); string(keep) != string(plain) {
		t.Errorf("a plain line was changed to %q", keep)
	}
}

func TestParseRcloneJSONLog(t *testing.T) {
	p, ok, _ := parseRcloneJSONLog([]byte(`{"level":"warning","msg":"\nTransferred: ...","source":"accounting/stats.go:482","stats":{"bytes":94729984,"checks":0,"elapsedTime":1.63,"errors":0,"eta":2,"speed":64634095.4,"totalBytes":110000000,"totalTransfers":4,"transferring":[{"bytes":34729984,"name":"big","size":50000000}],"transfers":3},"time":"2026-11-26T06:42:02.841243+00:00"}`))
	if !ok || p.Bytes != 94729984 || p.Total != 110000000 || p.Files != 3 || p.Item != "big" || p.ETA != 2*time.Second || int(p.Percent) != 86 {
		t.Errorf("stats = %+v, %v", p, ok)
	}
	p, ok, _ = parseRcloneJSONLog([]byte(`{"level":"warning","msg":"x","stats":{"bytes":0,"eta":null,"totalBytes":0}}`))
	if !ok || p.ETA >= 0 || p.Percent >= 0 {
		t.Errorf("stats without a total = %+v", p)
	}
	_, ok, keep := parseRcloneJSONLog([]byte(`{"level":"error","msg":"Failed to copy: mkdir /dev/null: not a directory","object":"a","objectType":"*local.Object","source":"operations/operations.go:538","time":"2026-11-26T06:45:37.320364+00:00"}`))
	if ok || string(keep) != "ERROR: a: Failed to copy: mkdir /dev/null: not a directory" {
		t.Errorf("error line kept as %q", keep)
	}
	fatal := []byte("2026/11/26 06:45:37 Failed to copy: mkdir /dev/null: not a directory")
	if _, _, keep := parseRcloneJSONLog(fatal); string(keep) != string(fatal) {
		t.Errorf("rclone's last, plain line was changed to %q", keep)
	}
}

// Progress flags appear only when someone watches (Target.Progress), and
// only on the command that does the backup: what cron runs, and what
// --dry-run and the golden files show, stays as it was.
func TestProgressFlagsOnlyWhenWatched(t *testing.T) {
	m := &DumpManifest{}
	commands := map[string]func(t *Target) []Command{
		"restic": func(t *Target) []Command { return []Command{Restic{}.backupCommand(t)} },
		"rsync":  func(t *Target) []Command { return []Command{Rsync{}.backupCommand(t)} },
		"borg":   func(t *Target) []Command { return []Command{Borg{}.createCommand(t)} },
		"rclone": func(t *Target) []Command { return []Command{Rclone{}.transferCommand(t, nil)} },
		"into restic": func(t *Target) []Command {
			return []Command{resticStore{}.storeCommand(t, m, ""), resticStore{}.manifestCommand(t, m, "abcd", nil)}
		},
		"into borg":  func(t *Target) []Command { return []Command{borgStore{}.storeCommand(t, m, "")} },
		"borg check": func(t *Target) []Command { return []Command{Borg{}.checkCommand(t, "library@x")} },
	}
	targets := map[string]*Target{
		"restic":      {Name: "library", Driver: "restic", Impl: Restic{}, Settings: Values{"repository": "/r", "paths": []string{"/srv"}}},
		"rsync":       {Name: "mirror", Driver: "rsync", Impl: Rsync{}, Settings: Values{"source": "/srv/", "destination": "/m"}},
		"borg":        {Name: "library", Driver: "borg", Impl: Borg{}, Settings: Values{"repository": "/r", "paths": []string{"/srv"}}},
		"rclone":      {Name: "offsite", Driver: "rclone", Impl: Rclone{}, Settings: Values{"source": "/srv", "destination": "r:b"}},
		"into restic": streamTargets("restic"),
		"into borg":   streamTargets("borg"),
		"borg check":  {Name: "library", Driver: "borg", Impl: Borg{}, Settings: Values{"repository": "/r", "paths": []string{"/srv"}}},
	}
	// Words of the backup command only when watched, and only when not.
	type words struct{ watched, unwatched []string }
	flags := map[string]words{
		"restic":      {unwatched: []string{"--quiet"}},
		"into restic": {unwatched: []string{"--quiet"}},
		"rsync":       {watched: []string{"--info=progress2"}},
		"borg":        {watched: []string{"--progress", "--log-json"}},
		"into borg":   {watched: []string{"--progress", "--log-json"}},
		"borg check":  {watched: []string{"--progress", "--log-json"}},
		"rclone":      {watched: []string{"--use-json-log", "--stats=1s", "--stats-log-level=NOTICE"}},
	}
	for name, build := range commands {
		for _, watched := range []bool{false, true} {
			tg := *targets[name]
			tg.Progress = watched
			cs := build(&tg)
			backup := cs[0]
			for _, w := range flags[name].watched {
				if slices.Contains(backup.Args, w) != watched {
					t.Errorf("%s, watched=%v: %s: %s", name, watched, w, backup)
				}
			}
			for _, w := range flags[name].unwatched {
				if slices.Contains(backup.Args, w) == watched {
					t.Errorf("%s, watched=%v: %s: %s", name, watched, w, backup)
				}
			}
			if watched != (backup.Progress != nil) && name != "restic" && name != "into restic" {
				t.Errorf("%s, watched=%v: progress reader %v", name, watched, backup.Progress != nil)
			}
			for _, other := range cs[1:] {
				if !strings.Contains(other.String(), "--quiet") || other.Progress != nil {
					t.Errorf("%s: a command other than the backup asks for progress: %s", name, other)
				}
			}
		}
	}
}

// watchGrowth reports the size of a file being written, and stops.
func TestWatchGrowth(t *testing.T) {
	defer func(d time.Duration) { growthInterval = d }(growthInterval)
	growthInterval = 10 * time.Millisecond
	path := t.TempDir() + "/dump.partial"
	os.WriteFile(path, make([]byte, 1000), 0o600)
	seen := make(chan Progress, 100)
	stop := watchGrowth(proc.WithTrace(context.Background(), &proc.Trace{Progress: func(p Progress) {
		select {
		case seen <- p:
		default:
		}
	}}), path)
	p := <-seen
	stop()
	if p.Bytes != 1000 || p.Percent >= 0 || p.Total != 0 {
		t.Errorf("progress of a 1000-byte file: %+v", p)
	}
	// Stopped means stopped: nothing more arrives.
	for len(seen) > 0 {
		<-seen
	}
	time.Sleep(5 * growthInterval)
	if len(seen) != 0 {
		t.Error("reports after stop")
	}
	// Nobody watching: no goroutine, nothing to stop.
	watchGrowth(context.Background(), path)()
}
