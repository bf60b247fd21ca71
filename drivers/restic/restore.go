package restic

// Restore and drill for restic.
//
// Layout: a snapshot comes back as the tree it was taken from, below the
// restore directory: /srv/alexandria/library/a.epub is restored as
// DIR/srv/alexandria/library/a.epub. restic 0.14 has no
// "snapshot:subfolder" syntax to restore a path's contents straight into
// DIR (it answers `no matching ID found for prefix "ID:/srv/..."`), a target
// with several paths needs the tree form anyway, and borg restores the same
// layout, so every runbook reads the same: plain `restic restore ID
// --target DIR` gives exactly what `restore` gives.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
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

// resticVerifiedRE reads the count restic restore --verify prints last.
var resticVerifiedRE = regexp.MustCompile(`finished verifying (\d+) files`)

// resticListTail bounds what `restic ls --json` may print: about 400 bytes
// a file, so room for a library of a million files. A longer listing is
// refused rather than sampled from its tail.
const resticListTail = 512 << 20

// restoreCommand restores snapshot id into dir; with patterns, only the
// paths they match. --verify makes restic read every restored file back
// and check it against the blob hashes recorded at backup time: restic
// 0.14 exits 1 ("There were N errors") when a blob is damaged or missing.
func (r Driver) restoreCommand(t *drivers.Target, id, dir string, patterns []string) proc.Command {
	args := []string{"restore", "--target=" + dir, "--verify"}
	for _, p := range patterns {
		args = append(args, "--include="+p)
	}
	// Every exit but 0 is an error: restic has no "restored with warnings".
	return r.cmd(t, append(args, "--", id)...)
}

// lsCommand lists every node of a snapshot as JSON lines.
func (r Driver) lsCommand(t *drivers.Target, id string) proc.Command {
	c := r.cmd(t, "ls", "--json", "--", id)
	c.StdoutTail = resticListTail
	return c
}

