package rclone

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/progresstest"
)

// Lines below were printed by rclone 1.60.1 on Debian 12 (--log-format=
// -vv, --stats=1s --stats-log-level=NOTICE when watched).

// rcloneStatsBlock is a stats block as the progress writer hands it over:
// a line at a time, without the empty ones.
var rcloneStatsBlock = []string{
	"NOTICE: ",
	"Transferred:   \t   20.027 MiB / 28.610 MiB, 70%, 10.051 MiB/s, ETA 1s",
	"Checks:                 4 / 4, 100%",
	"Transferred:            3 / 4, 75%",
	"Elapsed time:         2.0s",
	"Transferring:",
	" *                                           big: 70% /28.610Mi, 10.048Mi/s, 0s",
}

func TestRcloneTransferLogProgress(t *testing.T) {
	watched := newRcloneTransferLog(true, nil)
	var got []proc.Progress
	for _, l := range rcloneStatsBlock {
		p, ok, keep := watched.parse([]byte(l))
		if keep != nil {
			t.Errorf("a stats line went to the output: %q", keep)
		}
		if ok {
			got = append(got, p)
		}
	}
	if len(got) != 2 {
		t.Fatalf("progress %+v, want one at the elapsed time and one naming the file", got)
	}
	p := got[1]
	if p.Bytes != 20999832 || p.Total != 29999759 || p.Files != 3 || p.Item != "big" || p.ETA != time.Second || int(p.Percent) != 70 || int64(p.Rate) != 10539237 {
		t.Errorf("stats = %+v", p)
	}
	if got[0].Item != "" || got[0].Bytes != p.Bytes {
		t.Errorf("first update %+v", got[0])
	}
	// Unwatched, the stats (rclone -v prints them once, at the end) are
	// neither progress nor output; nor is the block's start.
	l := newRcloneTransferLog(false, nil)
	for _, line := range append([]string{"INFO  : "}, rcloneStatsBlock[1:]...) {
		if _, ok, keep := l.parse([]byte(line)); ok || keep != nil {
			t.Errorf("unwatched %q: progress %v, kept %q", line, ok, keep)
		}
	}
	// A plain line after the block is rclone's own last word: kept.
	if _, _, keep := l.parse([]byte("Failed to sync with 2 errors: last error was: boom")); string(keep) != "Failed to sync with 2 errors: last error was: boom" {
		t.Errorf("the last line: kept %q", keep)
	}
	for s, want := range map[string]int64{"0 B": 0, "1.000 KiB": 1024, "10 B": 10, "2.500 GiB": 5 << 29} {
		if got := rcloneBytes(s); got != want {
			t.Errorf("rcloneBytes(%q) = %d, want %d", s, got, want)
		}
	}
}

