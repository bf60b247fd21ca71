package borg

import (
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/progresstest"
)

// Lines below were printed by the tools on Debian 12 (restic 0.14, rsync
// 3.2 protocol 32, borg 1.2.4, rclone 1.60.1).

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
	if _, ok, keep := parseBorgLogJSON([]byte(`{"type": "file_status", "status": "A", "path": "srv/books/a.epub"}`)); ok || keep != nil {
		t.Errorf("a file_status line: ok=%v keep=%q", ok, keep)
	}
	plain := []byte("Traceback (most recent call last):")
	if _, _, keep := parseBorgLogJSON(plain); string(keep) != string(plain) {
		t.Errorf("a plain line was changed to %q", keep)
	}
}

// Progress flags only when someone watches, only on the command doing the work.
func TestBorgProgressOnlyWhenWatched(t *testing.T) {
	// borg create speaks JSON always: its --list lines name the files it
	// stored, for the verify.
	progresstest.Check(t, progresstest.Case{Name: "borg", Watched: []string{"--progress"}, Reader: true,
		Build: func(w bool) []proc.Command {
			return []proc.Command{Driver{}.createCommand(borgProgressTarget(w))}
		}},
		progresstest.Case{Name: "borg check", Watched: []string{"--progress", "--log-json"}, Reader: true,
			Build: func(w bool) []proc.Command {
				return []proc.Command{Driver{}.checkCommand(borgProgressTarget(w), "library@x")}
			}},
		progresstest.Case{Name: "into borg", Watched: []string{"--progress", "--log-json"}, Reader: true,
			Build: func(w bool) []proc.Command {
				return []proc.Command{borgStore{}.StoreCommand(borgIntoTarget(Driver{}, w), &drivers.DumpManifest{}, "")}
			}})
}

// borgIntoTarget is a pg_dump target streaming into a target of driver d.
func borgIntoTarget(d drivers.Driver, watched bool) *drivers.Target {
	into := &drivers.Target{Name: "library", Driver: d.Name(), Impl: d, Settings: drivers.Values{"repository": "/srv/repo", "host": "h"}}
	return &drivers.Target{Name: "db", Driver: "pg_dump", Progress: watched, Settings: drivers.Values{"database": "alexandria", "into": "library"}, Into: into}
}

func borgProgressTarget(watched bool) *drivers.Target {
	return &drivers.Target{Name: "library", Driver: "borg", Impl: Driver{}, Progress: watched, Settings: drivers.Values{"repository": "/r", "paths": []string{"/srv"}}}
}
