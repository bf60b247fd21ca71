package rsync

import (
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// RecordPath is where Backup records the mirror's files, for the
// verification that follows and the next run's guard.
var RecordPath = recordPath

// SentPaths reads from the backup's record (a.Written) the paths of the
// files it sent, each once, in the order rsync sent them; nil when it
// kept no record.
func SentPaths(tb testing.TB, a drivers.Artifact) []string {
	tb.Helper()
	if len(a.Written) != 1 {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	_, err := eachLedgerRecord(a.Written[0], func(kind byte, _, name string) error {
		if kind == ledgerSent && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
