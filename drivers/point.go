package drivers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// A recovery point is one run of a plan: every backup it made, of the
// database and of the files, taken together. Its id is the run's start
// in UTC and four random hex digits (two runs of different plans may
// start in the same second): "20261207T031500Z-4f1c". Ids sort by time.
//
// Each backup carries its point's id where the tool keeps it with the
// backup itself, so a machine that lost state_dir finds the points in the
// repositories: restic and borg as the label PointLabel(id) (a snapshot
// tag, an archive comment), a dump file in its manifest, a mirror
// (rsync, rclone) in a marker file at its top, written once the run
// verified it (Sealer).

// PointLabelPrefix starts the label a backup carries its point in.
const PointLabelPrefix = "alexandria-point="

// pointIDRE is the shape of a point id.
var pointIDRE = regexp.MustCompile(`^\d{8}T\d{6}Z-[0-9a-f]{4}$`)

// NewPoint returns the id of a run that started at start.
func NewPoint(start time.Time) string {
	var b [2]byte
	rand.Read(b[:])
	return start.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// ValidPoint reports whether id has the shape of a point id (one given on
// the command line, or read back from a repository).
func ValidPoint(id string) bool { return pointIDRE.MatchString(id) }

// PointLabel is the label that marks a backup as part of point id.
func PointLabel(id string) string { return PointLabelPrefix + id }

// PointFromLabels finds the point among a backup's labels (restic's tags,
// borg's comment): "" when none names one.
func PointFromLabels(labels ...string) string {
	for _, l := range labels {
		for _, f := range strings.Fields(l) {
			if id, ok := strings.CutPrefix(f, PointLabelPrefix); ok && ValidPoint(id) {
				return id
			}
		}
	}
	return ""
}

// MirrorPointMarker is the name of the file at the top of a mirror that
// records its recovery point (drivers/internal/pointmark).
const MirrorPointMarker = ".alexandria-backup-point"

// Sealer is implemented by drivers whose backup has no history to carry a
// point in: a mirror (rsync, rclone) is one copy, replaced by every run.
// Such a driver's Backup first takes the mirror out of any point (removes
// its marker) before it changes the mirror; the plan calls Seal only after
// the backup passed its verification (and its drill, when the target
// drills), to record t.Point with the mirror. A run that failed, was
// interrupted or was not verified (verify = false, run --no-verify) thus
// leaves the mirror in no point: it no longer holds any point's state.
type Sealer interface {
	Seal(ctx context.Context, x proc.Executor, t *Target, a Artifact) error
}
