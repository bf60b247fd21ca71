package borg

// Restore and drill for borg.
//
// Layout: borg stores paths without their leading "/" (and without
// leading "../") and extracts them relative to its working directory, so
// running `borg extract` in DIR restores /srv/alexandria/library/a.epub as
// DIR/srv/alexandria/library/a.epub: the same layout as restic's restore.
//
// borg 1.2.4 follows symlinks while extracting. An archive made with
// paths = ["/srv/lib", "/srv/lib/covers/x.jpg"] where covers is a symlink
// to /mnt/covers holds the symlink lib/covers AND the file
// lib/covers/x.jpg; extracting it recreates the symlink, then writes x.jpg
// through it into the live /mnt/covers (measured on these versions). So the
// archive's listing is checked first, and an archive holding an item below
// one of its own symlinks is refused, naming the item.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/drill"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

var (
	_ drivers.Restorer = Driver{}
	_ drivers.Driller  = Driver{}
)

// borgListTail bounds what `borg list --json-lines` may print (about 300
// bytes an item). A longer listing is refused rather than read from its
// tail.
const borgListTail = 512 << 20

// borgMTimePrecision: borg's JSON gives mtimes in microseconds, computed
// through a float, so they may be a rounding away from the file's.
const borgMTimePrecision = 2 * time.Microsecond

// borgItem is one line of `borg list --json-lines`.
type borgItem struct {
	Type    string `json:"type"` // "-" file, "d", "l", ...
	Path    string `json:"path"` // relative: borg strips the leading "/"
	Source  string `json:"source"`
	Healthy bool   `json:"healthy"`
	MTime   string `json:"mtime"` // local time, microseconds, no zone
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	// LinkTarget is a symlink's target.
	LinkTarget string `json:"linktarget"`
}

// borgArchivePaths are the paths of a RestoreRequest as the archive
// holds them (nil for everything).
func borgArchivePaths(paths []string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, borgArchivePath(p))
	}
	return out
}

// borgPatterns turns archive paths into borg path-prefix patterns, which
// match the path itself (and what is below it) with no wildcard meaning.
func borgPatterns(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = "pp:" + p
	}
	return out
}

// itemsCommand lists an archive's items, only those below paths when given;
// format names extra keys for the JSON ("{sha256}"; they replace mtime and
// size in borg 1.2's output).
func (b Driver) itemsCommand(t *drivers.Target, archive, format string, paths []string) proc.Command {
	args := []string{"list", "--json-lines", borgLockWait(t)}
	if format != "" {
		args = append(args, "--format="+format)
	}
	args = append(append(args, "--", "::"+archive), borgPatterns(paths)...)
	c := b.cmd(t, args...)
	c.StdoutTail = borgListTail
	return c
}

// extractCommand extracts an archive (only paths, when given) into dir.
// borg 1.2 exits 1 for warnings, but for extract a warning means an item
// did not come back as archived (a file with missing chunks is extracted
// with zeros in their place, a path matched nothing, attributes could not
// be set): a restore that is not exact is an error, so only 0 succeeds.
func (b Driver) extractCommand(t *drivers.Target, archive, dir string, paths []string) proc.Command {
	args := []string{"extract", borgLockWait(t), "--", "::" + archive}
	c := b.cmd(t, append(args, borgPatterns(paths)...)...)
	c.Dir = dir
	return c
}

// borgFailure keeps the ToolError of a failed borg run while saying what
// went wrong in borg's words: on an error borg prints a Python traceback,
// whose tail says nothing to an operator; the message comes before it.
type borgFailure struct {
	msg string
	err error
}

func (e *borgFailure) Error() string { return e.msg }
func (e *borgFailure) Unwrap() error { return e.err }

func borgRunError(what string, res proc.Result, err error) error {
	var te *proc.ToolError
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: %w", what, err)
	}
	msg := fmt.Sprintf("%s: borg exited %d", what, res.ExitCode)
	if res.Signal != "" {
		msg = fmt.Sprintf("%s: borg was killed by %s", what, res.Signal)
	}
	if said := borgSaid(res.Stderr); said != "" {
		msg += ": " + said
	}
	return &borgFailure{msg: msg, err: err}
}

