// Package drill is what the restores and drills of the file drivers
// (restic, borg, rsync, rclone) share: a random sample of the backup's
// files, a private scratch directory, and the comparison of what was
// restored with the recorded hashes and the live source.
package drill

// A file driver's drill is:
//
//	files := <list the latest backup: one File per regular file>
//	sample := Sample(files, SampleSize(t))
//	dir, cleanup, err := TempDir(t)          // under t.TempDir, 0700
//	defer cleanup()                          // always removed
//	<restore only the sample into dir; set each File.Restored>
//	out, err := Compare(dir, sample, Check{Tool: "restic", ...})
//	if err != nil { return DrillResult{}, err }   // a *Mismatch names the file
//	return out.result(artifact), nil
//
// and a file driver's restore is:
//
//	if err := PrepareRestoreDir(req.To, req.Force); err != nil { ... }
//	<restore into req.To>
//	n, err := CountRestored(req.To)   // or the tool's own count
//
// Also here: underDir (where a recorded path lands below a directory,
// refusing ".."), ArgBatches (split sampled paths over several command
// lines), ListSample/Sources (name the sample in an error).
// Everything here is independent of any tool and runs no process.

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// File is one regular file of a backup, as the tool's listing
// records it, and where its restored copy is.
type File struct {
	// Source is the live file on this machine the backup was made from
	// (absolute). Its size and mtime decide whether it can be compared.
	Source string
	// Restored is where the drill put the restored copy, relative to the
	// drill directory (slash or OS separators; must stay inside it).
	Restored string
	// Size and ModTime are what the backup recorded for the file.
	Size    int64
	ModTime time.Time
	// SumAlgo and Sum are a content checksum the tool recorded or computed
	// from its own data ("sha256", "sha1" or "md5", and lower-case hex),
	// or "" when it has none.
	SumAlgo string
	Sum     string
}

// Check says how Compare judges a sample.
type Check struct {
	// Tool names the tool in messages ("restic").
	Tool string
	// MTimePrecision is how finely the tool records mtimes: a source file
	// whose mtime is less than this away from the recorded one counts as
	// unchanged (works for tools that truncate, like rsync's seconds, and
	// for tools that round, like borg's microseconds). 0 means exactly.
	MTimePrecision time.Duration
	// ToolVerified says the tool itself checked every restored file's
	// content against hashes it recorded at backup time (restic restore
	// --verify). Files that changed since the backup still count as
	// checked then, so a drill of a busy library is not a failure.
	ToolVerified string
}

// drillOutcome is what a comparison found when nothing differed.
type Outcome struct {
	Sampled  []string // the sampled source paths, in order
	Compared int      // matched their unchanged source byte for byte
	Summed   int      // matched the tool's checksum (Sum)
	Changed  []string // source changed or gone since the backup: not compared with it
	tool     string   // drillCheck.Tool
	algo     string   // the checksum algorithm, when there were checksums
	verified string   // drillCheck.ToolVerified
}

// result turns an outcome into the driver's DrillResult, with a Detail
// such as "20 sampled files restored: 17 match their source, 3 changed
// since the backup; 20 match borg's sha256".
func (o Outcome) Result(artifact string) drivers.DrillResult {
	return drivers.DrillResult{Artifact: artifact, Checked: len(o.Sampled), Detail: o.detail()}
}

func (o Outcome) detail() string {
	var parts []string
	if o.Compared > 0 {
		parts = append(parts, fmt.Sprintf("%d match their source", o.Compared))
	}
	if c := len(o.Changed); c > 0 {
		parts = append(parts, fmt.Sprintf("%d changed since the backup (not compared with it)", c))
	}
	s := fmt.Sprintf("%d sampled files restored: %s", len(o.Sampled), strings.Join(parts, ", "))
	if o.Summed > 0 {
		s += fmt.Sprintf("; %d match %s's %s", o.Summed, o.tool, o.algo)
	}
	if o.verified != "" {
		s += "; all verified by " + o.verified
	}
	return s
}

