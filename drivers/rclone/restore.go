package rclone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/drill"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Restore and drill for rclone. The destination is one copy, not a
// history, so restoring is copying it back; a crypt remote decrypts on
// the way.

var (
	_ drivers.Restorer = Driver{}
	_ drivers.Driller  = Driver{}
)

// rcloneNoSharedHash says the destination and a local directory share no
// hash rclone could compare: for a crypt remote (it stores none), and when
// the plan already said so for verification (check_download).
func rcloneNoSharedHash(t *drivers.Target) bool {
	return t.Settings.Bool("crypt", false) || t.Settings.Bool("check_download", false)
}

// restoreCommand copies the destination back into dir. copy never
// deletes: files in dir that the destination lacks stay. With force, files
// already in dir are compared by hash, not by size and mtime, so one
// damaged in place is replaced too; where no hash is shared, --checksum
// would quietly fall back to sizes only, so every file is copied again
// (--ignore-times). No bwlimit and none of the plan's excludes: a restore
// brings back all there is, as fast as it can, except the recovery-point
// marker, which is no file of the source.
func (r Driver) restoreCommand(t *drivers.Target, env []proc.EnvVar, dir string, force bool) proc.Command {
	flags := []string{markerExclude}
	switch {
	case force && rcloneNoSharedHash(t):
		flags = append(flags, "--ignore-times")
	case force:
		flags = append(flags, "--checksum")
	}
	return r.cmd(t, env, "copy", flags, t.Settings.Str("destination"), filepath.Clean(dir))
}

// Restore copies the destination into req.To. rclone creates no symlinks,
// and its local backend writes a name such as ".." as "．．" (full-width
// dots), so nothing in the destination leads outside req.To; symlinks
// already in req.To that lead outside, which rclone would write through,
// are refused before it runs.
func (r Driver) Restore(ctx context.Context, x proc.Executor, t *drivers.Target, req drivers.RestoreRequest) (drivers.RestoreResult, error) {
	dest := t.Settings.Str("destination")
	if err := drivers.MirrorFrom("an rclone "+rcloneMode(t)+" destination", req.From, dest); err != nil {
		return drivers.RestoreResult{}, err
	}
	env, err := rcloneSecrets(t)
	if err != nil {
		return drivers.RestoreResult{}, err
	}
	into, err := recoverPlace(t, req)
	if err != nil {
		return drivers.RestoreResult{}, err
	}
	if err := drill.PrepareRestoreDir(req.To, req.Force); err != nil {
		return drivers.RestoreResult{}, err
	}
	if _, err := r.checkPoint(ctx, x, t, env, req.Point); err != nil {
		return drivers.RestoreResult{}, err
	}
	if _, err := x.Run(ctx, r.restoreCommand(t, env, into, req.Force)); err != nil {
		return drivers.RestoreResult{}, err
	}
	n, err := drill.CountRestored(req.To)
	if err != nil {
		n = -1
	}
	return drivers.RestoreResult{From: dest, Where: filepath.Clean(req.To), Files: n}, nil
}

// rcloneFeatures is what `rclone backend features` says about a remote
// that a drill needs.
type rcloneFeatures struct {
	Precision time.Duration // how finely it keeps mtimes (JSON: nanoseconds)
	Hashes    []string
}

// rcloneModTimeUnsupported is the precision at which a remote keeps no
// mtimes at all (rclone reports 100 years).
const rcloneModTimeUnsupported = 24 * time.Hour

func (r Driver) features(ctx context.Context, x proc.Executor, t *drivers.Target, env []proc.EnvVar, remote string) (rcloneFeatures, error) {
	res, err := x.Run(ctx, r.cmd(t, env, "backend", nil, "features", remote))
	if err != nil {
		return rcloneFeatures{}, err
	}
	var f rcloneFeatures
	if err := json.Unmarshal(res.Stdout, &f); err != nil {
		return rcloneFeatures{}, fmt.Errorf("rclone backend features: unreadable JSON: %v", err)
	}
	return f, nil
}

// rcloneDrillSum picks the checksum a drill asks the destination for: one
// the remote has and the drill can compute, strongest first. None for a
// crypt remote.
func rcloneDrillSum(f rcloneFeatures) string {
	for _, algo := range []string{"sha256", "sha1", "md5"} {
		for _, h := range f.Hashes {
			if h == algo {
				return algo
			}
		}
	}
	return ""
}

type rcloneDrillEntry struct {
	Path    string            `json:"Path"`
	Size    int64             `json:"Size"`
	ModTime time.Time         `json:"ModTime"`
	Hashes  map[string]string `json:"Hashes"`
}

