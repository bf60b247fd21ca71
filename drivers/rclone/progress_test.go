package rclone

import (
	"slices"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/progresstest"
)

// Lines below were printed by the tools on Debian 12 (restic 0.14, rsync
// 3.2 protocol 32, borg 1.2.4, rclone 1.60.1).

const rcloneStatsLine = `{"level":"warning","msg":"\nTransferred: ...","source":"accounting/stats.go:482","stats":{"bytes":94729984,"checks":0,"elapsedTime":1.63,"errors":0,"eta":2,"speed":64634095.4,"totalBytes":110000000,"totalTransfers":4,"transferring":[{"bytes":34729984,"name":"big","size":50000000}],"transfers":3},"time":"2026-11-26T06:42:02.841243+00:00"}`

func TestRcloneTransferLogProgress(t *testing.T) {
	watched := &rcloneTransferLog{watched: true}
	p, ok, _ := watched.parse([]byte(rcloneStatsLine))
	if !ok || p.Bytes != 94729984 || p.Total != 110000000 || p.Files != 3 || p.Item != "big" || p.ETA != 2*time.Second || int(p.Percent) != 86 {
		t.Errorf("stats = %+v, %v", p, ok)
	}
	p, ok, _ = watched.parse([]byte(`{"level":"warning","msg":"x","stats":{"bytes":0,"eta":null,"totalBytes":0}}`))
	if !ok || p.ETA >= 0 || p.Percent >= 0 {
		t.Errorf("stats without a total = %+v", p)
	}
	// Unwatched, the stats (rclone -v prints them once, at the end) are
	// neither progress nor output.
	if _, ok, keep := (&rcloneTransferLog{}).parse([]byte(rcloneStatsLine)); ok || keep != nil {
		t.Errorf("unwatched stats: progress %v, kept %q", ok, keep)
	}
}

// The sync's log, line by line: the files it copied are collected, each
// once and in order, and leave the output; its other INFO lines leave it
// too (rclone without -v prints none); everything else stays, as text.
func TestRcloneTransferLog(t *testing.T) {
	for _, c := range []struct {
		name, line string
		copied     string // the file collected; "" none
		keep       string // what goes on to the output tail
	}{
		{"new", `{"level":"info","msg":"Copied (new)","object":"books/a.epub","objectType":"*local.Object","source":"operations/operations.go:566","time":"2026-12-07T00:07:12.54248+00:00"}`, "books/a.epub", ""},
		{"replaced", `{"level":"info","msg":"Copied (replaced existing)","object":"keep","objectType":"*local.Object"}`, "keep", ""},
		{"server-side", `{"level":"info","msg":"Copied (server-side copy)","object":"x/y","objectType":"*s3.Object"}`, "x/y", ""},
		{"multi-thread", `{"level":"info","msg":"Multi-thread Copied (new)","object":"big.iso","objectType":"*local.Object"}`, "big.iso", ""},
		{"streamed", `{"level":"info","msg":"Copied (Rcat, new)","object":"s","objectType":"*local.Object"}`, "s", ""},
		{"renamed on the way", `{"level":"info","msg":"Copied (new) to: B.epub","object":"b.epub","objectType":"*local.Object"}`, "b.epub", ""},
		{"a name that looks like a log line", `{"level":"info","msg":"Copied (new)","object":"we:ird #name: Copied (new).txt","objectType":"*local.Object"}`, "we:ird #name: Copied (new).txt", ""},
		{"deleted", `{"level":"info","msg":"Deleted","object":"gone","objectType":"*local.Object"}`, "", ""},
		{"mtime only", `{"level":"info","msg":"Updated modification time in destination","object":"t","objectType":"*local.Object"}`, "", ""},
		{"nothing to do", `{"level":"info","msg":"There was nothing to transfer","source":"sync/sync.go:1"}`, "", ""},
		{"error", `{"level":"error","msg":"Failed to copy: mkdir /dev/null: not a directory","object":"a","objectType":"*local.Object","source":"operations/operations.go:538","time":"2026-11-26T06:45:37.320364+00:00"}`, "", "ERROR: a: Failed to copy: mkdir /dev/null: not a directory"},
		{"notice", `{"level":"notice","msg":"Time may be set wrong - time from \"x\" is -1h0m0s different from this computer","source":"s3/s3.go:1"}`, "", `NOTICE: Time may be set wrong - time from "x" is -1h0m0s different from this computer`},
		{"rclone's last, plain line", "2026/11/26 06:45:37 Failed to copy: mkdir /dev/null: not a directory", "", "2026/11/26 06:45:37 Failed to copy: mkdir /dev/null: not a directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := &rcloneTransferLog{copied: []string{}}
			_, ok, keep := l.parse([]byte(c.line))
			if ok || string(keep) != c.keep {
				t.Errorf("progress %v, kept %q, want %q", ok, keep, c.keep)
			}
			want := []string{}
			if c.copied != "" {
				want = append(want, c.copied)
			}
			if !slices.Equal(l.copied, want) {
				t.Errorf("copied %q, want %q", l.copied, want)
			}
		})
	}
	// A sync that retries logs a file again: it was sent once.
	l := &rcloneTransferLog{copied: []string{}}
	for _, o := range []string{"a", "b", "a"} {
		l.parse([]byte(`{"level":"info","msg":"Copied (new)","object":"` + o + `"}`))
	}
	if !slices.Equal(l.copied, []string{"a", "b"}) {
		t.Errorf("copied %q", l.copied)
	}
}

// Progress flags only when someone watches, only on the command doing the
// work. Its log is read either way: it names the files the run sent.
func TestRcloneProgressOnlyWhenWatched(t *testing.T) {
	progresstest.Check(t, progresstest.Case{Name: "rclone", Watched: []string{"--stats=1s", "--stats-log-level=NOTICE"},
		Build: func(w bool) []proc.Command {
			tg := &drivers.Target{Name: "offsite", Driver: "rclone", Impl: Driver{}, Progress: w, Settings: drivers.Values{"source": "/srv", "destination": "r:b"}}
			c, _ := Driver{}.transferCommand(tg, nil)
			return []proc.Command{c}
		}})
}
