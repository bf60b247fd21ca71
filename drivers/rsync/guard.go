package rsync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/guard"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// The mirror guard (with delete): a run that would empty the mirror or
// delete most of it is refused before anything is written. Asking rsync
// with a dry run is exact but walks both trees once more, as long as the
// mirror run itself. The last run's record of the mirror's files (kept in
// KeepDir) answers the everyday case for an lstat a file of the source:
// when no more than max_delete_percent of those files are gone from the
// source, and not all of them, the run goes ahead. Any other answer (no
// record, an empty or damaged one, a file that cannot be looked up, or too
// many gone) hands the decision to the dry run, which refuses or allows
// with the counts it found. A file the record does not know (put into the
// mirror by hand) is not counted: the record guards against a source that
// lost the files the mirror holds, which is what an unmounted or damaged
// disk looks like.

// fewGone says whether the index of the mirror's files the last run kept
// shows few of them gone from the source: false says nothing either way.
func fewGone(t *drivers.Target) bool {
	if t.KeepDir == "" {
		return false
	}
	src := filepath.Clean(t.Settings.Str("source"))
	var files, gone int64
	_, err := eachLedgerRecord(recordPath(t), func(_ byte, _, name string) error {
		files++
		rel := filepath.FromSlash(name)
		if !filepath.IsLocal(rel) {
			return fmt.Errorf("%q is no path inside the source", name)
		}
		_, err := os.Lstat(filepath.Join(src, rel))
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			gone++
		default:
			return err
		}
		return nil
	})
	limit := int64(t.Settings.Int("max_delete_percent", guard.DefaultMaxDeletePercent))
	return err == nil && files > 0 && gone < files && gone*100 <= files*limit
}

// guardCommand is a dry run of the mirror with the same flags and filters
// as the real one; its --stats count the regular files the source holds
// and those the run would create and delete. 24 (a file vanished while
// listing) still counts.
func (r Driver) guardCommand(t *drivers.Target) proc.Command {
	args := append(rsyncBaseArgs(), "--dry-run", "--delete", "--stats")
	c := r.cmd(t, append(args, rsyncTransfer(t)...)...)
	c.Codes = proc.ExitCodes{Warning: []int{24}}
	return c
}

// rsyncStatsRE finds one "Number of ... files: N (reg: R, dir: D)" line
// of --stats. Digits are grouped by "," (or "." in some locales); the
// parenthesis is absent when N is 0, and "reg" absent when no regular
// file is among N.
var rsyncStatsRE = regexp.MustCompile(`(?m)^Number of (files|created files|deleted files): [0-9][0-9,.]*(?: \(([^)]*)\))?$`)

var rsyncRegRE = regexp.MustCompile(`\breg: ([0-9]+(?:[,.][0-9]{3})*)`)

// parseRsyncCounts reads what a dry run's --stats say the run would do.
// The mirror's files are those of the source it already has plus those
// it would delete.
func parseRsyncCounts(stdout []byte) (guard.MirrorCounts, error) {
	found := map[string]int64{}
	for _, m := range rsyncStatsRE.FindAllSubmatch(stdout, -1) {
		var n int64
		if r := rsyncRegRE.FindSubmatch(m[2]); r != nil {
			v, err := strconv.ParseInt(strings.NewReplacer(",", "", ".", "").Replace(string(r[1])), 10, 64)
			if err != nil {
				return guard.MirrorCounts{}, err
			}
			n = v
		}
		found[string(m[1])] = n
	}
	for _, k := range []string{"files", "created files", "deleted files"} {
		if _, ok := found[k]; !ok {
			return guard.MirrorCounts{}, fmt.Errorf("rsync --stats printed no \"Number of %s\" line", k)
		}
	}
	src := found["files"]
	return guard.MirrorCounts{Source: src, Deletes: found["deleted files"],
		Mirror: src - found["created files"] + found["deleted files"]}, nil
}

// guard refuses, before anything is written, a run with delete that would
// empty the mirror or delete most of it. The index of the mirror's files
// the last run kept clears an everyday run cheaply (fewGone); otherwise it
// decides from what rsync itself would transfer and delete with the same
// filters: a dry run, one more walk of both trees.
func (r Driver) guard(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	if fewGone(t) {
		return nil
	}
	res, err := x.Run(ctx, r.guardCommand(t))
	if err != nil {
		return fmt.Errorf("counting what the mirror run would delete (refusing to run without knowing): %w", err)
	}
	c, err := parseRsyncCounts(res.Stdout)
	if err != nil {
		return fmt.Errorf("counting what the mirror run would delete (refusing to run without knowing): %v", err)
	}
	return guard.RefuseMassDelete(t, "source", c)
}
