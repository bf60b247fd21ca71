// Package metrics writes the Prometheus textfile of SPEC.md's Metrics
// table, for node_exporter's textfile collector.
package metrics

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/atomicfile"
)

// Target is the last outcome of one target in one plan: one sample of each
// metric, labelled plan, target and driver.
type Target struct {
	Plan, Target, Driver string
	LastRun              time.Time
	LastSuccess          time.Time // zero: never succeeded
	DurationSeconds      float64
	// Status is 2 ok, 1 warning, 0 failed (interrupted and skipped too).
	Status int
	Bytes  *int64 // nil: the tool did not say
	// Verify is where the target's verification by rotation stands; nil:
	// it has none (its verify reads everything every time, or never ran).
	Verify *VerifyCoverage
	// VerifyFailed: the target's last verify (a scheduled check's, or
	// `verify`'s) failed, and none of it has passed since.
	VerifyFailed bool
}

// VerifyCoverage is a rotation's progress: SlicesRead of its Cycle slices
// have been read, and everything the target keeps was last read at
// WholeReadAt (zero: not yet, the first cycle is not complete).
type VerifyCoverage struct {
	SlicesRead, Cycle int
	WholeReadAt       time.Time
}

// Status values of alexandria_backup_status.
const (
	StatusFailed  = 0
	StatusWarning = 1
	StatusOK      = 2
)

type family struct {
	name, help string
	value      func(Target) (float64, bool) // false: no sample for this target
}

// families are SPEC.md's metrics, in its order. Dashboards and alerts key
// on these names and labels: never rename them.
var families = []family{
	{"alexandria_backup_last_run_timestamp_seconds",
		"When the target last ran (any outcome), in seconds since the Unix epoch.",
		func(t Target) (float64, bool) { return unix(t.LastRun), true }},
	{"alexandria_backup_last_success_timestamp_seconds",
		"When the target last succeeded (kept across failed runs), in seconds since the Unix epoch; 0 if it never did.",
		func(t Target) (float64, bool) { return unix(t.LastSuccess), true }},
	{"alexandria_backup_duration_seconds",
		"Duration of the target's last run, in seconds.",
		func(t Target) (float64, bool) { return t.DurationSeconds, true }},
	{"alexandria_backup_status",
		"Last outcome of the target: 2 ok, 1 warning, 0 failed.",
		func(t Target) (float64, bool) { return float64(t.Status), true }},
	{"alexandria_backup_bytes",
		"Size of the target's last artifact in bytes, where the tool reports it.",
		func(t Target) (float64, bool) {
			if t.Bytes == nil {
				return 0, false
			}
			return float64(*t.Bytes), true
		}},
	{"alexandria_backup_verify_whole_read_timestamp_seconds",
		"When verification last finished reading everything the target keeps (a full read, or the last slice of a cycle), in seconds since the Unix epoch; 0 if it never did. Only for targets verified by rotation.",
		func(t Target) (float64, bool) {
			if t.Verify == nil {
				return 0, false
			}
			return unix(t.Verify.WholeReadAt), true
		}},
	{"alexandria_backup_verify_cycle_read_ratio",
		"Share of the target's verify_cycle slices that verification has read (1 once every slice was read at least once). Only for targets verified by rotation.",
		func(t Target) (float64, bool) {
			if t.Verify == nil || t.Verify.Cycle == 0 {
				return 0, false
			}
			return float64(t.Verify.SlicesRead) / float64(t.Verify.Cycle), true
		}},
	{"alexandria_backup_verify_failed",
		"1 when the target's last verify found damage (a scheduled check's or `verify`'s) and none has passed since, else 0.",
		func(t Target) (float64, bool) {
			if t.VerifyFailed {
				return 1, true
			}
			return 0, true
		}},
}

// unix is a time in seconds since the epoch, to the millisecond; 0 for the
// zero time (a success that never happened: alerts on its age then fire,
// where a missing sample would silently match nothing).
func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixMilli()) / 1000
}

// Format renders the textfile: each metric's HELP and TYPE, then one sample
// per target, sorted by plan and target so the file is stable.
func Format(targets []Target) []byte {
	sorted := append([]Target(nil), targets...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Plan != sorted[j].Plan {
			return sorted[i].Plan < sorted[j].Plan
		}
		return sorted[i].Target < sorted[j].Target
	})
	var b bytes.Buffer
	for _, f := range families {
		fmt.Fprintf(&b, "# HELP %s %s\n", f.name, escapeHelp(f.help))
		fmt.Fprintf(&b, "# TYPE %s gauge\n", f.name)
		for _, t := range sorted {
			v, ok := f.value(t)
			if !ok {
				continue
			}
			fmt.Fprintf(&b, "%s{plan=\"%s\",target=\"%s\",driver=\"%s\"} %s\n",
				f.name, escapeLabel(t.Plan), escapeLabel(t.Target), escapeLabel(t.Driver), formatValue(v))
		}
	}
	return b.Bytes()
}

// Write replaces the textfile at path atomically. The temporary file is
// made in the same directory under a name that does not end in .prom, so
// the collector never reads it half-written; the file is made readable by
// the collector (0644).
func Write(path string, targets []Target) error {
	if _, err := os.Stat(filepath.Dir(path)); err != nil {
		// A typo in metrics_file must show, not create a directory no
		// collector reads.
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	return atomicfile.Write(path, Format(targets), 0o644)
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// escapeLabel escapes a label value as the text format requires: backslash,
// double quote and line feed.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// escapeHelp escapes HELP text: backslash and line feed.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}