// Mismatch is a drill's finding: a restored file that differs from
// its source or from the tool's checksum, or that did not come back. It
// names the file and lists the whole sample, so an operator can repeat
// the check by hand.
type Mismatch struct {
	Tool    string
	File    string // the source path
	Reason  string
	Sampled []string
}

func (e *Mismatch) Error() string {
	msg := fmt.Sprintf("%s drill: %s %s", e.Tool, e.File, e.Reason)
	if len(e.Sampled) > 0 {
		msg += " (" + ListSample(e.Sampled) + ")"
	}
	return msg
}

// ListSample says which files were sampled, for error messages: "sampled
// 3: /a, /b, /c", at most 25 of them named.
func ListSample(sources []string) string {
	const show = 25
	s, more := sources, ""
	if len(s) > show {
		more = fmt.Sprintf(", and %d more", len(s)-show)
		s = s[:show]
	}
	return fmt.Sprintf("sampled %d: %s%s", len(sources), strings.Join(s, ", "), more)
}

// Sources are the sample's source paths, in order.
func Sources(sample []File) []string {
	out := make([]string, len(sample))
	for i, f := range sample {
		out[i] = f.Source
	}
	return out
}

// SampleSize is how many files a drill of t samples: t.DrillSample, or
// the default when it is unset (a Target built by hand).
func SampleSize(t *drivers.Target) int {
	if t.DrillSample > 0 {
		return t.DrillSample
	}
	return drivers.DefaultDrillSample
}

// Sample returns n files chosen uniformly at random (crypto/rand, so
// repeated drills cover different files), or all of them when there are
// no more than n, sorted by source path.
func Sample(files []File, n int) []File {
	out := append([]File(nil), files...)
	if n > 0 && n < len(out) {
		// A partial Fisher-Yates shuffle: the first n are the sample.
		for i := 0; i < n; i++ {
			j := i + randIntn(len(out)-i)
			out[i], out[j] = out[j], out[i]
		}
		out = out[:n]
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}

func randIntn(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		// crypto/rand does not fail on Linux; if it ever does, a fixed
		// pick still drills something.
		return 0
	}
	return int(v.Int64())
}

// TempDir makes a private (0700) scratch directory for a drill under
// the target's TempDir (the system's temp dir when unset). cleanup removes
// it whatever the restore left in it (read-only directories included); call
// it in a defer.
func TempDir(t *drivers.Target) (dir string, cleanup func() error, err error) {
	parent := t.TempDir
	if parent == "" {
		parent = os.TempDir()
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", nil, fmt.Errorf("drill: scratch directory: %w", err)
	}
	dir, err = os.MkdirTemp(parent, "drill-"+t.Name+"-")
	if err != nil {
		return "", nil, fmt.Errorf("drill: scratch directory: %w", err)
	}
	return dir, func() error { return removeAllForce(dir) }, nil
}