// borgSaid is what borg's error output says, without a traceback: the
// lines before it ("Data integrity error: ...", or only "Local
// Exception") and the exception the traceback ends with
// ("borg.crypto.low_level.IntegrityError: MAC Authentication failed").
func borgSaid(stderr []byte) string {
	head, trace, found := bytes.Cut(stderr, []byte("Traceback (most recent call last):"))
	said := proc.LastLines(head, 5)
	if !found {
		return said
	}
	for _, l := range strings.Split(string(trace), "\n")[1:] {
		if l == "" || l[0] == ' ' {
			continue
		}
		// The first unindented line ends the traceback.
		if _, text, ok := strings.Cut(l, ": "); !ok || !strings.Contains(said, text) {
			said = strings.TrimPrefix(said+" | "+strings.TrimSpace(l), " | ")
		}
		break
	}
	return said
}

// findArchive resolves from among this target's archives: "" or "latest"
// is the newest, anything else an archive name as `snapshots` lists it (the
// "<target>@" prefix may be left out).
func (b Driver) findArchive(ctx context.Context, x proc.Executor, t *drivers.Target, from string) (string, error) {
	last := 0
	if from == "" || from == "latest" {
		last = 1
	}
	archives, err := b.list(ctx, x, t, last)
	if err != nil {
		return "", err
	}
	if len(archives) == 0 {
		return "", fmt.Errorf("the repository holds no archive of target %s (%s*)", t.Name, borgArchivePrefix(t))
	}
	if last == 1 {
		return archives[len(archives)-1].Name, nil
	}
	for _, a := range archives {
		if a.Name == from || a.Name == borgArchivePrefix(t)+from {
			return a.Name, nil
		}
	}
	return "", fmt.Errorf("no archive %q of target %s; `snapshots %s` lists them", from, t.Name, t.Name)
}

// listItems lists an archive's items (only below paths when given).
func (b Driver) listItems(ctx context.Context, x proc.Executor, t *drivers.Target, archive, format string, paths []string) ([]borgItem, error) {
	if len(paths) == 0 {
		return b.listBatch(ctx, x, t, archive, format, nil)
	}
	var items []borgItem
	for _, batch := range drill.ArgBatches(paths) {
		got, err := b.listBatch(ctx, x, t, archive, format, batch)
		if err != nil {
			return nil, err
		}
		items = append(items, got...)
	}
	return items, nil
}

func (b Driver) listBatch(ctx context.Context, x proc.Executor, t *drivers.Target, archive, format string, paths []string) ([]borgItem, error) {
	res, err := x.Run(ctx, b.itemsCommand(t, archive, format, paths))
	if err != nil {
		return nil, borgRunError("borg list of "+archive, res, err)
	}
	if len(res.Stdout) >= borgListTail {
		return nil, fmt.Errorf("borg list: the listing of %s is larger than %d MiB", archive, borgListTail>>20)
	}
	var items []borgItem
	for _, line := range bytes.Split(res.Stdout, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var it borgItem
		if err := json.Unmarshal(line, &it); err != nil {
			return nil, fmt.Errorf("borg list: unreadable JSON line %.80q: %v", line, err)
		}
		items = append(items, it)
	}
	return items, nil
}

// borgUnsafe finds an item that extracting would write outside the
// extraction directory: a path that is not local, or one below a symlink
// of the same archive (directly, or as a hard link's source).
func borgUnsafe(archive string, items []borgItem) error {
	links := map[string]bool{}
	for _, it := range items {
		if it.Type == "l" {
			links[it.Path] = true
		}
	}
	check := func(p string) error {
		if !filepath.IsLocal(filepath.FromSlash(p)) {
			return fmt.Errorf("archive %s holds %q, which would be extracted outside the restore directory", archive, p)
		}
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if links[dir] {
				return fmt.Errorf("archive %s holds %s below %s, which it also holds as a symlink: borg would write %s through that symlink, outside the restore directory (it was backed up through a symlinked directory; extract it by hand, or back up the symlink's target as a path of its own)", archive, p, dir, path.Base(p))
			}
		}
		return nil
	}
	for _, it := range items {
		if err := check(it.Path); err != nil {
			return err
		}
		if it.Source != "" && it.Type != "l" { // a hard link's source
			if err := check(it.Source); err != nil {
				return err
			}
		}
	}
	return nil
}

// borgRegular reports a regular file with its own content: borg 1.2 lists
// a hard link to an earlier item as type "-" with a source and size 0.
func borgRegular(it borgItem) bool { return it.Type == "-" && it.Source == "" }