// recordOf reads a record back as "KIND|PATH" strings.
func recordOf(t *testing.T, p string) []string {
	t.Helper()
	out := []string{}
	if err := readRcloneRecord(p, nil, func(kind byte, name string) error {
		out = append(out, string(kind)+"|"+name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// recordTarget is a target whose record goes to dir.
func recordTarget(dir, name string) *drivers.Target {
	return &drivers.Target{Name: name, KeepDir: dir, Settings: drivers.Values{"source": "/srv", "destination": "r:b"}}
}

// The sync's log, line by line: the files it copied are collected, each
// once and in order, and leave the output; the files it copied and those
// it found unchanged go to the record; its other INFO and DEBUG lines
// leave the output too (rclone without -v prints none); everything else
// stays, as text.
func TestRcloneTransferLog(t *testing.T) {
	for _, c := range []struct {
		name, line string
		copied     string // the file collected; "" none
		recorded   string // "KIND|PATH" recorded; "" none
		keep       string // what goes on to the output tail
	}{
		{"new", `INFO  : books/a.epub: Copied (new)`, "books/a.epub", "C|books/a.epub", ""},
		{"replaced", `INFO  : keep: Copied (replaced existing)`, "keep", "C|keep", ""},
		{"server-side", `INFO  : x/y: Copied (server-side copy)`, "x/y", "C|x/y", ""},
		{"multi-thread", `INFO  : big.iso: Multi-thread Copied (new)`, "big.iso", "C|big.iso", ""},
		{"streamed", `INFO  : s: Copied (Rcat, new)`, "s", "C|s", ""},
		{"renamed on the way", `INFO  : b.epub: Copied (new) to: B.epub`, "b.epub", "C|b.epub", ""},
		{"a name that looks like a log line", `INFO  : we:ird #name: Copied (new).txt: Copied (new)`, "we:ird #name: Copied (new).txt", "C|we:ird #name: Copied (new).txt", ""},
		{"a name with a colon", `INFO  : a: b.epub: Copied (new)`, "a: b.epub", "C|a: b.epub", ""},
		{"a name with a line break, as rclone names it", "INFO  : new\u240aline: Copied (new)", "new\u240aline", "C|new\u240aline", ""},
		{"unchanged", `DEBUG : books/b b.epub: Unchanged skipping`, "", "U|books/b b.epub", ""},
		{"unchanged, a name that looks like the message", `DEBUG : x: Unchanged skipping: Unchanged skipping`, "", "U|x: Unchanged skipping", ""},
		{"compared", `DEBUG : books/b.epub: Size and modification time the same (differ by 0s, within tolerance 1ns)`, "", "", ""},
		{"deleted", `INFO  : gone: Deleted`, "", "", ""},
		{"mtime only", `INFO  : t: Updated modification time in destination`, "", "", ""},
		{"nothing to do", `INFO  : There was nothing to transfer`, "", "", ""},
		{"max_delete reached", `ERROR : Got fatal error on delete: --max-delete threshold reached`, "", "", "ERROR: Got fatal error on delete: --max-delete threshold reached"},
		{"error", `ERROR : a: Failed to copy: mkdir /dev/null: not a directory`, "", "", "ERROR: a: Failed to copy: mkdir /dev/null: not a directory"},
		{"notice", `NOTICE: Time may be set wrong - time from "x" is -1h0m0s different from this computer`, "", "", `NOTICE: Time may be set wrong - time from "x" is -1h0m0s different from this computer`},
		{"rclone's last, plain line", "Failed to copy: mkdir /dev/null: not a directory", "", "", "Failed to copy: mkdir /dev/null: not a directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := recordTarget(t.TempDir(), "x")
			rec, err := newRcloneRecord(tg)
			if err != nil {
				t.Fatal(err)
			}
			// With a record, it alone holds the names; without one
			// (none could be started), the log collects what was copied.
			withRecord, without := newRcloneTransferLog(false, rec), newRcloneTransferLog(false, nil)
			for _, l := range []*rcloneTransferLog{withRecord, without} {
				_, ok, keep := l.parse([]byte(c.line))
				if ok || string(keep) != c.keep {
					t.Errorf("progress %v, kept %q, want %q", ok, keep, c.keep)
				}
			}
			want := []string{}
			if c.copied != "" {
				want = append(want, c.copied)
			}
			if !slices.Equal(without.copied, want) || len(withRecord.copied) != 0 {
				t.Errorf("collected %q without a record and %q with one, want %q and none", without.copied, withRecord.copied, want)
			}
			if err := rec.finish(); err != nil {
				t.Fatal(err)
			}
			wantRec := []string{}
			if c.recorded != "" {
				wantRec = append(wantRec, c.recorded)
			}
			if got := recordOf(t, recordPath(tg)); !slices.Equal(got, wantRec) {
				t.Errorf("recorded %q, want %q", got, wantRec)
			}
		})
	}
	// A sync that retries logs a file again: it was sent once. The retry
	// lists everything anew: the record keeps what was copied, each file
	// once, and starts the rest again; so does a second retry.
	tg := recordTarget(t.TempDir(), "x")
	for _, c := range []struct {
		lines          []string
		copied, record []string
	}{
		{[]string{"INFO  : a: Copied (new)", "DEBUG : u: Unchanged skipping", "INFO  : b: Copied (new)",
			"ERROR : Attempt 1/3 failed with 1 errors and: boom", "DEBUG : a: Unchanged skipping", "DEBUG : u: Unchanged skipping", "INFO  : a: Copied (replaced existing)", "DEBUG : b: Unchanged skipping"},
			[]string{"a", "b"}, []string{"C|a", "C|b", "U|u"}},
		{[]string{"INFO  : a: Copied (new)", "DEBUG : u: Unchanged skipping", "DEBUG : v: Unchanged skipping",
			"ERROR : Attempt 1/3 failed with 1 errors and: boom", "DEBUG : a: Unchanged skipping", "INFO  : c: Copied (new)", "DEBUG : u: Unchanged skipping",
			"ERROR : Attempt 2/3 failed with 1 errors and: boom", "DEBUG : c: Unchanged skipping", "DEBUG : a: Unchanged skipping", "INFO  : v: Copied (new)", "DEBUG : u: Unchanged skipping"},
			[]string{"a", "c", "v"}, []string{"C|a", "C|c", "C|v", "U|u"}},
	} {
		rec, _ := newRcloneRecord(tg)
		withRecord, without := newRcloneTransferLog(false, rec), newRcloneTransferLog(false, nil)
		for _, line := range c.lines {
			withRecord.parse([]byte(line))
			without.parse([]byte(line))
		}
		if err := rec.finish(); err != nil {
			t.Fatal(err)
		}
		if got := recordOf(t, recordPath(tg)); !slices.Equal(without.copied, c.copied) || !slices.Equal(got, c.record) {
			t.Errorf("collected %q, recorded %q; want %q, %q", without.copied, got, c.copied, c.record)
		}
		if left, _ := os.ReadDir(tg.KeepDir); len(left) != 1 {
			t.Errorf("the record being written is left: %v", left)
		}
	}
	// An abandoned record leaves the last one as it was.
	before, _ := os.ReadFile(recordPath(tg))
	rec, _ := newRcloneRecord(tg)
	rec.add(recordUnchanged, []byte("v"))
	rec.abandon()
	after, _ := os.ReadFile(recordPath(tg))
	if left, _ := os.ReadDir(tg.KeepDir); len(left) != 1 || string(after) != string(before) {
		t.Errorf("left %v, the last record %q → %q", left, before, after)
	}
}

// Progress flags only when someone watches, only on the command doing the
// work. Its log is read either way: it names the files the run sent.
func TestRcloneProgressOnlyWhenWatched(t *testing.T) {
	progresstest.Check(t, progresstest.Case{Name: "rclone", Watched: []string{"--stats=1s", "--stats-log-level=NOTICE"},
		Build: func(w bool) []proc.Command {
			tg := &drivers.Target{Name: "offsite", Driver: "rclone", Impl: Driver{}, Progress: w, Settings: drivers.Values{"source": "/srv", "destination": "r:b"}}
			return []proc.Command{Driver{}.transferCommand(tg, nil, newRcloneTransferLog(w, nil))}
		}})
}