// removeAllForce is os.RemoveAll that first makes directories writable: a
// restore reproduces modes, and a 0500 directory would otherwise keep its
// files when not running as root.
func removeAllForce(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// underDir maps a path recorded in a backup (absolute like
// "/srv/alexandria/library/a.epub", or relative) to where it lands under
// dir, refusing any path that would leave dir ("..").
func underDir(dir, recorded string) (string, error) {
	rel := strings.TrimLeft(filepath.ToSlash(recorded), "/")
	if rel == "" || !filepath.IsLocal(filepath.FromSlash(rel)) {
		return "", fmt.Errorf("backup path %q would land outside %s", recorded, dir)
	}
	return filepath.Join(dir, filepath.FromSlash(rel)), nil
}

// PrepareRestoreDir makes dir ready for a restore that must never write
// outside it: dir must be absolute; it is created (0700) when missing; a
// non-empty dir is refused unless force, and even with force it must hold
// no symlink that leads outside it (or nowhere), because a restore tool
// that finds one where it restores a directory or file may follow it
// (restic 0.14 opens existing files for writing; everyone's mkdir -p
// follows symlinked directories).
func PrepareRestoreDir(dir string, force bool) error {
	if dir == "" || !filepath.IsAbs(dir) {
		return fmt.Errorf("restore directory %q must be an absolute path", dir)
	}
	dir = filepath.Clean(dir)
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("restore directory: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("restore directory %s is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("restore directory: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	if !force {
		return fmt.Errorf("restore directory %s is not empty (%d entries); restore into an empty directory, or use --force to restore over what is there", dir, len(entries))
	}
	return checkNoEscapingSymlinks(dir)
}

// checkNoEscapingSymlinks refuses a symlink anywhere under dir that
// resolves outside dir or does not resolve at all.
func checkNoEscapingSymlinks(dir string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		target, err := filepath.EvalSymlinks(p)
		if err == nil && !inOrBelow(real, target) {
			err = fmt.Errorf("points to %s", target)
		}
		if err != nil {
			link, _ := os.Readlink(p)
			return fmt.Errorf("refusing to restore into %s: the symlink %s (-> %s) leads outside it or nowhere, and the restore could write through it; remove it or restore into an empty directory", dir, p, link)
		}
		return nil
	})
}

