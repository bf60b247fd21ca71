package rclone

import (
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/progresstest"
)

// Lines below were printed by the tools on Debian 12 (restic 0.14, rsync
// 3.2 protocol 32, borg 1.2.4, rclone 1.60.1).

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

// Progress flags only when someone watches, only on the command doing the work.
func TestRcloneProgressOnlyWhenWatched(t *testing.T) {
	progresstest.Check(t, progresstest.Case{Name: "rclone", Watched: []string{"--use-json-log", "--stats=1s", "--stats-log-level=NOTICE"}, Reader: true,
		Build: func(w bool) []proc.Command {
			tg := &drivers.Target{Name: "offsite", Driver: "rclone", Impl: Driver{}, Progress: w, Settings: drivers.Values{"source": "/srv", "destination": "r:b"}}
			return []proc.Command{Driver{}.transferCommand(tg, nil)}
		}})
}
