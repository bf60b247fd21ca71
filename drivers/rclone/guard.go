package rclone

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/guard"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// The mirror guard (mode = "sync"): a sync that would empty the mirror or
// delete most of it is refused before anything is written. Listing both
// sides with rclone check is exact, but walks both trees once more, as
// long as the sync itself. The last run's record of the mirror's files
// (record.go, kept in KeepDir) answers the everyday case for an lstat a
// file of a local source: when no more than max_delete_percent of those
// files are gone from the source, and not all of them, the sync goes
// ahead. Any other answer (no record, an empty or damaged one, one of
// another source or destination, a file that cannot be looked up, too
// many gone, or a remote source) hands the decision to the listing, which
// refuses or allows with the counts it found: the record never refuses on
// its own. A file the record does not know (put into the mirror by hand)
// is not counted: the record guards against a source that lost the files
// the mirror holds, which is what an unmounted or damaged disk looks like.

// fewGone says whether the record of the mirror's files the last run kept
// shows few of them gone from the source: false says nothing either way.
// A file is there when the source holds a regular file by its name; gone
// when nothing is there or something rclone does not copy (a symlink, a
// directory: the sync deletes the mirror's file).
func fewGone(t *drivers.Target) bool {
	if !guardsByRecord(t) {
		return false
	}
	src := filepath.Clean(t.Settings.Str("source"))
	var files, gone int64
	err := readRcloneRecord(recordPath(t), func(source, destination string) error {
		if source != t.Settings.Str("source") || destination != t.Settings.Str("destination") {
			return fmt.Errorf("the record is of %s → %s", source, destination)
		}
		return nil
	}, func(_ byte, name string) error {
		files++
		rel := filepath.FromSlash(name)
		if !filepath.IsLocal(rel) {
			return fmt.Errorf("%q is no path inside the source", name)
		}
		fi, err := os.Lstat(filepath.Join(src, rel))
		switch {
		case err == nil:
			if !fi.Mode().IsRegular() {
				gone++
			}
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			gone++
		default:
			return err
		}
		return nil
	})
	limit := int64(t.Settings.Int("max_delete_percent", guard.DefaultMaxDeletePercent))
	return err == nil && gone < files && gone*100 <= files*limit
}

// guardCommand compares the source with the destination by listing them
// (--size-only: no file is read or hashed), with the target's excludes, so
// it sees what sync sees: regular files, no symlinks, no empty
// directories. It prints a line per file: "= " the same on both sides,
// "* " on both sides but different, "+ " only in the source, "- " only in
// the destination (what a sync deletes), "! " unreadable. rclone exits 1
// when the two differ, the usual state before a sync. The lines are
// counted as they come (a line per file: 100,000 files are megabytes).
func (r Driver) guardCommand(t *drivers.Target, env []proc.EnvVar, counts *proc.Lines) proc.Command {
	flags := append([]string{"--size-only", "--combined=-"}, rcloneExcludes(t)...)
	c := r.cmd(t, env, "check", flags, t.Settings.Str("source"), t.Settings.Str("destination"))
	c.Codes = proc.ExitCodes{OK: []int{1}}
	if counts != nil {
		c.Stdout = counts
	}
	return c
}

// combinedCounter counts the lines of a --combined report (proc.Lines
// hands them over as they come); bad is how many files could not be
// read, err the first line it could not read.
type combinedCounter struct {
	guard.MirrorCounts
	bad int64
	err error
}

func (c *combinedCounter) line(b []byte) {
	if len(b) == 0 || c.err != nil {
		return
	}
	kind, _, err := rcloneCombinedLine(string(b))
	if err != nil {
		c.err = err
		return
	}
	switch kind {
	case '=', '*':
		c.Source++
		c.Mirror++
	case '+':
		c.Source++
	case '-':
		c.Mirror++
		c.Deletes++
	case '!':
		c.bad++
	}
}

// guard refuses a sync that would empty the mirror or delete most of it,
// before anything is written. The record of the mirror's files the last
// run kept clears an everyday run cheaply (fewGone); otherwise it decides
// from what rclone itself lists on both sides, and refuses too when it
// cannot tell.
func (r Driver) guard(ctx context.Context, x proc.Executor, t *drivers.Target, env []proc.EnvVar) error {
	src := t.Settings.Str("source")
	if fi, err := os.Stat(src); err == nil && !fi.IsDir() {
		return nil // one local file: rclone syncs that file alone
	}
	if fewGone(t) {
		return nil
	}
	var c combinedCounter
	lines := &proc.Lines{Fn: c.line}
	res, err := x.Run(ctx, r.guardCommand(t, env, lines))
	lines.Close()
	cannot := func(format string, args ...any) error {
		return drivers.KeyErr("source", "cannot compare %s with the mirror %s, refusing to sync: %s", src, t.Settings.Str("destination"), fmt.Sprintf(format, args...))
	}
	switch {
	case err != nil:
		return cannot("%v", err)
	case res.ExitCode == 1 && !strings.Contains(string(res.Stderr), "differences found"):
		return cannot("rclone check exited 1: %s", proc.LastLines(res.Stderr, 3))
	case c.err != nil:
		return cannot("%v", c.err)
	case c.bad > 0:
		return cannot("%s could not be read", guard.CountFiles(c.bad))
	}
	return guard.RefuseMassDelete(t, "source", c.MirrorCounts)
}
