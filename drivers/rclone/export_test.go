package rclone

import (
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// RecordPath is where Backup records the destination's files, for the
// verify that follows and the next run's guard.
var RecordPath = recordPath

// RecordFiles reads t's record: every file it names ("C|PATH" copied,
// "U|PATH" unchanged), sorted; nil when there is none. A record
// that is not whole fails the test.
func RecordFiles(tb testing.TB, t *drivers.Target) []string {
	tb.Helper()
	var out []string
	err := readRcloneRecord(recordPath(t), nil, func(kind byte, name string) error {
		out = append(out, string(kind)+"|"+name)
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		tb.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// SentPaths is what the backup a sent, sorted: the files its record
// (a.Written names it) lists as copied, or a.Written itself when it names
// no record. A record that is not whole fails the test.
func SentPaths(tb testing.TB, t *drivers.Target, a drivers.Artifact) []string {
	tb.Helper()
	if len(a.Written) != 1 || a.Written[0] != recordPath(t) {
		return slices.Sorted(slices.Values(a.Written))
	}
	out := []string{}
	err := readRcloneRecord(a.Written[0], nil, func(kind byte, name string) error {
		if kind == recordCopied {
			out = append(out, name)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	slices.Sort(out)
	return out
}
