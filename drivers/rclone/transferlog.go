package rclone

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// The sync's log is rclone's text log at debug level (-vv): each file it
// copied ("INFO  : books/a.epub: Copied (new)") and each file it found
// the same on both sides ("DEBUG : books/b.epub: Unchanged skipping"),
// one line each, read as they come. Both go to the record of the
// destination's files (record.go): how the verify that follows learns
// what the destination holds without listing it again, and the next
// run's guard what the mirror holds. Not JSON (--use-json-log), though it
// names a file unambiguously: rclone 1.60 writes its JSON log so slowly
// that -vv with it costs four times the sync itself at 100,000 files
// (measured: 5.7 to 7 s against 1.3 s), and the text log about a third
// more. The text line puts the file's name between a fixed prefix and a
// fixed message, so the name is read exactly; it holds no line break
// (rclone's name of a local file with one shows it as "␊", and
// --files-from-raw takes that name back).

// rcloneTransferLog reads the text log of one sync or copy (-vv): the
// files copied are collected, those copied and those found unchanged go
// to the record, its stats are progress when someone watches, its other
// INFO and DEBUG lines are dropped, and everything else goes on to the
// output tail, as rclone prints it without -v.
type rcloneTransferLog struct {
	watched bool
	// record takes every file copied or found unchanged; it is then
	// what the run sent too (the Artifact's Written names it), and no
	// name is held in memory: 100,000 of them are megabytes.
	record *rcloneRecord
	// Without a record, copied are the files copied, in the order rclone
	// copied them, each once; never nil. seen is the set of them once
	// rclone retried the sync (nil before: a sync logs each copy once).
	seen   map[string]bool
	copied []string
	// inStats: the lines that follow are a stats block's; stats is what
	// the block has said so far.
	inStats bool
	stats   proc.Progress
}

func newRcloneTransferLog(watched bool, record *rcloneRecord) *rcloneTransferLog {
	return &rcloneTransferLog{watched: watched, copied: []string{}, record: record}
}

// rcloneLevels are the levels rclone 1.60 starts a text log line with,
// as "%-6s: " ("INFO  : ", "ERROR : ", "NOTICE: ").
var rcloneLevels = map[string]bool{"DEBUG": true, "INFO": true, "NOTICE": true, "WARNING": true,
	"ERROR": true, "CRITICAL": true, "ALERT": true, "EMERGENCY": true}

// rcloneLevel splits a text log line into its level and its message; ok
// is false for a line that does not start with a level (a stats block's,
// rclone's last plain line, the rest of a message holding a line break).
func rcloneLevel(line []byte) (level string, msg []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i < 4 || i > 9 || (i+1 < len(line) && line[i+1] != ' ') {
		return "", nil, false
	}
	level = string(bytes.TrimRight(line[:i], " "))
	if !rcloneLevels[level] {
		return "", nil, false
	}
	if i+2 <= len(line) {
		msg = line[i+2:]
	}
	return level, msg, true
}

// rcloneUnchangedMsg is how rclone 1.60 logs (-vv) a file it found the
// same on both sides (operations.NeedTransfer), after updating only its
// modification time too.
const rcloneUnchangedMsg = ": Unchanged skipping"

// rcloneCopiedRE is the message rclone 1.60 logs for a file it copied
// (operations.Copy: "Copied (new)", "Copied (replaced existing)",
// "Copied (server-side copy)", "Copied (Rcat, new)", "Multi-thread
// Copied (new)", and " to: NAME" when the destination's name differs).
// "Updated modification time in destination" writes no data.
var rcloneCopiedRE = regexp.MustCompile(`^(Multi-thread )?Copied \([^)]*\)( to: .*)?$`)

// rcloneCopied reads "PATH: Copied (...)": the file's path. The path may
// itself hold ": Copied (": the first split whose rest is a whole message
// is it.
func rcloneCopied(msg string) (path string, ok bool) {
	for from := 0; ; {
		i := strings.Index(msg[from:], ": ")
		if i < 0 {
			return "", false
		}
		i += from
		if rcloneCopiedRE.MatchString(msg[i+2:]) {
			return msg[:i], i > 0
		}
		from = i + 1
	}
}

