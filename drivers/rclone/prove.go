package rclone

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// recover from the destination: it holds one path, its (local) source, in
// the state of the recovery point its marker names (marker.go).

var (
	_ drivers.FileRecoverer = Driver{}
	_ drivers.RestoreProver = Driver{}
)

// RecoverPaths is the source, when it is a local path: recover puts files
// back on this machine. A remote source (an rclone remote copied to
// another) has none, and recover does not use the target.
func (Driver) RecoverPaths(t *drivers.Target) []string {
	src := t.Settings.Str("source")
	if rcloneIsRemote(src) || len(t.Holds) > 0 {
		// Nothing of this machine's, or a copy of a restic repository:
		// its files are the repository's, not the library's.
		return nil
	}
	return []string{filepath.Clean(src)}
}

// RecoverRank: after restic (1), borg (2) and rsync (3). The destination
// is one copy with no history: it holds only the newest point; and an
// rclone target is more often an offsite copy of a repository than of the
// library itself.
func (Driver) RecoverRank() int { return 4 }

// recoverPlace is the directory a restore of req fills with the
// destination's contents: req.To itself, or with req.Paths (which can
// only name the source) the source's path below req.To, as recover lays
// places out.
func recoverPlace(t *drivers.Target, req drivers.RestoreRequest) (string, error) {
	if len(req.Paths) == 0 {
		return req.To, nil
	}
	src := t.Settings.Str("source")
	if rcloneIsRemote(src) {
		return "", fmt.Errorf("the source %s is an rclone remote, not a path on this machine: recover cannot put it back (restore --to DIR can)", src)
	}
	for _, p := range req.Paths {
		if filepath.Clean(p) != filepath.Clean(src) {
			return "", fmt.Errorf("the rclone destination %s holds only %s, not %s", t.Settings.Str("destination"), filepath.Clean(src), p)
		}
	}
	return filepath.Join(req.To, filepath.Clean(src)), nil
}

// proveCommand compares the files in dir with the destination: rclone
// check hashes both sides (cryptcheck for a crypt remote: the local files
// through the remote's encryption; --download reads both whole), writing
// a line per file to report.
func (r Driver) proveCommand(t *drivers.Target, env []proc.EnvVar, dir, report string) proc.Command {
	var flags []string
	if t.Settings.Bool("check_download", false) {
		flags = append(flags, "--download")
	}
	flags = append(flags, "--combined="+report, markerExclude)
	return r.cmd(t, env, rcloneHashSub(t), flags, filepath.Clean(dir), t.Settings.Str("destination"))
}

// ProveRestore proves that the files in place (below req.To, at the
// source's path when req.Paths names it) are the destination's: every
// file it holds is there with the same size and hash (or bytes, with
// check_download), and nothing else. A check that compared sizes only
// (no hash in common) proves nothing and fails. With req.Point, the
// destination must hold that point before and after the comparison.
func (r Driver) ProveRestore(ctx context.Context, x proc.Executor, t *drivers.Target, req drivers.RestoreRequest) (drivers.RestoreProof, error) {
	dir, err := recoverPlace(t, req)
	if err != nil {
		return drivers.RestoreProof{}, err
	}
	if dir == "" || filepath.Clean(dir) == "/" {
		// The mirror holds the source's contents: compared with / they
		// would differ in everything (recover always names the path).
		return drivers.RestoreProof{}, fmt.Errorf("no place to compare the mirror with (%q): name the source's path", dir)
	}
	env, err := rcloneSecrets(t)
	if err != nil {
		return drivers.RestoreProof{}, err
	}
	before, err := r.checkPoint(ctx, x, t, env, req.Point)
	if err != nil {
		return drivers.RestoreProof{}, err
	}
	scratch, err := rcloneScratchDir(t)
	if err != nil {
		return drivers.RestoreProof{}, err
	}
	defer os.RemoveAll(scratch)
	report := filepath.Join(scratch, "proof")
	sub := rcloneHashSub(t)
	found, err := r.runCheck(ctx, x, r.proveCommand(t, env, dir, report), report, nil)
	if err != nil {
		return drivers.RestoreProof{}, err
	}
	dest := t.Settings.Str("destination")
	shown := func(p string) string { return filepath.Join(dir, filepath.FromSlash(p)) }
	var diffs []string
	for _, p := range found.differ {
		diffs = append(diffs, shown(p)+": differs from the destination's copy")
	}
	for _, p := range found.dstOnly {
		diffs = append(diffs, shown(p)+": is missing")
	}
	for _, p := range found.srcOnly {
		diffs = append(diffs, shown(p)+": in place but not in the destination")
	}
	if len(diffs) > 0 {
		return drivers.RestoreProof{}, fmt.Errorf("rclone %s: %s between the files in place and %s: %s",
			sub, rcloneCount(len(diffs))+" "+rcloneVerb(len(diffs), "difference", "differences"), dest, rcloneSome(diffs))
	}
	if !t.Settings.Bool("check_download", false) {
		if m := rcloneHashesNotCheckedRE.FindSubmatch(found.stderr); m != nil && string(m[1]) != "0" {
			return drivers.RestoreProof{}, fmt.Errorf("rclone %s compared only sizes: %s hashes could not be checked (the files in place and %s share no hash type): nothing was proven; set check_download = true (or crypt = true for a crypt remote)", sub, m[1], dest)
		}
	}
	if found.same == 0 {
		return drivers.RestoreProof{}, fmt.Errorf("rclone: %s holds no file: nothing was proven", dest)
	}
	if req.Point != "" {
		after, _, err := r.readMarker(ctx, x, t, env)
		if err != nil {
			return drivers.RestoreProof{}, err
		}
		if after == nil || after.Point != before.Point || !after.Verified.Equal(before.Verified) {
			return drivers.RestoreProof{}, fmt.Errorf("rclone: %s changed while it was compared (its recovery-point marker did): run the proof again once no run writes to it", dest)
		}
	}
	detail := fmt.Sprintf("%s match %s (rclone %s: %s), and nothing else is there", rcloneFiles(found.same), dest, sub, strings.TrimPrefix(rcloneReadHow(t), "by "))
	if req.Point != "" {
		detail += ", which holds point " + req.Point
	}
	return drivers.RestoreProof{Checked: found.same, Detail: detail}, nil
}

var _ drivers.PlainRecoverer = Driver{}

// PlainRecover is recover's part in plain commands: the destination copied
// beside the source's place, then moved into it. None for a remote
// source.
func (r Driver) PlainRecover(t *drivers.Target) []drivers.Step {
	paths := r.RecoverPaths(t)
	if len(paths) == 0 {
		return nil
	}
	stage := drivers.PlainStage(paths[0])
	c := r.cmd(t, rcloneStepsEnv(t), "copy", []string{markerExclude}, t.Settings.Str("destination"), filepath.Join(stage, paths[0]))
	return append([]drivers.Step{drivers.RestoreCmd(c)}, drivers.MoveIntoPlaceSteps(stage, paths[0])...)
}
