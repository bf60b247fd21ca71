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
