package rsync

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/drill"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/pointmark"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Restore and drill for the rsync mirror. A mirror has one version, the
// destination itself, so restoring is copying it back.

var (
	_ drivers.Restorer = Driver{}
	_ drivers.Driller  = Driver{}
)

// rsyncMirrorRoot is the destination with one trailing slash: rsync then
// copies the mirror's contents, not the directory itself.
func rsyncMirrorRoot(t *drivers.Target) string {
	return strings.TrimRight(t.Settings.Str("destination"), "/") + "/"
}

// restoreCommand copies the mirror back into dir with the mirror's own
// flags (hard links, numeric owners). It never deletes: files in dir
// that the mirror lacks stay. With force, files already in dir are
// compared by checksum, not by size and mtime, so a file damaged in place
// (same size, same time: the very thing a restore repairs) is replaced
// too. No bwlimit: a restore is when you want the bandwidth.
func (r Driver) restoreCommand(t *drivers.Target, dir string, force bool) proc.Command {
	args := append(rsyncBaseArgs(), markerExclude)
	if force {
		args = append(args, "--checksum")
	}
	args = append(args, rsyncRsh(t)...)
	return r.cmd(t, append(args, "--", rsyncMirrorRoot(t), filepath.Clean(dir)+"/")...)
}

// Restore copies the mirror into req.To, and writes only under it: a
// symlink already there that leads outside is refused before rsync runs;
// rsync replaces a symlink where the mirror has a directory instead of
// following it, and since 3.4 (CVE-2024-12087) will not write through a
// symlink even when a hostile server sends a path through one, which the
// tests prove. Older rsyncs trust the server on that last point.
func (r Driver) Restore(ctx context.Context, x proc.Executor, t *drivers.Target, req drivers.RestoreRequest) (drivers.RestoreResult, error) {
	dest := t.Settings.Str("destination")
	if err := drivers.MirrorFrom("an rsync mirror", req.From, dest); err != nil {
		return drivers.RestoreResult{}, err
	}
	into, err := recoverPlace(t, req)
	if err != nil {
		return drivers.RestoreResult{}, err
	}
	if err := drill.PrepareRestoreDir(req.To, req.Force); err != nil {
		return drivers.RestoreResult{}, err
	}
	if _, err := r.checkPoint(ctx, x, t, req.Point); err != nil {
		return drivers.RestoreResult{}, err
	}
	if err := os.MkdirAll(into, 0o700); err != nil {
		return drivers.RestoreResult{}, err
	}
	if _, err := x.Run(ctx, r.restoreCommand(t, into, req.Force)); err != nil {
		return drivers.RestoreResult{}, err
	}
	n, err := drill.CountRestored(req.To)
	if err != nil {
		n = -1
	}
	return drivers.RestoreResult{From: dest, Where: filepath.Clean(req.To), Files: n}, nil
}

// remoteListCommand lists every entry under a remote mirror.
func (r Driver) remoteListCommand(t *drivers.Target) proc.Command {
	args := append(append([]string{"--list-only", "--recursive", markerExclude}, rsyncRsh(t)...), "--", rsyncMirrorRoot(t))
	c := r.cmd(t, args...)
	c.StdoutTail = rsyncListTail
	return c
}

// rsyncListTail bounds a remote listing kept in memory: some 500,000
// files. A longer listing is cut at its start and the drill samples from
// the rest.
const rsyncListTail = 64 << 20

// rsyncFileLineRE is a regular file in `rsync --list-only` output:
// "-rw-r--r--         12,345 2026/11/26 02:00:00 books/a.epub".
var rsyncFileLineRE = regexp.MustCompile(`^-\S*\s+([0-9][0-9,.]*) (\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) (.+)$`)

