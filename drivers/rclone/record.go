package rclone

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// The record of the destination's files: every file a successful sync (or
// copy) copied and every file it found unchanged, read from its log
// (transferlog.go) while it runs. After a sync that is the destination's
// file set, after excludes. Two readers use it: the verify that follows
// the backup (verify.go: what the run sent, which the Artifact's Written
// names by naming the record, and the files to slice without listing the
// destination again) and, kept in KeepDir, the next run's mirror guard
// (guard.go: an index of the mirror's files to look up in the source).
//
// It is written beside its place (".new") and renamed into it only when
// the backup succeeded, so a failed run leaves the last good one; a
// backup that succeeded but could not complete its own removes the last
// one, which no longer describes the destination.
//
// The format: a header naming what it describes, then one record per
// file, each NUL-terminated, then an end record with the count, so that a
// record cut short at any byte is told from a whole one:
//
//	alexandria-backup rclone files 1\n
//	SOURCE\0DESTINATION\0
//	C|PATH\0   a file the run copied (in any attempt: rclone may retry)
//	U|PATH\0   a file it found unchanged
//	E|COUNT\0  the end: COUNT records before it
//
// PATH is rclone's own name of the file, as its log prints it and as
// --files-from-raw takes it: relative, "/"-separated. rclone's log never
// holds a line break in a name (the local backend shows one as "␊"), but
// NUL ends a field all the same, as no file name can hold one.

const (
	rcloneRecordHeader = "alexandria-backup rclone files 1\n"
	recordCopied       = 'C'
	recordUnchanged    = 'U'
	recordEnd          = 'E'
)

func recordName(t *drivers.Target) string { return "rclone-files-" + t.Name }

// recordPath is where Backup records the destination's files: in KeepDir,
// or in TempDir when the target has none (then it serves the verify only:
// TempDir is emptied between runs); "" when it has neither.
func recordPath(t *drivers.Target) string {
	switch {
	case t.KeepDir != "":
		return filepath.Join(t.KeepDir, recordName(t))
	case t.TempDir != "":
		return filepath.Join(t.TempDir, recordName(t))
	}
	return ""
}

// recorded says whether a backup of t records the destination's files:
// for the next run's guard (guards it), or for the verify that follows it
// when that verify hashes a slice of them (not all: verify_cycle = 1).
func recorded(t *drivers.Target) bool {
	return recordPath(t) != "" && (guardsByRecord(t) || (t.Verify && t.VerifyCycle != 1))
}

// guardsByRecord says whether the record of a backup of t is the next
// run's guard index: a sync from a local source, with a KeepDir for the
// record to outlive the run (guard.go).
func guardsByRecord(t *drivers.Target) bool {
	return rcloneMode(t) == "sync" && t.KeepDir != "" && !rcloneIsRemote(t.Settings.Str("source"))
}

// rcloneRecord is the record being written while rclone runs.
type rcloneRecord struct {
	path string // its place; it is written at path+".new"
	f    *os.File
	w    *bufio.Writer
	head string // the header, written again by retried
	n    int64  // records written
	err  error
	// sent is, once rclone retried the sync, the files it copied before:
	// the retry logs them again (as unchanged, or copied again), and
	// they are recorded once, as copied. nil before a retry.
	sent *pathSet
}

// newRcloneRecord starts t's record. The last run's stays in its place
// until this one replaces it.
func newRcloneRecord(t *drivers.Target) (*rcloneRecord, error) {
	p := recordPath(t)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p+".new", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	head := rcloneRecordHeader + t.Settings.Str("source") + "\x00" + t.Settings.Str("destination") + "\x00"
	r := &rcloneRecord{path: p, f: f, w: bufio.NewWriterSize(f, 64<<10), head: head}
	_, r.err = r.w.WriteString(head)
	return r, nil
}

// add records one file of the given kind.
func (r *rcloneRecord) add(kind byte, p []byte) {
	if r == nil || r.err != nil || bytes.IndexByte(p, 0) >= 0 {
		return
	}
	if r.sent != nil && r.sent.has(string(p)) {
		return
	}
	r.w.WriteByte(kind)
	r.w.WriteByte('|')
	r.w.Write(p)
	r.err = r.w.WriteByte(0)
	r.n++
}