// sampleCommand lists only the files named in list (one per line, taken
// as they are), with their checksums. Only the sample is hashed: on the
// local and sftp backends, hashing means reading the file.
func (r Driver) sampleCommand(t *drivers.Target, env []proc.EnvVar, list, algo string) proc.Command {
	flags := []string{"--recursive", "--files-only", "--no-mimetype", "--hash-type=" + algo, "--files-from-raw=" + list}
	return r.cmd(t, env, "lsjson", flags, t.Settings.Str("destination"))
}

// fetchCommand copies the files named in list from remote into dir,
// keeping their paths. A name missing from remote is skipped silently
// (rclone 1.60 exits 0), which drill.Compare reports.
func (r Driver) fetchCommand(t *drivers.Target, env []proc.EnvVar, remote, list, dir string) proc.Command {
	return r.cmd(t, env, "copy", []string{"--files-from-raw=" + list}, remote, dir)
}

// rcloneFailedCopyRE is rclone's line about a file it could not copy.
var rcloneFailedCopyRE = regexp.MustCompile(`(?m)^ERROR : (.+): Failed to copy: (.*)$`)

// rcloneCopyFailure turns the first sampled file rclone could not copy
// into a finding that names it. On a crypt remote this is how damaged
// ciphertext shows: rclone 1.60 fails to authenticate the block and says
// "unexpected EOF".
func rcloneCopyFailure(stderr []byte, sample []drill.File, dest string) *drill.Mismatch {
	for _, m := range rcloneFailedCopyRE.FindAllSubmatch(stderr, -1) {
		for _, f := range sample {
			if f.Restored == string(m[1]) {
				return &drill.Mismatch{Tool: "rclone", File: f.Source, Sampled: drill.Sources(sample),
					Reason: fmt.Sprintf("could not be restored from %s (rclone: Failed to copy: %s)", dest, m[2])}
			}
		}
	}
	return nil
}

// rcloneJoin appends a relative path to an rclone path, local or remote.
func rcloneJoin(base, rel string) string {
	if rcloneIsRemote(base) && strings.HasSuffix(base, ":") {
		return base + rel
	}
	return strings.TrimRight(base, "/") + "/" + rel
}

// drillFiles lists the destination's files as a drill sees them: where
// each came from, its size and mtime. A name outside the destination
// ("..", which a crypt remote can hold) is a finding: no source file has
// such a path.
func (r Driver) drillFiles(ctx context.Context, x proc.Executor, t *drivers.Target, env []proc.EnvVar, feats rcloneFeatures) ([]drill.File, error) {
	dest, src := t.Settings.Str("destination"), t.Settings.Str("source")
	res, err := x.Run(ctx, r.listCommand(t, env))
	if err != nil {
		return nil, err
	}
	var entries []rcloneDrillEntry
	if res.ExitCode != 3 { // 3: the destination does not exist yet
		if err := json.Unmarshal(res.Stdout, &entries); err != nil {
			return nil, fmt.Errorf("rclone lsjson: unreadable JSON: %v", err)
		}
	}
	srcFile := false // a source that is one file: the destination holds it by its base name
	if !rcloneIsRemote(src) {
		if fi, err := os.Stat(src); err == nil && fi.Mode().IsRegular() {
			srcFile = true
		}
	}
	files := make([]drill.File, 0, len(entries))
	for _, e := range entries {
		if !filepath.IsLocal(filepath.FromSlash(e.Path)) {
			return nil, &drill.Mismatch{Tool: "rclone", File: rcloneJoin(dest, e.Path),
				Reason: fmt.Sprintf("is listed under the path %q, outside the destination, which no source file can have", e.Path)}
		}
		if strings.Contains(e.Path, "\n") {
			continue // --files-from-raw takes one name per line
		}
		f := drill.File{Source: filepath.Join(src, filepath.FromSlash(e.Path)), Restored: e.Path, Size: e.Size, ModTime: e.ModTime}
		switch {
		case srcFile:
			f.Source = src
		case rcloneIsRemote(src):
			f.Source = rcloneJoin(src, e.Path) // Drill compares a local copy
		}
		if feats.Precision >= rcloneModTimeUnsupported {
			// The remote keeps no mtimes: no source can be shown
			// unchanged; only checksums can judge.
			f.ModTime = time.Time{}
		}
		files = append(files, f)
	}
	return files, nil
}