// parseRsyncList reads the regular files of a --list-only listing, their
// paths relative to the mirror. rsync prints times in the local zone to
// the second.
func parseRsyncList(out []byte) ([]rsyncListed, error) {
	var files []rsyncListed
	for _, l := range strings.Split(string(out), "\n") {
		m := rsyncFileLineRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		size, err := strconv.ParseInt(strings.NewReplacer(",", "", ".", "").Replace(m[1]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("rsync --list-only: size in %q: %v", l, err)
		}
		mtime, err := time.ParseInLocation("2006/01/02 15:04:05", m[2], time.Local)
		if err != nil {
			return nil, fmt.Errorf("rsync --list-only: time in %q: %v", l, err)
		}
		files = append(files, rsyncListed{path: rsyncUnescape(m[3]), size: size, mtime: mtime})
	}
	return files, nil
}

type rsyncListed struct {
	path  string // relative to the mirror, slash-separated
	size  int64
	mtime time.Time
}

// rsyncUnescape undoes rsync's escaping of names in its output: a byte it
// will not print (a newline, invalid UTF-8, a backslash before "#") is
// shown as \#ooo, in octal.
func rsyncUnescape(s string) string {
	if !strings.Contains(s, `\#`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 < len(s) && s[i+1] == '#' {
			if v, err := strconv.ParseUint(s[i+2:i+5], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 4
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// rsyncEscape writes a name as rsync prints it, for messages that show
// names beside rsync's own lines: a control byte, and a backslash before
// "#", as \#ooo in octal.
func rsyncEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == '\\' && i+1 < len(s) && s[i+1] == '#' {
			fmt.Fprintf(&b, `\#%03o`, c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// mirrorFiles lists the mirror's regular files: a local mirror is walked
// (mtimes to the nanosecond, which rsync keeps), a remote one listed by
// rsync over ssh (to the second).
func (r Driver) mirrorFiles(ctx context.Context, x proc.Executor, t *drivers.Target) ([]rsyncListed, time.Duration, error) {
	dest := t.Settings.Str("destination")
	if !filepath.IsAbs(dest) {
		res, err := x.Run(ctx, r.remoteListCommand(t))
		if err != nil {
			return nil, 0, err
		}
		out := res.Stdout
		if len(out) >= rsyncListTail {
			// The tail buffer cut the listing: its first line may be
			// half a line.
			if _, rest, ok := strings.Cut(string(out), "\n"); ok {
				out = []byte(rest)
			}
		}
		files, err := parseRsyncList(out)
		return files, time.Second, err
	}
	root := filepath.Clean(dest)
	var files []rsyncListed
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() || p == filepath.Join(root, pointmark.Name) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files = append(files, rsyncListed{path: filepath.ToSlash(rel), size: fi.Size(), mtime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("listing the mirror: %w", err)
	}
	return files, 0, nil
}

// drillCommand restores only the files named (NUL-separated) in list,
// keeping their paths under dir.
func (r Driver) drillCommand(t *drivers.Target, list, dir string) proc.Command {
	args := []string{"--archive", "--numeric-ids", "--files-from=" + list, "--from0"}
	args = append(args, rsyncRsh(t)...)
	return r.cmd(t, append(args, "--", rsyncMirrorRoot(t), dir+"/")...)
}

// Drill restores a random sample of the mirror's files into a scratch
// directory, over ssh for a remote mirror, and compares each with its
// source when the source still has the size and mtime the mirror
// recorded (rsync copies mtimes, so an unchanged source means the mirror
// should hold the same bytes). rsync records no checksums.
func (r Driver) Drill(ctx context.Context, x proc.Executor, t *drivers.Target) (res drivers.DrillResult, err error) {
	dest := t.Settings.Str("destination")
	listed, precision, err := r.mirrorFiles(ctx, x, t)
	if err != nil {
		return drivers.DrillResult{}, err
	}
	src := t.Settings.Str("source")
	files := make([]drill.File, 0, len(listed))
	for _, l := range listed {
		if !filepath.IsLocal(filepath.FromSlash(l.path)) {
			return drivers.DrillResult{}, &drill.Mismatch{Tool: "rsync", File: l.path,
				Reason: "is listed in the mirror under a path outside it, which no source file can have"}
		}
		files = append(files, drill.File{Source: filepath.Join(src, filepath.FromSlash(l.path)),
			Restored: l.path, Size: l.size, ModTime: l.mtime})
	}
	sample := drill.Sample(files, drill.SampleSize(t))
	if len(sample) == 0 {
		return drivers.DrillResult{}, fmt.Errorf("rsync drill: the mirror %s holds no files", dest)
	}

	dir, cleanup, err := drill.TempDir(t)
	if err != nil {
		return drivers.DrillResult{}, err
	}
	defer func() {
		if cerr := cleanup(); cerr != nil && err == nil {
			err = fmt.Errorf("rsync drill: removing %s: %w", dir, cerr)
		}
	}()
	list := filepath.Join(dir, "files-from")
	var names []byte
	for _, f := range sample {
		names = append(append(names, f.Restored...), 0)
	}
	if err := os.WriteFile(list, names, 0o600); err != nil {
		return drivers.DrillResult{}, err
	}
	restored := filepath.Join(dir, "restored")
	if err := os.Mkdir(restored, 0o700); err != nil {
		return drivers.DrillResult{}, err
	}
	if _, err := x.Run(ctx, r.drillCommand(t, list, restored)); err != nil {
		return drivers.DrillResult{}, fmt.Errorf("rsync drill: restoring %d sampled files from %s: %w", len(sample), dest, err)
	}
	out, err := drill.Compare(restored, sample, drill.Check{Tool: "rsync", MTimePrecision: precision})
	if err != nil {
		return drivers.DrillResult{}, err
	}
	return out.Result(dest), nil
}
