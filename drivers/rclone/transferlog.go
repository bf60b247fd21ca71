package rclone

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// The sync's log is rclone's text log at debug level (-vv): each file it
// copied ("INFO  : books/a.epub: Copied (new)") and each file it found
// the same on both sides ("DEBUG : books/b.epub: Unchanged skipping"),
// one line each, read as they come. The second kind is how the verify
// that follows learns what the destination holds without listing it
// again (verify.go). Not JSON (--use-json-log), though it names a file
// unambiguously: rclone 1.60 writes its JSON log so slowly that -vv with
// it costs four times the sync itself at 100,000 files (measured: 5.7 to
// 7 s against 1.3 s), and the text log about a third more. The text
// line puts the file's name between a fixed prefix and a fixed message,
// so the name is read exactly unless it holds a line break, which no
// line-based list of files can carry anyway (--files-from-raw).

// rcloneTransferLog reads the text log of the passes of one sync or copy
// (-vv): the files copied are collected, those found unchanged go to the
// record, its stats are progress when someone watches, its other INFO and
// DEBUG lines are dropped, and everything else goes on to the output tail,
// as rclone prints it without -v.
type rcloneTransferLog struct {
	watched bool
	seen    map[string]bool
	copied  []string // in the order rclone copied them, each once; never nil
	// added is how many of copied were new to the destination (not
	// replacing a file there): what the mirror guard takes off its count
	// of the mirror, to judge the mirror as it was before this run.
	added int64
	// Of the current pass: files is how many files the source held as
	// rclone saw them (copied or unchanged), held whether rclone stopped
	// at --max-delete (deletions held back).
	files int64
	held  bool
	// record takes the files found unchanged (nil: none is kept).
	record *rcloneUnchangedRecord
	// inStats: the lines that follow are a stats block's; stats is what
	// the block has said so far.
	inStats bool
	stats   proc.Progress
}

func newRcloneTransferLog(watched bool, record *rcloneUnchangedRecord) *rcloneTransferLog {
	return &rcloneTransferLog{watched: watched, copied: []string{}, record: record}
}

// startPass forgets what the previous pass (or attempt) said about the
// source and the destination: each pass lists them anew.
func (l *rcloneTransferLog) startPass() {
	l.files, l.held, l.inStats = 0, false, false
	l.record.reset()
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

// Messages of rclone 1.60 the log acts on.
const (
	rcloneUnchangedMsg = ": Unchanged skipping"
	// operations.DeleteFile, when --max-delete is reached: with
	// --max-delete=0 the first deletion a sync would make.
	rcloneMaxDeleteMsg = "Got fatal error on delete: --max-delete threshold reached"
)

// rcloneCopiedRE is the message rclone 1.60 logs for a file it copied
// (operations.Copy: "Copied (new)", "Copied (replaced existing)",
// "Copied (server-side copy)", "Copied (Rcat, new)", "Multi-thread
// Copied (new)", and " to: NAME" when the destination's name differs).
// "Updated modification time in destination" writes no data.
var rcloneCopiedRE = regexp.MustCompile(`^(Multi-thread )?Copied \([^)]*\)( to: .*)?$`)

// rcloneCopied reads "PATH: Copied (...)": the file's path, and whether
// it replaced a file of the destination. The path may itself hold
// ": Copied (": the first split whose rest is a whole message is it.
func rcloneCopied(msg string) (path string, replaced, ok bool) {
	for from := 0; ; {
		i := strings.Index(msg[from:], ": ")
		if i < 0 {
			return "", false, false
		}
		i += from
		if rest := msg[i+2:]; rcloneCopiedRE.MatchString(rest) {
			before, _, _ := strings.Cut(rest, ")")
			return msg[:i], strings.Contains(before, "replaced"), i > 0
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
			l.files++
			l.record.add(p)
		}
		return proc.Progress{}, false, nil
	case len(bytes.TrimSpace(msg)) == 0 && (level == "INFO" || level == "NOTICE"):
		// The stats block: its lines follow.
		l.inStats, l.stats = true, proc.Progress{Percent: -1, ETA: -1}
		return proc.Progress{}, false, nil
	case level == "INFO":
		if p, replaced, ok := rcloneCopied(string(msg)); ok {
			l.files++
			if l.seen == nil {
				l.seen = map[string]bool{}
			}
			if !l.seen[p] { // a retried sync, or a second pass, logs a file again
				l.seen[p] = true
				l.copied = append(l.copied, p)
				if !replaced {
					l.added++
				}
			}
		}
		return proc.Progress{}, false, nil
	case level == "ERROR" && string(msg) == rcloneMaxDeleteMsg:
		l.held = true
	case level == "ERROR" && bytes.HasPrefix(msg, []byte("Attempt ")) && bytes.Contains(msg, []byte(" failed with ")):
		// rclone runs the whole sync again: it lists everything anew.
		l.startPass()
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

// The record of the files a backup found unchanged is a private file in
// the target's TempDir, one path a line, written while rclone runs and
// renamed to its name only when the backup succeeded: the verify that
// follows finds it complete or not at all, and removes it.
type rcloneUnchangedRecord struct {
	path string // the finished record's; the file is written at path+".partial"
	f    *os.File
	w    *bufio.Writer
	err  error
}

// rcloneUnchangedPath is where t's record is kept; "" when t has no
// TempDir (then none is, and the verify lists the destination).
func rcloneUnchangedPath(t *drivers.Target) string {
	if t.TempDir == "" {
		return ""
	}
	return filepath.Join(t.TempDir, "rclone-unchanged-"+t.Name)
}

func newRcloneUnchangedRecord(t *drivers.Target) (*rcloneUnchangedRecord, error) {
	p := rcloneUnchangedPath(t)
	if p == "" {
		return nil, nil
	}
	os.Remove(p) // an earlier run's, never read
	if err := os.MkdirAll(t.TempDir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p+".partial", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	return &rcloneUnchangedRecord{path: p, f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

func (r *rcloneUnchangedRecord) add(p []byte) {
	if r == nil || r.err != nil {
		return
	}
	r.w.Write(p)
	r.err = r.w.WriteByte('\n')
}

// reset empties the record: a new pass or attempt lists everything again.
func (r *rcloneUnchangedRecord) reset() {
	if r == nil || r.err != nil {
		return
	}
	r.w.Reset(r.f)
	if r.err = r.f.Truncate(0); r.err == nil {
		_, r.err = r.f.Seek(0, 0)
	}
}

// finish completes the record; when it cannot, none is left and the
// verify lists the destination instead.
func (r *rcloneUnchangedRecord) finish() {
	if r == nil {
		return
	}
	if r.err == nil {
		r.err = r.w.Flush()
	}
	if err := r.f.Close(); r.err == nil {
		r.err = err
	}
	if r.err == nil {
		r.err = os.Rename(r.f.Name(), r.path)
	}
	if r.err != nil {
		os.Remove(r.f.Name())
	}
}

func (r *rcloneUnchangedRecord) abandon() {
	if r == nil {
		return
	}
	r.f.Close()
	os.Remove(r.f.Name())
}

// readRcloneUnchanged hands each path of the record at p to visit, one
// line at a time.
func readRcloneUnchanged(p string, visit func(path string)) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if sc.Text() != "" {
			visit(sc.Text())
		}
	}
	return sc.Err()
}