// resticPattern is an --include pattern matching exactly the path p:
// restic matches each path component like filepath.Match, where a
// backslash makes the next character literal.
func resticPattern(p string) string {
	var b strings.Builder
	for _, c := range p {
		if strings.ContainsRune(`\*?[`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// findSnapshot resolves from among this target's snapshots (its host and
// tag): "" or "latest" is the newest, anything else a unique prefix of a
// snapshot id. A snapshot of another target is never restored by mistake.
func (r Driver) findSnapshot(ctx context.Context, x proc.Executor, t *drivers.Target, from string) (resticSnapshot, error) {
	cmd := r.cmd(t, append([]string{"snapshots", "--json"}, selectArgs(t)...)...)
	cmd.StdoutTail = 64 << 20
	res, err := x.Run(ctx, cmd)
	if err != nil {
		return resticSnapshot{}, err
	}
	var snaps []resticSnapshot
	if err := json.Unmarshal(res.Stdout, &snaps); err != nil {
		return resticSnapshot{}, fmt.Errorf("restic snapshots: unreadable JSON: %v", err)
	}
	which := fmt.Sprintf("target %s (host %s, tag %s)", t.Name, resticHost(owner(t)), resticTag(owner(t)))
	if from == "" || from == "latest" {
		if len(snaps) == 0 {
			return resticSnapshot{}, fmt.Errorf("the repository holds no snapshot of %s", which)
		}
		newest := snaps[0]
		for _, s := range snaps[1:] {
			if !s.Time.Before(newest.Time) {
				newest = s
			}
		}
		return newest, nil
	}
	var found []resticSnapshot
	for _, s := range snaps {
		if strings.HasPrefix(s.ID, strings.ToLower(from)) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return resticSnapshot{}, fmt.Errorf("no snapshot %q of %s; `snapshots %s` lists them", from, which, t.Name)
	}
	return resticSnapshot{}, fmt.Errorf("%q names %d snapshots of %s; give more of the id", from, len(found), which)
}

// Restore brings a snapshot of this target back below req.To (see the
// layout above). The directory must be empty unless req.Force, and even
// then may hold no symlink leading out of it: restic 0.14 writes through
// an existing symlink where it restores a file or directory (measured:
// a Force restore over DIR/.../link -> /elsewhere rewrote /elsewhere/o.txt).
func (r Driver) Restore(ctx context.Context, x proc.Executor, t *drivers.Target, req drivers.RestoreRequest) (drivers.RestoreResult, error) {
	if err := drivers.CheckSecrets(t); err != nil {
		return drivers.RestoreResult{}, err
	}
	snap, err := r.findSnapshot(ctx, x, t, req.From)
	if err != nil {
		return drivers.RestoreResult{}, err
	}
	if err := drill.PrepareRestoreDir(req.To, req.Force); err != nil {
		return drivers.RestoreResult{}, err
	}
	dir := filepath.Clean(req.To)
	var patterns []string
	for _, p := range req.Paths {
		patterns = append(patterns, resticPattern(p))
	}
	res, err := x.Run(ctx, r.restoreCommand(t, snap.ID, dir, patterns))
	if err != nil {
		return drivers.RestoreResult{}, fmt.Errorf("restic restore of snapshot %s into %s: %w", snap.ShortID, dir, err)
	}
	out := drivers.RestoreResult{From: snap.ShortID, Where: dir, Files: -1}
	if m := resticVerifiedRE.FindSubmatch(append(res.Stdout, res.Stderr...)); m != nil {
		out.Files, _ = strconv.Atoi(string(m[1]))
		out.ContentVerified = true // --verify read each file back against its blobs' SHA-256 ids
	}
	return out, nil
}

// resticNode is one line of `restic ls --json`.
type resticNode struct {
	StructType string    `json:"struct_type"`
	Type       string    `json:"type"`
	Path       string    `json:"path"`
	Size       int64     `json:"size"`
	MTime      time.Time `json:"mtime"`
}

// listFiles lists the regular files of a snapshot with their recorded
// size and mtime.
func (r Driver) listFiles(ctx context.Context, x proc.Executor, t *drivers.Target, id string) ([]drill.File, error) {
	res, err := x.Run(ctx, r.lsCommand(t, id))
	if err != nil {
		return nil, err
	}
	if len(res.Stdout) >= resticListTail {
		return nil, fmt.Errorf("restic ls: the listing of snapshot %s is larger than %d MiB; too large to sample from", id, resticListTail>>20)
	}
	var files []drill.File
	for _, line := range bytes.Split(res.Stdout, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var n resticNode
		if err := json.Unmarshal(line, &n); err != nil {
			return nil, fmt.Errorf("restic ls: unreadable JSON line %.80q: %v", line, err)
		}
		if n.StructType == "node" && n.Type == "file" {
			files = append(files, drill.File{Source: n.Path, Restored: n.Path, Size: n.Size, ModTime: n.MTime})
		}
	}
	return files, nil
}

// Drill restores a random sample of the files of this target's latest
// snapshot into a scratch directory, with --verify (restic checks each
// restored file against its recorded blob hashes), then compares every
// sampled file whose source still has the recorded size and mtime with
// that source, byte for byte.
func (r Driver) Drill(ctx context.Context, x proc.Executor, t *drivers.Target) (_ drivers.DrillResult, err error) {
	if err := drivers.CheckSecrets(t); err != nil {
		return drivers.DrillResult{}, err
	}
	snap, err := r.findSnapshot(ctx, x, t, "")
	if err != nil {
		return drivers.DrillResult{}, err
	}
	files, err := r.listFiles(ctx, x, t, snap.ID)
	if err != nil {
		return drivers.DrillResult{}, err
	}
	if len(files) == 0 {
		return drivers.DrillResult{}, fmt.Errorf("restic drill: snapshot %s holds no regular file to sample", snap.ShortID)
	}
	sample := drill.Sample(files, drill.SampleSize(t))
	dir, cleanup, err := drill.TempDir(t)
	if err != nil {
		return drivers.DrillResult{}, err
	}
	defer func() {
		if cerr := cleanup(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("restic drill: removing %s: %w", dir, cerr))
		}
	}()
	patterns := make([]string, len(sample))
	for i, f := range sample {
		patterns[i] = resticPattern(f.Source)
	}
	for _, batch := range drill.ArgBatches(patterns) {
		if _, err := x.Run(ctx, r.restoreCommand(t, snap.ID, dir, batch)); err != nil {
			return drivers.DrillResult{}, fmt.Errorf("restic drill: restoring %d sampled files of snapshot %s: %w (%s)",
				len(sample), snap.ShortID, err, drill.ListSample(drill.Sources(sample)))
		}
	}
	out, err := drill.Compare(dir, sample, drill.Check{Tool: "restic", ToolVerified: "restic restore --verify"})
	if err != nil {
		return drivers.DrillResult{}, err
	}
	return out.Result(snap.ShortID), nil
}
