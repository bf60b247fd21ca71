// Package pointmark is the recovery-point marker a mirror carries (rsync,
// rclone): a small JSON file at the top of the destination that says
// which recovery point (drivers.Target.Point) the mirror holds and when
// the sync that made it was verified. A mirror has no history to tag, so
// the marker is how `points --from-repositories` and `recover` find a
// mirror's point on a machine that lost state_dir, and when the mirror
// was last brought up to date by a verified run (never the source's
// mtimes).
//
// Its life, in each mirror driver: the backup removes it before the sync
// changes anything; the plan seals the mirror (drivers.Sealer) only after
// the sync passed its verification, writing a new one. A failed,
// interrupted or unverified run thus leaves the mirror in no point. The
// tools never delete it (it is excluded from every transfer, listing and
// comparison, which also keeps it out of restores, verify, drills and the
// guards' counts). Each driver moves it with its own tool, so it works the
// same for local and remote destinations; this package only writes and
// reads its content.
package pointmark

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// Name is the marker's file name, at the top of the mirror. A source
// file of that name at the source's top is not mirrored.
const Name = drivers.MirrorPointMarker

// Mark is the marker's content.
type Mark struct {
	Point    string    `json:"point"`       // the recovery point the mirror holds
	Verified time.Time `json:"verified_at"` // when the verified sync was sealed
	Target   string    `json:"target"`
	Tool     string    `json:"tool"`
	Source   string    `json:"source"` // what the mirror holds a copy of
}

// New is the marker of t's run, sealed now.
func New(t *drivers.Target, tool string) Mark {
	return Mark{Point: t.Point, Verified: time.Now().UTC(), Target: t.Name, Tool: tool, Source: t.Settings.Str("source")}
}

// WriteTemp writes m as a file named Name in a new private directory
// under parent (the system's temporary directory when ""), for the tool
// to copy into the mirror; cleanup removes the directory.
func WriteTemp(parent string, m Mark) (path string, cleanup func(), err error) {
	dir, cleanup, err := TempDir(parent)
	if err != nil {
		return "", nil, err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		cleanup()
		return "", nil, err
	}
	path = filepath.Join(dir, Name)
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		cleanup()
		return "", nil, err
	}
	return path, cleanup, nil
}

// TempDir makes a private directory under parent (created when missing:
// `points` on a new machine has no state_dir yet) for a marker on its way
// into or out of a mirror.
func TempDir(parent string) (string, func(), error) {
	if parent == "" {
		parent = os.TempDir()
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", nil, fmt.Errorf("recovery-point marker: %w", err)
	}
	dir, err := os.MkdirTemp(parent, "point-marker-")
	if err != nil {
		return "", nil, fmt.Errorf("recovery-point marker: %w", err)
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// Decode reads a marker read from where (named in errors). One that is
// not a marker, or names no valid point, is an error: a mirror must not
// be put into a point by a file someone else left.
func Decode(data []byte, where string) (Mark, error) {
	var m Mark
	if err := json.Unmarshal(data, &m); err != nil {
		return Mark{}, fmt.Errorf("%s is not a recovery-point marker: %v", where, err)
	}
	if !drivers.ValidPoint(m.Point) {
		return Mark{}, fmt.Errorf("%s names no valid recovery point (%q)", where, m.Point)
	}
	return m, nil
}

// Check refuses to restore or prove point from a mirror whose marker is
// m (nil: the mirror has none). A mirror holds only its newest state: the
// point of its last verified sync, or none after a run that failed or was
// not verified. point "" asks for the mirror as it is.
func Check(point string, m *Mark, dest string) error {
	switch {
	case point == "":
		return nil
	case m == nil:
		return fmt.Errorf("the mirror %s holds no recovery point (no %s marker: its last run failed, was interrupted or was not verified, or it predates points), so not %s; a mirror keeps only its newest state", dest, Name, point)
	case m.Point != point:
		return fmt.Errorf("the mirror %s holds recovery point %s (verified %s), not %s: a mirror keeps only its newest state; recover %s, or this point from another target", dest, m.Point, m.Verified.Format(time.RFC3339), point, m.Point)
	}
	return nil
}

// Snapshot is the mirror's one backup as `snapshots` lists it, its point
// and time from the marker m. Without a marker (nil: the last sync failed,
// was not verified, or the mirror was made by hand) its time is unknown
// (zero): no file's modification time says when a mirror was brought up
// to date (rsync and rclone copy the source's times: a mirror of an old
// library would look years old, or fresh when it is not).
func Snapshot(id string, m *Mark, bytes int64, what string) drivers.Snapshot {
	if m == nil {
		return drivers.Snapshot{ID: id, Bytes: bytes,
			Info: what + "; in no recovery point and of unknown time (no marker of a verified sync)"}
	}
	return drivers.Snapshot{ID: id, Time: m.Verified, Bytes: bytes, Point: m.Point,
		Info: what + "; the time is when its last verified sync ended (its marker)"}
}
