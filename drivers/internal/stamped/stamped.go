// Package stamped keeps backups as time-stamped files in a directory
// (pg_dump's dumps, the command driver's outputs): their names, their
// writing under a partial name, listing, retention, and the progress of a
// file being written.
package stamped

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// Stamped files: a driver that keeps each backup as one file (or
// directory) of its own in a directory, named TARGET-YYYYMMDDTHHMMSSZ.EXT
// (-1, -2... before the extension when a second one comes in the same
// second), names, lists and thins them out with these: pg_dump's dumps,
// the command driver's files.

// File is one stamped backup file.
type File struct {
	Path  string
	Stamp time.Time
	seq   int
}

// Path is the name a backup of target made at now gets in dir.
func Path(dir, target, ext string, now time.Time) string {
	return filepath.Join(dir, fmt.Sprintf("%s-%s.%s", target, now.UTC().Format(Layout), ext))
}

// FreePath picks a new backup's final name, adding -1, -2... when
// a backup of the same second, or its partial file, already exists.
func FreePath(dir, target, ext string) (string, error) {
	base := Path(dir, target, ext, drivers.Now())
	stem := base[:len(base)-len(ext)-1]
	for i := 0; i < 1000; i++ {
		p := base
		if i > 0 {
			p = fmt.Sprintf("%s-%d.%s", stem, i, ext)
		}
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			if _, err := os.Lstat(PartialPath(p)); errors.Is(err, os.ErrNotExist) {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("no free backup name in %s", dir)
}

// PartialPath is the temporary name a backup is written under: hidden, and
// with a suffix no retention rule or listing matches.
func PartialPath(final string) string {
	return filepath.Join(filepath.Dir(final), "."+filepath.Base(final)+".partial")
}

// List returns target's backups in dir, newest first: the entries
// whose names name matches, its first three groups being the target, the
// stamp and the sequence number. Only regular files (and directories,
// when dirs) are listed, never a symlink: one planted in dir under a
// backup's name is neither restored as the latest nor removed.
func List(dir, target string, name *regexp.Regexp, dirs bool) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []File
	for _, e := range entries {
		m := name.FindStringSubmatch(e.Name())
		if m == nil || m[1] != target || !(e.Type().IsRegular() || dirs && e.IsDir()) {
			continue
		}
		stamp, err := time.Parse(Layout, m[2])
		if err != nil {
			continue
		}
		seq, _ := strconv.Atoi(m[3])
		out = append(out, File{Path: filepath.Join(dir, e.Name()), Stamp: stamp, seq: seq})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Stamp.Equal(out[j].Stamp) {
			return out[i].Stamp.After(out[j].Stamp)
		}
		return out[i].seq > out[j].seq
	})
	return out, nil
}

// keepStamped says which of files (newest first) retention keeps: the
// newest keepLast and those younger than keepDays (a file either rule
// keeps is kept; 0 turns a rule off), and always the newest one.
func keepStamped(files []File, keepLast, keepDays int) []bool {
	cutoff := drivers.Now().Add(-time.Duration(keepDays) * 24 * time.Hour)
	keep := make([]bool, len(files))
	for i, f := range files {
		keep[i] = i == 0 || (keepLast > 0 && i < keepLast) || (keepDays > 0 && f.Stamp.After(cutoff))
	}
	return keep
}

// KeepRules says which stamped files keep_last and keep_days keep, for a
// dry run's note, or "" when the target has no retention.
func KeepRules(t *drivers.Target) string {
	var rules []string
	if n := t.Settings.Int("keep_last", 0); n > 0 {
		rules = append(rules, fmt.Sprintf("the newest %d", n))
	}
	if n := t.Settings.Int("keep_days", 0); n > 0 {
		rules = append(rules, fmt.Sprintf("those younger than %d days", n))
	}
	return strings.Join(rules, " and ")
}

// Prune applies keep_last and keep_days to a target's stamped files
// (a file either rule keeps is kept, and always the newest), removing each
// other one with remove unless dryRun.
func Prune(t *drivers.Target, files []File, dryRun bool, remove func(path string) error) (drivers.PruneResult, error) {
	keepLast, keepDays := t.Settings.Int("keep_last", 0), t.Settings.Int("keep_days", 0)
	if keepLast == 0 && keepDays == 0 {
		return drivers.PruneResult{Kept: len(files)}, nil
	}
	keep := keepStamped(files, keepLast, keepDays)
	res := drivers.PruneResult{Policy: true}
	for i, f := range files {
		if keep[i] {
			res.Kept++
			continue
		}
		if !dryRun {
			if err := remove(f.Path); err != nil {
				return res, err
			}
		}
		res.Removed = append(res.Removed, f.Path)
	}
	return res, nil
}

// Layout is the time stamp in a backup file's name (UTC).
const Layout = "20060102T150405Z"

// DiskSize is a file's size, or the sum of a directory dump's files.
func DiskSize(path string) int64 {
	var total int64
	filepath.WalkDir(path, func(_ string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if fi, err := e.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return total
}

// SyncDir makes a rename durable.
func SyncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}