func (l *rcloneTransferLog) parse(line []byte) (proc.Progress, bool, []byte) {
	level, msg, ok := rcloneLevel(line)
	if !ok {
		if l.inStats && rcloneStatsLine(line) {
			return l.statsLine(line)
		}
		l.inStats = false
		return proc.Progress{}, false, line
	}
	l.inStats = false
	switch {
	case level == "DEBUG":
		if p, ok := bytes.CutSuffix(msg, []byte(rcloneUnchangedMsg)); ok && len(p) > 0 {
			l.record.add(recordUnchanged, p)
		}
		return proc.Progress{}, false, nil
	case len(bytes.TrimSpace(msg)) == 0 && (level == "INFO" || level == "NOTICE"):
		// The stats block: its lines follow.
		l.inStats, l.stats = true, proc.Progress{Percent: -1, ETA: -1}
		return proc.Progress{}, false, nil
	case level == "INFO":
		if p, ok := rcloneCopied(string(msg)); ok {
			if l.record != nil {
				l.record.add(recordCopied, []byte(p))
			} else if l.seen == nil || !l.seen[p] {
				if l.seen != nil {
					l.seen[p] = true
				}
				l.copied = append(l.copied, p)
			}
		}
		return proc.Progress{}, false, nil
	case level == "ERROR" && bytes.HasPrefix(msg, []byte("Attempt ")) && bytes.Contains(msg, []byte(" failed with ")):
		// rclone runs the whole sync again: it lists everything anew,
		// and logs again each file it finds (those it copied before as
		// unchanged); what it copied stays sent, and may be copied
		// again: from now on each is collected once. (Only then: a set
		// of 100,000 names is megabytes.)
		l.record.retried()
		l.inStats = false
		if l.record == nil && l.seen == nil {
			l.seen = make(map[string]bool, len(l.copied))
			for _, p := range l.copied {
				l.seen[p] = true
			}
		}
	}
	// As rclone's JSON log read as text always said it: "ERROR: a: ...".
	return proc.Progress{}, false, append([]byte(level+": "), msg...)
}

// rcloneStatsLabelRE is a line of a stats block ("Transferred:   ...",
// "Elapsed time:  ...", " *  name: 35% /28.610Mi, ...").
var rcloneStatsLabelRE = regexp.MustCompile(`^([A-Z][A-Za-z ]*:|  *\* )`)

func rcloneStatsLine(line []byte) bool { return rcloneStatsLabelRE.Match(line) }

var (
	rcloneStatsBytesRE = regexp.MustCompile(`^Transferred:\s+([\d.]+ ?[KMGTPE]?i?B) / ([\d.]+ ?[KMGTPE]?i?B), [^,]*, ([\d.]+ ?[KMGTPE]?i?B)/s, ETA (\S+)`)
	rcloneStatsFilesRE = regexp.MustCompile(`^Transferred:\s+(\d+) / (\d+), `)
)

// statsLine reads one line of a stats block: the bytes and the files
// transferred; the block's progress is reported at its "Elapsed time"
// line, and again with its first file being transferred, if any.
func (l *rcloneTransferLog) statsLine(line []byte) (proc.Progress, bool, []byte) {
	if !l.watched {
		return proc.Progress{}, false, nil
	}
	s := string(line)
	p := &l.stats
	if m := rcloneStatsBytesRE.FindStringSubmatch(s); m != nil {
		p.Bytes, p.Total, p.Rate = rcloneBytes(m[1]), rcloneBytes(m[2]), float64(rcloneBytes(m[3]))
		p.Percent, p.ETA = -1, -1
		if p.Total > 0 {
			p.Percent = 100 * float64(p.Bytes) / float64(p.Total)
		}
		if d, err := time.ParseDuration(m[4]); err == nil {
			p.ETA = d
		}
		return proc.Progress{}, false, nil
	}
	if m := rcloneStatsFilesRE.FindStringSubmatch(s); m != nil {
		p.Files, _ = strconv.ParseInt(m[1], 10, 64)
		return proc.Progress{}, false, nil
	}
	if strings.HasPrefix(s, "Elapsed time:") {
		return *p, true, nil
	}
	if item, ok := strings.CutPrefix(strings.TrimLeft(s, " "), "* "); ok && p.Item == "" {
		if i := strings.LastIndex(item, ": "); i > 0 {
			p.Item = strings.TrimSpace(item[:i])
			return *p, true, nil
		}
	}
	return proc.Progress{}, false, nil
}

// rcloneBytes reads a size as rclone's stats print it: "0 B", "10.027
// MiB" (to the thousandth of the unit).
func rcloneBytes(s string) int64 {
	num, unit, _ := strings.Cut(s, " ")
	if unit == "" {
		i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i < 0 {
			return 0
		}
		num, unit = s[:i], s[i:]
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0
	}
	if i := strings.IndexByte("KMGTPE", unit[0]); i >= 0 {
		f *= float64(int64(1) << (10 * (i + 1)))
	}
	return int64(f + 0.5)
}
