package drivers

import (
	"fmt"

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

// mirrorGuardOptions are the keys both mirror drivers take for the guard.
func mirrorGuardOptions(appliesTo string) []Option {
	return []Option{
		{Name: "allow_empty_source", Kind: Bool, Default: "false",
			Help: "With " + appliesTo + ": allow a run whose source holds no file after excludes, which empties the mirror. Without it such a run is refused (an unmounted disk looks exactly like that)."},
		{Name: "max_delete_percent", Kind: Int, Min: 1, Max: 100, Default: "50",
			Help: "With " + appliesTo + ": refuse a run that would delete more than this percentage of the files the mirror holds (a half-mounted or damaged source). 100 turns this check off; max_delete still applies."},
	}
}

// mirrorCounts is what a run would do to a mirror, in regular files after
// the target's excludes.
type mirrorCounts struct {
	Source  int64 // files the source holds
	Mirror  int64 // files the mirror holds now
	Deletes int64 // files the run would delete from the mirror
}

// refuseMassDelete returns the guard's verdict on counts c: nil when the run
// may go ahead, otherwise an error naming the source and what was found.
func refuseMassDelete(t *Target, sourceKey string, c mirrorCounts) error {
	src, dst := t.Settings.Str(sourceKey), t.Settings.Str("destination")
	if c.Source == 0 {
		if t.Settings.Bool("allow_empty_source", false) {
			return nil
		}
		if c.Mirror == 0 {
			return keyErr(sourceKey, "%s has 0 files after excludes, and the mirror %s has none either: refusing to make an empty mirror (is the disk mounted?); set allow_empty_source = true if an empty source is right",
				src, dst)
		}
		return keyErr(sourceKey, "%s has 0 files after excludes; the mirror %s has %s: refusing, as this run would empty it (is the disk mounted?); set allow_empty_source = true to really empty it",
			src, dst, countFiles(c.Mirror))
	}
	limit := int64(t.Settings.Int("max_delete_percent", 50))
	if c.Mirror > 0 && c.Deletes*100 > c.Mirror*limit {
		return keyErr(sourceKey, "this run would delete %s of the %s files the mirror %s holds (%d%%; %s has %s): refusing, as more than max_delete_percent = %d%% looks like a damaged or half-mounted source; raise max_delete_percent for one run if the deletions are intended",
			humanize.Comma(c.Deletes), humanize.Comma(c.Mirror), dst, c.Deletes*100/c.Mirror, src, countFiles(c.Source), limit)
	}
	return nil
}

// countFiles says "1 file" or "2,100 files".
func countFiles(n int64) string {
	if n == 1 {
		return "1 file"
	}
	return humanize.Comma(n) + " files"
}

// mirrorGuardNote says what the guard does, for --dry-run.
func mirrorGuardNote(t *Target, sourceKey string) string {
	return fmt.Sprintf("refuse when %s holds no file after excludes, or the run would delete more than %d%% of the mirror's files",
		t.Settings.Str(sourceKey), t.Settings.Int("max_delete_percent", 50))
}