// Restore extracts an archive of this target into req.To (see the layout
// above) after checking its listing for items that would land outside it.
func (b Driver) Restore(ctx context.Context, x proc.Executor, t *drivers.Target, req drivers.RestoreRequest) (drivers.RestoreResult, error) {
	if err := b.ready(t); err != nil {
		return drivers.RestoreResult{}, err
	}
	archive, err := b.findArchive(ctx, x, t, req.From)
	if err != nil {
		return drivers.RestoreResult{}, err
	}
	paths := borgArchivePaths(req.Paths)
	items, err := b.listItems(ctx, x, t, archive, "", paths)
	if err != nil {
		return drivers.RestoreResult{}, err
	}
	if err := borgUnsafe(archive, items); err != nil {
		return drivers.RestoreResult{}, fmt.Errorf("refusing to restore: %w", err)
	}
	if err := drill.PrepareRestoreDir(req.To, req.Force); err != nil {
		return drivers.RestoreResult{}, err
	}
	dir := filepath.Clean(req.To)
	if res, err := x.Run(ctx, b.extractCommand(t, archive, dir, paths)); err != nil {
		return drivers.RestoreResult{}, borgRunError(fmt.Sprintf("borg extract of %s into %s", archive, dir), res, err)
	}
	files := 0
	for _, it := range items {
		if it.Type == "-" {
			files++
		}
	}
	return drivers.RestoreResult{From: archive, Where: dir, Files: files}, nil
}

// Drill extracts a random sample of the regular files of this target's
// newest archive into a scratch directory (borg checks every chunk's id
// and MAC as it reads), compares each with its source when the source
// still has the recorded size and mtime, and with the SHA-256 borg
// computes from its own chunks (`borg list --format={sha256}`).
func (b Driver) Drill(ctx context.Context, x proc.Executor, t *drivers.Target) (_ drivers.DrillResult, err error) {
	if err := b.ready(t); err != nil {
		return drivers.DrillResult{}, err
	}
	archive, err := b.findArchive(ctx, x, t, "")
	if err != nil {
		return drivers.DrillResult{}, err
	}
	items, err := b.listItems(ctx, x, t, archive, "", nil)
	if err != nil {
		return drivers.DrillResult{}, err
	}
	// A drill proves a restore would work; this archive's would be refused.
	if err := borgUnsafe(archive, items); err != nil {
		return drivers.DrillResult{}, fmt.Errorf("borg drill: a restore would be refused: %w", err)
	}
	var files []drill.File
	for _, it := range items {
		if !borgRegular(it) {
			continue
		}
		mtime, err := time.ParseInLocation("2006-01-02T15:04:05.999999", it.MTime, time.Local)
		if err != nil {
			return drivers.DrillResult{}, fmt.Errorf("borg list: %s has an unreadable mtime %q", it.Path, it.MTime)
		}
		files = append(files, drill.File{Source: "/" + it.Path, Restored: it.Path, Size: it.Size, ModTime: mtime})
	}
	if len(files) == 0 {
		return drivers.DrillResult{}, fmt.Errorf("borg drill: archive %s holds no regular file to sample", archive)
	}
	sample := drill.Sample(files, drill.SampleSize(t))
	paths := make([]string, len(sample))
	for i, f := range sample {
		paths[i] = f.Restored
	}
	dir, cleanup, err := drill.TempDir(t)
	if err != nil {
		return drivers.DrillResult{}, err
	}
	defer func() {
		if cerr := cleanup(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("borg drill: removing %s: %w", dir, cerr))
		}
	}()
	for _, batch := range drill.ArgBatches(paths) {
		if res, err := x.Run(ctx, b.extractCommand(t, archive, dir, batch)); err != nil {
			return drivers.DrillResult{}, fmt.Errorf("%w (%s)", borgRunError(fmt.Sprintf("borg drill: extracting %d sampled files of %s", len(sample), archive), res, err), drill.ListSample(drill.Sources(sample)))
		}
	}
	sums, err := b.listItems(ctx, x, t, archive, "{sha256}", paths)
	if err != nil {
		return drivers.DrillResult{}, fmt.Errorf("borg drill: %w", err)
	}
	byPath := make(map[string]string, len(sums))
	for _, it := range sums {
		byPath[it.Path] = it.SHA256
	}
	for i := range sample {
		if s := byPath[sample[i].Restored]; s != "" {
			sample[i].SumAlgo, sample[i].Sum = "sha256", s
		}
	}
	out, err := drill.Compare(dir, sample, drill.Check{Tool: "borg", MTimePrecision: borgMTimePrecision})
	if err != nil {
		return drivers.DrillResult{}, err
	}
	return out.Result(archive), nil
}
