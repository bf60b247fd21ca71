// Package guard refuses a run that would lose data: a mirror sync that
// would empty or mostly empty its destination (rsync with delete, rclone
// sync), and a restic or borg backup of paths that hold no file.
package guard

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/dustin/go-humanize"
)

// A mirror (rsync with delete, rclone sync) has no history: whatever a run
// deletes from it is gone. The guard asks the one question that matters
// before such a run: would it delete all, or most, of what the mirror
// holds? It counts regular files as the tool itself sees them, after the
// target's excludes, so a source that holds only empty directories, only
// symlinks or only excluded files counts as the empty source it is, and a
// stray empty directory at an unmounted mount point is refused like a
// missing one. max_delete is a second, independent guard inside the tool.

// allowEmptySource is the key that lets a run go ahead when its source
// holds no file after excludes; help says what that run then does.
func allowEmptySource(help string) drivers.Option {
	return drivers.Option{Name: "allow_empty_source", Kind: drivers.Bool, Default: "false", Help: help}
}

// DefaultMaxDeletePercent is max_delete_percent's default.
const DefaultMaxDeletePercent = 50

// MirrorOptions are the keys both mirror drivers take for the guard.
func MirrorOptions(appliesTo string) []drivers.Option {
	return []drivers.Option{
		allowEmptySource("With " + appliesTo + ": allow a run whose source holds no file after excludes, which empties the mirror. Without it such a run is refused (an unmounted disk looks exactly like that)."),
		{Name: "max_delete_percent", Kind: drivers.Int, Min: 1, Max: 100, Default: strconv.Itoa(DefaultMaxDeletePercent),
			Help: "With " + appliesTo + ": refuse a run that would delete more than this percentage of the files the mirror holds (a half-mounted or damaged source). 100 turns this check off; max_delete still applies."},
	}
}

// MirrorCounts is what a run would do to a mirror, in regular files after
// the target's excludes.
type MirrorCounts struct {
	Source  int64 // files the source holds
	Mirror  int64 // files the mirror holds now
	Deletes int64 // files the run would delete from the mirror
}

// RefuseMassDelete returns the guard's verdict on counts c: nil when the run
// may go ahead, otherwise an error naming the source and what was found.
func RefuseMassDelete(t *drivers.Target, sourceKey string, c MirrorCounts) error {
	src, dst := t.Settings.Str(sourceKey), t.Settings.Str("destination")
	if c.Source == 0 {
		if t.Settings.Bool("allow_empty_source", false) {
			return nil
		}
		if c.Mirror == 0 {
			return drivers.KeyErr(sourceKey, "%s has 0 files after excludes, and the mirror %s has none either: refusing to make an empty mirror (is the disk mounted?); set allow_empty_source = true if an empty source is right",
				src, dst)
		}
		return drivers.KeyErr(sourceKey, "%s has 0 files after excludes; the mirror %s has %s: refusing, as this run would empty it (is the disk mounted?); set allow_empty_source = true to really empty it",
			src, dst, CountFiles(c.Mirror))
	}
	limit := int64(t.Settings.Int("max_delete_percent", DefaultMaxDeletePercent))
	if c.Mirror > 0 && c.Deletes*100 > c.Mirror*limit {
		return drivers.KeyErr(sourceKey, "this run would delete %s of the %s files the mirror %s holds (%d%%; %s has %s): refusing, as more than max_delete_percent = %d%% looks like a damaged or half-mounted source; raise max_delete_percent for one run if the deletions are intended",
			humanize.Comma(c.Deletes), humanize.Comma(c.Mirror), dst, c.Deletes*100/c.Mirror, src, CountFiles(c.Source), limit)
	}
	return nil
}

// CountFiles says "1 file" or "2,100 files".
func CountFiles(n int64) string {
	if n == 1 {
		return "1 file"
	}
	return humanize.Comma(n) + " files"
}

// MirrorNote says what the guard does, for --dry-run.
func MirrorNote(t *drivers.Target, sourceKey string) string {
	return fmt.Sprintf("refuse when %s holds no file after excludes, or the run would delete more than %d%% of the mirror's files",
		t.Settings.Str(sourceKey), t.Settings.Int("max_delete_percent", DefaultMaxDeletePercent))
}

// A repository (restic, borg) has a history, and retention thins it by
// age: a snapshot of an unmounted disk's empty mount point counts as the
// newest, so every run on the same day, or a week of runs, lets retention
// forget the real snapshots. restic and borg both commit such a snapshot
// and exit 0. The guard takes the tool's own count of the files it read,
// after the target's excludes (restic's backup summary, borg create's
// stats); neither counts a symlink or a directory as a file. Only a
// source with no file at all is refused: the tools cannot cheaply say
// how many files the previous snapshot held (restic 0.14 keeps no
// summary in its snapshots; borg 1.2's `info` reads the archive's whole
// metadata to size it), so "lost most of its files" is not checked.

// EmptySourceOption is the key restic and borg take for the guard.
func EmptySourceOption(snapshot string) drivers.Option {
	return allowEmptySource("Keep the new " + snapshot + " even when the paths hold no file after excludes. Without it such a backup fails and its " + snapshot +
		" is removed again, so retention never counts an empty " + snapshot + " as the newest (an unmounted disk looks exactly like that).")
}

// EmptyBackup is the snapshot or archive a backup just made: its id, how
// many files the tool says it read, and remove, which removes exactly it.
type EmptyBackup struct {
	Snapshot string // "snapshot" or "archive"
	Id       string
	Files    *int64 // nil: the tool's report has no count
	Remove   func() error
}

// RefuseEmptyBackup returns the guard's verdict on backup b: nil when it
// may be kept, otherwise, having removed it, an error saying what was
// found and whether the removal worked. A report without a count keeps the
// backup, with a warning: nothing is removed on a guess.
func RefuseEmptyBackup(t *drivers.Target, b EmptyBackup) (warning string, err error) {
	if b.Files == nil {
		return fmt.Sprintf("the tool reported no file count: could not check that the %s %s is not empty", b.Snapshot, b.Id), nil
	}
	if *b.Files > 0 || t.Settings.Bool("allow_empty_source", false) {
		return "", nil
	}
	paths := t.Settings.List("paths")
	found := "the path " + paths[0] + " holds"
	if len(paths) > 1 {
		found = "the paths " + strings.Join(paths, ", ") + " hold"
	}
	outcome := "the " + b.Snapshot + " " + b.Id + " was removed"
	if err := b.Remove(); err != nil {
		outcome = fmt.Sprintf("removing the %s %s failed, so remove it by hand before retention runs: %v", b.Snapshot, b.Id, err)
	}
	return "", drivers.KeyErr("paths", "%s 0 files after excludes (is the disk mounted?): refusing to keep an empty %s, which retention would count as the newest; %s; set allow_empty_source = true to keep it",
		found, b.Snapshot, outcome)
}

// EmptyBackupNote says what the guard does, for --dry-run.
func EmptyBackupNote(t *drivers.Target, snapshot, remove string) string {
	if t.Settings.Bool("allow_empty_source", false) {
		return "keep the " + snapshot + " even when the paths hold no file after excludes (allow_empty_source)"
	}
	return "when the paths hold no file after excludes, fail the target and remove the new " + snapshot + " (" + remove + "), so retention does not run"
}