// retried starts the record again for a sync rclone runs again (it lists
// everything anew): it keeps the files copied so far, which stay sent,
// and drops those found unchanged, which the retry logs again.
func (r *rcloneRecord) retried() {
	if r == nil || r.err != nil {
		return
	}
	if r.err = r.w.Flush(); r.err != nil {
		return
	}
	in, err := os.Open(r.path + ".new")
	if err != nil {
		r.err = err
		return
	}
	defer in.Close()
	out, err := os.OpenFile(r.path+".retry", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		r.err = err
		return
	}
	w := bufio.NewWriterSize(out, 64<<10)
	w.WriteString(r.head)
	r.n, r.sent = 0, newPathSet(nil)
	br := bufio.NewReaderSize(in, 64<<10)
	br.Discard(len(r.head))
	for {
		rec, err := br.ReadString(0)
		if err == io.EOF {
			break // the last, whole or not: the record so far ends there
		}
		if err != nil {
			r.err = err
			out.Close()
			os.Remove(out.Name())
			return
		}
		if len(rec) > 3 && rec[0] == recordCopied && !r.sent.has(rec[2:len(rec)-1]) {
			r.sent.add(rec[2 : len(rec)-1])
			w.WriteString(rec)
			r.n++
		}
	}
	if r.err = w.Flush(); r.err == nil {
		r.err = os.Rename(out.Name(), r.path+".new")
	}
	if r.err != nil {
		out.Close()
		os.Remove(out.Name())
		return
	}
	r.f.Close()
	r.f = out
	r.w.Reset(out)
}

// finish completes the record and puts it in its place. When it cannot,
// the last run's record is removed too (it describes the destination as
// it was before this run), and the error says why there is none.
func (r *rcloneRecord) finish() error {
	if r == nil {
		return nil
	}
	err := r.err
	if err == nil {
		r.w.WriteString(string(recordEnd) + "|" + strconv.FormatInt(r.n, 10) + "\x00")
		err = r.w.Flush()
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(r.path+".new", r.path)
	}
	if err != nil {
		os.Remove(r.path + ".new")
		if rerr := os.Remove(r.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = fmt.Errorf("%w; and the last run's record is left: %v", err, rerr)
		}
	}
	return err
}

// abandon drops the record of a backup that failed: the last run's stays.
func (r *rcloneRecord) abandon() {
	if r == nil {
		return
	}
	r.f.Close()
	os.Remove(r.path + ".new")
}

// errNotARecord is a file that is no record, or one cut short.
var errNotARecord = errors.New("not a whole record of the destination's files")

// readRcloneRecord reads the record at p: head sees what it describes
// (an error from it stops the reading), then fn each file's kind and
// path. It fails on anything but a whole record.
func readRcloneRecord(p string, head func(source, destination string) error, fn func(kind byte, name string) error) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	if h, err := br.ReadString('\n'); err != nil || h != rcloneRecordHeader {
		return fmt.Errorf("%s: %w", p, errNotARecord)
	}
	field := func() (string, error) {
		s, err := br.ReadString(0)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p, errNotARecord)
		}
		return s[:len(s)-1], nil
	}
	src, err := field()
	if err != nil {
		return err
	}
	dst, err := field()
	if err != nil {
		return err
	}
	if head != nil {
		if err := head(src, dst); err != nil {
			return err
		}
	}
	var n int64
	for {
		rec, err := field()
		if err != nil {
			return err
		}
		if len(rec) < 2 || rec[1] != '|' {
			return fmt.Errorf("%s: %w", p, errNotARecord)
		}
		kind, name := rec[0], rec[2:]
		switch kind {
		case recordCopied, recordUnchanged:
			if name == "" {
				return fmt.Errorf("%s: %w", p, errNotARecord)
			}
			n++
			if err := fn(kind, name); err != nil {
				return err
			}
		case recordEnd:
			if name != strconv.FormatInt(n, 10) {
				return fmt.Errorf("%s: %w", p, errNotARecord)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				return fmt.Errorf("%s: %w", p, errNotARecord)
			}
			return nil
		default:
			return fmt.Errorf("%s: %w", p, errNotARecord)
		}
	}
}