// addSums asks the destination for the algo checksum of each sampled file
// (named in list).
func (r Driver) addSums(ctx context.Context, x proc.Executor, t *drivers.Target, env []proc.EnvVar, list, algo string, sample []drill.File) error {
	res, err := x.Run(ctx, r.sampleCommand(t, env, list, algo))
	if err != nil {
		return err
	}
	var hashed []rcloneDrillEntry
	if err := json.Unmarshal(res.Stdout, &hashed); err != nil {
		return fmt.Errorf("rclone lsjson: unreadable JSON: %v", err)
	}
	sums := map[string]string{}
	for _, e := range hashed {
		sums[e.Path] = e.Hashes[algo] // "" when the remote has none for this file
	}
	for i := range sample {
		if s := sums[sample[i].Restored]; s != "" {
			sample[i].SumAlgo, sample[i].Sum = algo, s
		}
	}
	return nil
}

// Drill restores a random sample of the destination's files into a
// scratch directory, through the remote and its crypt layer, and checks
// each: against the checksum the destination reports for it (none on a
// crypt remote), and byte for byte against its source when the source
// still has the size and mtime the destination recorded (rclone copies
// mtimes, at the remote's precision). A remote source is compared
// through a copy of the sample fetched into the scratch directory. A
// destination that holds a restic repository is drilled as one instead
// (holds.go).
func (r Driver) Drill(ctx context.Context, x proc.Executor, t *drivers.Target) (res drivers.DrillResult, err error) {
	env, err := rcloneSecrets(t)
	if err != nil {
		return drivers.DrillResult{}, err
	}
	if res, held, err := drillHeld(ctx, x, t, env); held {
		return res, err // a repository: restored from as one (holds.go)
	}
	dest, src := t.Settings.Str("destination"), t.Settings.Str("source")
	feats, err := r.features(ctx, x, t, env, dest)
	if err != nil {
		return drivers.DrillResult{}, err
	}
	files, err := r.drillFiles(ctx, x, t, env, feats)
	if err != nil {
		return drivers.DrillResult{}, err
	}
	sample := drill.Sample(files, drill.SampleSize(t))
	if len(sample) == 0 {
		return drivers.DrillResult{}, fmt.Errorf("rclone drill: the destination %s holds no files", dest)
	}

	dir, cleanup, err := drill.TempDir(t)
	if err != nil {
		return drivers.DrillResult{}, err
	}
	defer func() {
		if cerr := cleanup(); cerr != nil && err == nil {
			err = fmt.Errorf("rclone drill: removing %s: %w", dir, cerr)
		}
	}()
	list := filepath.Join(dir, "files-from")
	var names strings.Builder
	for _, f := range sample {
		names.WriteString(f.Restored + "\n")
	}
	if err := os.WriteFile(list, []byte(names.String()), 0o600); err != nil {
		return drivers.DrillResult{}, err
	}
	if algo := rcloneDrillSum(feats); algo != "" {
		if err := r.addSums(ctx, x, t, env, list, algo, sample); err != nil {
			return drivers.DrillResult{}, err
		}
	}

	restored := filepath.Join(dir, "restored")
	if fres, err := x.Run(ctx, r.fetchCommand(t, env, dest, list, restored)); err != nil {
		if m := rcloneCopyFailure(fres.Stderr, sample, dest); m != nil {
			return drivers.DrillResult{}, m
		}
		return drivers.DrillResult{}, fmt.Errorf("rclone drill: restoring %d sampled files from %s: %w", len(sample), dest, err)
	}

	srcNames := map[string]string{} // local copy of a remote source file → its rclone path
	if rcloneIsRemote(src) {
		// rclone keeps mtimes, so the copy tells whether the source
		// changed since the backup.
		fetched := filepath.Join(dir, "source")
		if _, err := x.Run(ctx, r.fetchCommand(t, env, src, list, fetched)); err != nil {
			return drivers.DrillResult{}, fmt.Errorf("rclone drill: fetching the sampled files from the source %s: %w", src, err)
		}
		for i := range sample {
			local := filepath.Join(fetched, filepath.FromSlash(sample[i].Restored))
			srcNames[local] = sample[i].Source
			sample[i].Source = local
		}
	}

	out, err := drill.Compare(restored, sample, drill.Check{Tool: "rclone", MTimePrecision: feats.Precision})
	if err != nil {
		var m *drill.Mismatch
		if errors.As(err, &m) && len(srcNames) > 0 {
			if n, ok := srcNames[m.File]; ok {
				m.File = n
			}
			for i, s := range m.Sampled {
				if n, ok := srcNames[s]; ok {
					m.Sampled[i] = n
				}
			}
		}
		return drivers.DrillResult{}, err
	}
	return out.Result(dest), nil
}
