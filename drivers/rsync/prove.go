package rsync

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// recover from a mirror: the mirror holds one path, its source, in the
// state of the recovery point its marker names (marker.go).

var (
	_ drivers.FileRecoverer = Driver{}
	_ drivers.RestoreProver = Driver{}
)

// RecoverPaths is the source: the mirror holds its contents.
func (Driver) RecoverPaths(t *drivers.Target) []string {
	return []string{filepath.Clean(t.Settings.Str("source"))}
}

// RecoverRank: after restic (1) and borg (2). A mirror is one copy with
// no history and no checksums of its own: it holds only the newest point,
// and what it holds is what the last verified run made it.
func (Driver) RecoverRank() int { return 3 }

// recoverPlace is the directory a restore of req fills with the mirror's
// contents: req.To itself, or with req.Paths (which can only name the
// source) the source's path below req.To, as recover lays places out.
func recoverPlace(t *drivers.Target, req drivers.RestoreRequest) (string, error) {
	src := filepath.Clean(t.Settings.Str("source"))
	for _, p := range req.Paths {
		if filepath.Clean(p) != src {
			return "", fmt.Errorf("the rsync mirror %s holds only %s, not %s", t.Settings.Str("destination"), src, p)
		}
	}
	if len(req.Paths) == 0 {
		return req.To, nil
	}
	return filepath.Join(req.To, src), nil
}

// proveCommand compares the mirror with dir, changing nothing: a dry run
// from the mirror with --checksum, so rsync reads every file on both
// sides and itemizes each that differs in content or size, is missing
// from dir (or is extra there: --delete), or is of another type; with
// --info=name2 the files found the same get a line too, with blank
// columns. Times, modes and owners are not compared (not preserved here):
// the proof is about the bytes.
func (r Driver) proveCommand(t *drivers.Target, dir string) proc.Command {
	args := append([]string{"--dry-run", "--checksum", "--recursive", "--links", "--delete",
		"--info=name2", "--out-format=" + listFormat, markerExclude}, rsyncRsh(t)...)
	return r.cmd(t, append(args, "--", rsyncMirrorRoot(t), filepath.Clean(dir)+"/")...)
}

// ProveRestore proves that the files in place (below req.To, at the
// source's path when req.Paths names it) are the mirror's: every file
// the mirror holds is there with the same size and content (rsync's
// checksums of both sides), and nothing else. With req.Point, the mirror
// must hold that point before and after the comparison, so the proof is
// of the point, not of a mirror a run changed meanwhile.
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
	before, err := r.checkPoint(ctx, x, t, req.Point)
	if err != nil {
		return drivers.RestoreProof{}, err
	}
	shown := filepath.Clean(dir) // differences are named where they are
	var files int
	var diffs []string
	c := r.proveCommand(t, dir)
	lines := &proc.Lines{Fn: func(b []byte) {
		l := strings.TrimRight(string(b), "\r")
		flags, name, ok := itemized(l)
		switch {
		case !ok:
			diffs = append(diffs, l) // "created directory ...": the place is missing
		case flags[0] == '*':
			diffs = append(diffs, filepath.Join(shown, rsyncUnescape(strings.TrimSpace(name)))+": in place but not in the mirror")
		case flags[0] != '.':
			what := "differs from the mirror's copy"
			if strings.Contains(flags[2:], "+") {
				what = "is missing"
			}
			diffs = append(diffs, filepath.Join(shown, rsyncUnescape(name))+": "+what+" ("+flags+")")
		case flags[1] == 'f':
			files++
		}
	}}
	c.Stdout = lines
	_, runErr := x.Run(ctx, c)
	lines.Close()
	if runErr != nil {
		return drivers.RestoreProof{}, fmt.Errorf("rsync: comparing %s with the mirror %s: %w", shown, t.Settings.Str("destination"), runErr)
	}
	if len(diffs) > 0 {
		shownDiffs := diffs
		if len(shownDiffs) > 5 {
			shownDiffs = append(shownDiffs[:5:5], fmt.Sprintf("and %d more", len(diffs)-5))
		}
		return drivers.RestoreProof{}, fmt.Errorf("rsync: %d %s between the files in place and the mirror %s: %s",
			len(diffs), map[bool]string{true: "difference", false: "differences"}[len(diffs) == 1], t.Settings.Str("destination"), strings.Join(shownDiffs, "; "))
	}
	if files == 0 {
		return drivers.RestoreProof{}, fmt.Errorf("rsync: the mirror %s holds no regular file: nothing was proven", t.Settings.Str("destination"))
	}
	if req.Point != "" {
		after, _, err := r.readMarker(ctx, x, t)
		if err != nil {
			return drivers.RestoreProof{}, err
		}
		if after == nil || after.Point != before.Point || !after.Verified.Equal(before.Verified) {
			return drivers.RestoreProof{}, fmt.Errorf("rsync: the mirror %s changed while it was compared (its recovery-point marker did): run the proof again once no run writes to it", t.Settings.Str("destination"))
		}
	}
	detail := fmt.Sprintf("%d files match the mirror %s (size and content: rsync's checksums of both sides), and nothing else is there", files, t.Settings.Str("destination"))
	if req.Point != "" {
		detail += ", which holds point " + req.Point
	}
	return drivers.RestoreProof{Checked: files, Detail: detail}, nil
}

var _ drivers.PlainRecoverer = Driver{}

// PlainRecover is recover's part in plain commands: the mirror copied
// beside the source's place (rsync creates only the last directory of its
// target, so mkdir first), then moved into it.
func (Driver) PlainRecover(t *drivers.Target) []drivers.Step {
	src := filepath.Clean(t.Settings.Str("source"))
	stage := drivers.PlainStage(src)
	into := filepath.Join(stage, src)
	args := append(append(rsyncBaseArgs(), markerExclude), rsyncRsh(t)...)
	args = append(args, "--", rsyncMirrorRoot(t), into+"/")
	steps := []drivers.Step{
		drivers.RestoreCmd(proc.Command{Program: "mkdir", Args: []string{"-p", into}}),
		drivers.RestoreCmd(proc.Command{Program: "rsync", Args: args}),
	}
	return append(steps, drivers.MoveIntoPlaceSteps(stage, src)...)
}