// inOrBelow reports whether path is dir or below it (both clean and absolute).
func inOrBelow(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

// CountRestored counts the regular files under dir, for
// RestoreResult.Files (after a forced restore, what was there before
// counts too). It does not follow symlinks.
func CountRestored(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n, err
}

var drillHashes = map[string]func() hash.Hash{"sha256": sha256.New, "sha1": sha1.New, "md5": md5.New}

// Compare checks every sampled file's restored copy under dir:
// it must be a regular file inside dir (never read through a symlink) of
// the recorded size, match the recorded checksum when there is one, and
// match the live source byte for byte when the source's size and mtime
// still equal the recorded ones (otherwise the source changed since the
// backup and is skipped). The first problem is returned as a
// *Mismatch. A sample in which no file could be checked at all (every
// source changed, no checksum, nothing verified by the tool) is an error
// too: such a drill proves nothing.
func Compare(dir string, sample []File, c Check) (Outcome, error) {
	out := Outcome{Sampled: Sources(sample), tool: c.Tool, verified: c.ToolVerified}
	for _, f := range sample {
		if f.Sum != "" {
			out.algo = f.SumAlgo
		}
	}
	if len(sample) == 0 {
		return out, fmt.Errorf("%s drill: the backup holds no regular file to sample", c.Tool)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return out, err
	}
	defer root.Close()
	fail := func(f File, format string, args ...any) (Outcome, error) {
		return out, &Mismatch{Tool: c.Tool, File: f.Source, Reason: fmt.Sprintf(format, args...), Sampled: out.Sampled}
	}
	for _, f := range sample {
		unchanged := sourceUnchanged(f, c.MTimePrecision)
		compared, summed, err := compareOne(root, f, unchanged)
		if err != nil {
			var m *Mismatch
			if errors.As(err, &m) {
				return fail(f, "%s", m.Reason)
			}
			return out, fmt.Errorf("%s drill: %s: %w", c.Tool, f.Source, err)
		}
		if compared {
			out.Compared++
		} else {
			out.Changed = append(out.Changed, f.Source)
		}
		if summed {
			out.Summed++
		}
	}
	if out.Compared == 0 && out.Summed == 0 && c.ToolVerified == "" {
		return out, fmt.Errorf("%s drill: none of the %d sampled files could be checked: every one changed since the backup and %s records no checksum; run a backup, then drill again", c.Tool, len(sample), c.Tool)
	}
	return out, nil
}

// sourceUnchanged reports whether the live source still has the recorded
// size and mtime, i.e. should hold the bytes the backup holds.
func sourceUnchanged(f File, precision time.Duration) bool {
	st, err := os.Lstat(f.Source)
	if err != nil || !st.Mode().IsRegular() || st.Size() != f.Size {
		return false
	}
	d := st.ModTime().Sub(f.ModTime)
	if precision <= 0 {
		return d == 0
	}
	return d > -precision && d < precision
}

// ArgBatches splits args into groups whose total length stays well below
// Linux's limit on a command line (ARG_MAX, 2 MiB with the environment), for
// tools that take the sampled paths as arguments.
func ArgBatches(args []string) [][]string {
	const limit = 256 << 10
	var out [][]string
	var cur []string
	size := 0
	for _, a := range args {
		if len(cur) > 0 && size+len(a)+1 > limit {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, a)
		size += len(a) + 1
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// compareOne checks one restored file. A mismatch comes back as a
// *Mismatch carrying only the Reason.
func compareOne(root *os.Root, f File, withSource bool) (compared, summed bool, err error) {
	mismatch := func(format string, args ...any) (bool, bool, error) {
		return false, false, &Mismatch{Reason: fmt.Sprintf(format, args...)}
	}
	rel := filepath.FromSlash(strings.TrimLeft(filepath.ToSlash(f.Restored), "/"))
	if !filepath.IsLocal(rel) {
		return mismatch("was to be restored to %q, outside the drill directory", f.Restored)
	}
	st, err := root.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return mismatch("was not restored")
	}
	if err != nil {
		return false, false, err
	}
	if !st.Mode().IsRegular() {
		return mismatch("was restored as %s, not a regular file", st.Mode().Type())
	}
	if st.Size() != f.Size {
		return mismatch("was restored with %d bytes; the backup recorded %d", st.Size(), f.Size)
	}
	restored, err := root.Open(rel)
	if err != nil {
		return false, false, err
	}
	defer restored.Close()

	var h hash.Hash
	if f.Sum != "" {
		newHash, ok := drillHashes[f.SumAlgo]
		if !ok {
			return false, false, fmt.Errorf("unknown checksum algorithm %q", f.SumAlgo)
		}
		h = newHash()
	}
	var r io.Reader = restored
	if h != nil {
		r = io.TeeReader(restored, h)
	}
	if withSource {
		src, err := os.Open(f.Source)
		if err != nil {
			return false, false, err
		}
		defer src.Close()
		off, same, err := sameContent(r, src)
		if err != nil {
			return false, false, err
		}
		if !same {
			return mismatch("differs from its source at byte %d, though the source's size and mtime are as the backup recorded them", off)
		}
		compared = true
	} else if _, err := io.Copy(io.Discard, r); err != nil {
		return false, false, err
	}
	if h != nil {
		got := hex.EncodeToString(h.Sum(nil))
		if !strings.EqualFold(got, f.Sum) {
			return mismatch("was restored with %s %s; the backup recorded %s", f.SumAlgo, got, f.Sum)
		}
		summed = true
	}
	return compared, summed, nil
}

// sameContent compares two streams, returning the offset of the first
// difference (or where the shorter one ends).
func sameContent(a, b io.Reader) (int64, bool, error) {
	const size = 64 << 10
	ba, bb := make([]byte, size), make([]byte, size)
	var off int64
	for {
		na, erra := io.ReadFull(a, ba)
		nb, errb := io.ReadFull(b, bb)
		if erra != nil && erra != io.EOF && erra != io.ErrUnexpectedEOF {
			return off, false, erra
		}
		if errb != nil && errb != io.EOF && errb != io.ErrUnexpectedEOF {
			return off, false, errb
		}
		n := min(na, nb)
		if i := firstDiff(ba[:n], bb[:n]); i >= 0 {
			return off + int64(i), false, nil
		}
		if na != nb {
			return off + int64(n), false, nil
		}
		off += int64(n)
		if na < size {
			return off, true, nil
		}
	}
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
