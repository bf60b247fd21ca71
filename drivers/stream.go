package drivers

// Streamed dumps: a pg_dump target with `into` pipes pg_dump's output
// straight into the repository of a restic or borg target, with no
// temporary file:
//
//	pg_dump --format=custom --compress=0 --snapshot=ID  →  SHA-256  →  restic backup --stdin
//	                                                                   borg create ... - MANIFEST
//
// The promise "a dump whose pg_dump failed leaves no snapshot or archive"
// rests on RunPipe (pipe.go): restic and borg commit what they read when
// their input ends, and RunPipe gives them that end only after pg_dump
// exited 0; otherwise they are stopped (restic with SIGINT, borg with
// SIGTERM: the signals each cleans up on without committing; then SIGKILL)
// mid-stream and commit nothing. Both tools on these versions commit a partial stream
// when the end comes early (restic 0.14 `--stdin` and borg 1.2 `-` after a
// producer that failed half-way both exit 0 with a snapshot/archive), which
// is why the end of input is withheld rather than the result cleaned up
// afterwards. What a stopped tool may still leave is cleaned up anyway
// (discard): restic's stale lock, and anything that did get committed.
//
// Not restic's --stdin-from-command (0.17+) nor borg's
// --content-from-command: with those the tool runs pg_dump itself and
// also drops a failed stream, but nothing in between can hash the stream
// for the manifest; restic 0.14 (Debian 12) has no such flag, and borg
// keeps the checkpoint archives it wrote before the command failed.
// Withholding the end of input gives the same guarantee on every version.
//
// Every streamed dump has a manifest (pgdump_manifest.go) in the same
// repository:
//   - borg: in the same archive. borg reads its paths in order, so
//     `borg create ::NAME - NAME.manifest.json` reads the manifest file
//     only after the end of the dump; RunPipe's tap writes the file
//     (with the stream's SHA-256 and size) just before it gives borg that
//     end. One archive, one commit: never a dump without its manifest.
//   - restic: `--stdin` stores one file per snapshot, so the manifest is a
//     second snapshot (/NAME.manifest.json) with the same tag, host and
//     time as the dump's, plus the tag alexandria-manifest:<dump id>.
//     Retention groups by host and path, so dumps and manifests are thinned
//     in step (same times, same rules); if the manifest cannot be stored,
//     the dump snapshot is removed again.
//
// Snapshots carry the pg_dump target's own tag (restic) or name prefix
// (borg), never the restic/borg target's: that target's retention never
// touches the dumps, and the dump's retention (keep_last, keep_days) never
// touches that target's snapshots.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// streamManifestTag marks a restic manifest snapshot with the short id of
// the dump snapshot it describes.
const streamManifestTag = "alexandria-manifest:"

// streamDumpName and streamManifestName are the names the dump and its
// manifest have inside the repository.
func streamDumpName(t *Target) string     { return t.Name + ".dump" }
func streamManifestName(t *Target) string { return t.Name + ".manifest.json" }

// streamDumpCommand is pg_dump writing a custom-format archive to standard
// output. Uncompressed unless the plan sets compress: restic (repository
// format 2) and borg compress and deduplicate it themselves, and pg_dump's
// zlib both costs most of the dump's time and defeats deduplication (see
// the measurements in the issue note).
func streamDumpCommand(t *Target, snapshot string, env []EnvVar) Command {
	args := []string{"--format=custom", "--compress=" + strconv.Itoa(t.Settings.Int("compress", 0)), "--no-password"}
	if snapshot != "" {
		args = append(args, "--snapshot="+snapshot)
	}
	args = append(args, "--dbname="+t.Settings.Str("database"))
	return Command{Program: "pg_dump", Args: args, Env: env, Codes: ExitCodes{}.Override(t.ExitCodes), Stop: syscall.SIGTERM}
}

// streamReadCommand reads a custom archive from standard input whole,
// decompressing every data block (Verify's reader, as readCommand for a
// file).
func streamReadCommand(env []EnvVar) Command {
	return Command{Program: "pg_restore", Args: []string{"--format=custom", "--file=/dev/null"}, Env: env}
}

// streamedDump is one dump in the repository.
type streamedDump struct {
	ID     string // restic: the snapshot's short id; borg: the archive name
	fullID string // restic: the whole snapshot id
	Time   time.Time
	// manifest is where its manifest is: restic, the manifest snapshot's
	// short id ("" when there is none); borg, the archive itself.
	manifest string
}

// dumpStore is the part of a streamed dump that depends on the repository.
type dumpStore interface {
	tool() string
	// ready checks the repository's secrets before the tool runs.
	ready(t *Target) error
	// storeCommand stores standard input as the dump; dir is a private
	// directory the tap writes the manifest file into before the end of
	// the dump.
	storeCommand(t *Target, m *DumpManifest, dir string) Command
	// committed finishes a stored dump and returns its id; on error,
	// nothing of it may remain.
	committed(ctx context.Context, x Executor, t *Target, res Result, m *DumpManifest) (string, error)
	// discard removes whatever a failed store may have left.
	discard(ctx context.Context, x Executor, t *Target, res Result, m *DumpManifest) error
	// list returns the target's dumps, newest first.
	list(ctx context.Context, x Executor, t *Target) ([]streamedDump, error)
	// readManifest returns a dump's manifest.
	readManifest(ctx context.Context, x Executor, t *Target, d streamedDump) (*DumpManifest, error)
	// streamCommand writes the dump to standard output.
	streamCommand(t *Target, d streamedDump) Command
	// extract restores the dump file into dir and returns its path.
	extract(ctx context.Context, x Executor, t *Target, d streamedDump, dir string) (string, error)
	// prune applies the pg_dump target's retention to its dumps.
	prune(ctx context.Context, x Executor, t *Target, dryRun bool) (PruneResult, error)
	// pruneSteps describes prune for --dry-run.
	pruneSteps(t *Target) []Step
}

func streamStore(t *Target) dumpStore {
	if t.Into.Driver == "borg" {
		return borgStore{}
	}
	return resticStore{}
}

// sumTap hashes and counts a stream.
type sumTap struct {
	h hash.Hash
	n int64
}

func newSumTap() *sumTap { return &sumTap{h: sha256.New()} }

func (s *sumTap) Write(p []byte) (int, error) {
	s.h.Write(p)
	s.n += int64(len(p))
	return len(p), nil
}

func (s *sumTap) sum() string { return hex.EncodeToString(s.h.Sum(nil)) }

// streamTap hashes and counts the stream on its way into the repository,
// and when the stream is complete (Close, called by RunPipe before the
// repository sees the end of the dump) finishes the manifest and, when
// path is set, writes it there for borg to take into the archive.
type streamTap struct {
	*sumTap
	m    *DumpManifest
	path string
}

func (s *streamTap) Close() error {
	s.m.Bytes, s.m.SHA256 = s.n, s.sum()
	if s.path == "" {
		return nil
	}
	data, err := s.m.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(s.path, data, 0o600)
}

func streamPiper(x Executor) (proc.Piper, error) {
	p, ok := x.(proc.Piper)
	if !ok {
		return nil, errors.New("a streamed dump needs an executor that runs pipelines")
	}
	return p, nil
}

// streamBackup dumps into the repository. The rows are counted in the
// dump's snapshot before pg_dump starts: a table that cannot be counted
// fails the target before anything reaches the repository.
func (d PgDump) streamBackup(ctx context.Context, x Executor, t *Target) (Artifact, error) {
	piper, err := streamPiper(x)
	if err != nil {
		return Artifact{}, err
	}
	store := streamStore(t)
	if err := store.ready(t); err != nil {
		return Artifact{}, err
	}
	// The restic target's stale-lock policy holds for the dumps streamed
	// into its repository too: a killed run's lock would make this
	// target's retention (forget --prune, exclusive) fail.
	lockNotes, err := d.TendLocks(ctx, x, t)
	if err != nil {
		return Artifact{}, err
	}
	ds, err := openDumpSession(ctx, x, t)
	if err != nil {
		return Artifact{}, err
	}
	defer ds.Close()
	counts, err := ds.snap.Counts(ctx)
	if err != nil {
		return Artifact{}, err
	}
	m := ds.snap.Manifest(counts)
	m.Dump, m.Format, m.PgDumpVersion = streamDumpName(t), "custom", ds.pgDumpVersion
	// Whole seconds: the time is part of the archive name and restic's --time.
	m.CreatedAt = m.CreatedAt.Truncate(time.Second)

	dir, err := os.MkdirTemp(t.TempDir, "stream-")
	if err != nil {
		return Artifact{}, err
	}
	defer os.RemoveAll(dir)
	tap := &streamTap{sumTap: newSumTap(), m: m}
	if store.tool() == "borg" {
		tap.path = filepath.Join(dir, streamManifestName(t))
	}
	dumpRes, res, err := piper.RunPipe(ctx, streamDumpCommand(t, ds.snap.ID(), ds.env), store.storeCommand(t, m, dir), tap)
	ds.snap.Close() // release the snapshot: it holds back vacuum
	if err != nil {
		if derr := store.discard(context.WithoutCancel(ctx), x, t, res, m); derr != nil {
			return Artifact{}, errors.Join(fmt.Errorf("streaming the dump into %s failed: %w", t.Into.Name, err), derr)
		}
		return Artifact{}, fmt.Errorf("streaming the dump into %s failed, nothing was kept: %w", t.Into.Name, err)
	}
	id, err := store.committed(ctx, x, t, res, m)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{ID: id, Bytes: m.Bytes, Warnings: append(lockNotes, exitWarning(dumpRes)...)}, nil
}

// streamFind returns the dump with the given id (restic: a snapshot id or
// a unique prefix of one; borg: the archive name), or the newest.
func streamFind(ctx context.Context, x Executor, t *Target, id string) (streamedDump, error) {
	store := streamStore(t)
	dumps, err := store.list(ctx, x, t)
	if err != nil {
		return streamedDump{}, err
	}
	if len(dumps) == 0 {
		return streamedDump{}, fmt.Errorf("no dumps of target %q in %s's repository", t.Name, t.Into.Name)
	}
	if id == "" {
		return dumps[0], nil
	}
	var found []streamedDump
	for _, d := range dumps {
		if d.ID == id || d.fullID != "" && strings.HasPrefix(d.fullID, id) {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return streamedDump{}, fmt.Errorf("no dump %q of target %q in %s's repository (see `snapshots %s`)", id, t.Name, t.Into.Name, t.Name)
	case 1:
		return found[0], nil
	}
	return streamedDump{}, fmt.Errorf("%q names %d dumps of target %q; give more of the id", id, len(found), t.Name)
}

// streamVerify streams a dump back out of the repository into pg_restore,
// which reads the whole archive, through a SHA-256 compared with the
// manifest's: this reads every byte the repository holds of it.
func (d PgDump) streamVerify(ctx context.Context, x Executor, t *Target, a Artifact) error {
	piper, err := streamPiper(x)
	if err != nil {
		return err
	}
	store := streamStore(t)
	if err := store.ready(t); err != nil {
		return err
	}
	dump, err := streamFind(ctx, x, t, a.ID)
	if err != nil {
		return err
	}
	m, err := store.readManifest(ctx, x, t, dump)
	if err != nil {
		return err
	}
	tap := newSumTap()
	if _, _, err := piper.RunPipe(ctx, store.streamCommand(t, dump), streamReadCommand(t.EnvVars()), tap); err != nil {
		return fmt.Errorf("dump %s does not read back from %s: %w", dump.ID, t.Into.Name, err)
	}
	if err := m.CheckSum(tap.n, tap.sum()); err != nil {
		return fmt.Errorf("dump %s in %s: %w", dump.ID, t.Into.Name, err)
	}
	return nil
}

func (d PgDump) streamSnapshots(ctx context.Context, x Executor, t *Target) ([]Snapshot, error) {
	store := streamStore(t)
	if err := store.ready(t); err != nil {
		return nil, err
	}
	dumps, err := store.list(ctx, x, t)
	if err != nil {
		return nil, err
	}
	out := make([]Snapshot, 0, len(dumps))
	for _, dump := range dumps {
		info := "in " + t.Into.Name + " (" + store.tool() + ")"
		if dump.manifest == "" {
			info += ", no manifest"
		}
		out = append(out, Snapshot{ID: dump.ID, Time: dump.Time, Bytes: -1, Info: info})
	}
	return out, nil
}

func (d PgDump) streamPrune(ctx context.Context, x Executor, t *Target, dryRun bool) (PruneResult, error) {
	if t.Settings.Int("keep_last", 0) == 0 && t.Settings.Int("keep_days", 0) == 0 {
		return PruneResult{}, nil
	}
	store := streamStore(t)
	if err := store.ready(t); err != nil {
		return PruneResult{}, err
	}
	return store.prune(ctx, x, t, dryRun)
}

// streamLocal restores a streamed dump and its manifest into a private
// temporary directory as a dump file named as in `dir` (<target>-<time>.dump
// beside <...>.manifest.json), so restores and drills go through exactly
// the code that restores and drills file dumps, including the SHA-256
// check before the database is touched. pg_restore could read the stream
// from a pipe, but then the checksum could only be compared after the
// restore. The caller removes the directory.
func (d PgDump) streamLocal(ctx context.Context, x Executor, t *Target, id string) (local *Target, dump streamedDump, path string, cleanup func(), err error) {
	store := streamStore(t)
	if err := store.ready(t); err != nil {
		return nil, dump, "", nil, err
	}
	dump, err = streamFind(ctx, x, t, id)
	if err != nil {
		return nil, dump, "", nil, err
	}
	m, err := store.readManifest(ctx, x, t, dump)
	if err != nil {
		return nil, dump, "", nil, err
	}
	dir, err := os.MkdirTemp(t.TempDir, "restore-")
	if err != nil {
		return nil, dump, "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	extracted, err := store.extract(ctx, x, t, dump, dir)
	if err != nil {
		cleanup()
		return nil, dump, "", nil, fmt.Errorf("restoring dump %s out of %s: %w", dump.ID, t.Into.Name, err)
	}
	path = filepath.Join(dir, fmt.Sprintf("%s-%s.dump", t.Name, dump.Time.UTC().Format(stampLayout)))
	if err := os.Rename(extracted, path); err == nil {
		err = os.Chmod(path, 0o600)
	}
	if err == nil {
		err = writeManifest(path, m)
	}
	if err != nil {
		cleanup()
		return nil, dump, "", nil, err
	}
	local = pgWithDatabase(t, t.Settings.Str("database"))
	local.Into = nil
	local.Settings["dir"] = dir
	delete(local.Settings, "into")
	return local, dump, path, cleanup, nil
}

func (d PgDump) streamRestore(ctx context.Context, x Executor, t *Target, req RestoreRequest) (RestoreResult, error) {
	local, dump, path, cleanup, err := d.streamLocal(ctx, x, t, req.From)
	if err != nil {
		return RestoreResult{}, err
	}
	defer cleanup()
	req.From = path
	res, err := d.Restore(ctx, x, local, req)
	res.From = dump.ID
	return res, err
}

func (d PgDump) streamDrill(ctx context.Context, x Executor, t *Target) (DrillResult, error) {
	local, dump, _, cleanup, err := d.streamLocal(ctx, x, t, "")
	if err != nil {
		return DrillResult{}, err
	}
	defer cleanup()
	res, err := d.Drill(ctx, x, local)
	res.Artifact = dump.ID
	return res, err
}

// streamSteps is --dry-run for a streamed dump.
func (d PgDump) streamSteps(t *Target) []Step {
	var env []EnvVar
	if t.Settings.Has("password_file") {
		env = append(env, EnvVar{Name: "PGPASSFILE", Value: "<private pgpass made from " + t.Settings.Str("password_file") + ">"})
	}
	store := streamStore(t)
	dump := streamDumpCommand(t, "<exported snapshot>", append(env, t.EnvVars()...))
	m := &DumpManifest{Target: t.Name}
	if store.tool() == "borg" {
		// The archive name (UTC) is pinned in golden tests; restic's
		// --time is local time, shown as a placeholder.
		m.CreatedAt = Now().UTC().Truncate(time.Second)
	}
	storeCmd := store.storeCommand(t, m, "<private temporary directory>")
	dummy := streamedDump{ID: "<the new dump>", manifest: "<its manifest snapshot>"}
	stream, read := store.streamCommand(t, dummy), streamReadCommand(t.EnvVars())
	steps := []Step{
		{Phase: PhasePreflight, Note: "connect with pgx; refuse when pg_dump's major version is older than the server's"},
	}
	if store.tool() == "restic" {
		steps = append(steps, Step{Phase: PhasePreflight, Note: "apply restic target " + t.Into.Name + "'s stale-lock policy to its repository (stale_lock_age " + humanize.Duration(staleLockAge(t.Into)) + ")"})
	}
	steps = append(steps, []Step{
		{Phase: PhaseBackup, Note: "with pgx: open a REPEATABLE READ, READ ONLY transaction, export its snapshot (pg_export_snapshot) and count every table's rows exactly in it"},
		{Phase: PhaseBackup, Command: &dump},
		{Phase: PhaseBackup, Note: "| through a SHA-256 (no temporary file) into the command below; it sees the end of the dump only after pg_dump exited 0, otherwise it is stopped and nothing is kept"},
		{Phase: PhaseBackup, Command: &storeCmd},
	}...)
	if store.tool() == "restic" {
		manifest := resticStore{}.manifestCommand(t, m, "<dump id>", nil)
		steps = append(steps, Step{Phase: PhaseBackup, Command: &manifest},
			Step{Phase: PhaseBackup, Note: "(standard input: the manifest; if it cannot be stored, the dump snapshot is removed again)"})
	} else {
		steps[len(steps)-2].Note = "| through a SHA-256 (no temporary file) into the command below; it sees the end of the dump only after pg_dump exited 0 and the manifest (row counts, versions, bytes, SHA-256) was written for it to take into the same archive, otherwise it is stopped and nothing is kept"
	}
	steps = append(steps,
		Step{Phase: PhaseVerify, Command: &stream},
		Step{Phase: PhaseVerify, Note: "| through a SHA-256, compared with the manifest's, into:"},
		Step{Phase: PhaseVerify, Command: &read})
	return append(steps, store.pruneSteps(t)...)
}

// --- restic ---

type resticStore struct{}

func (resticStore) tool() string { return "restic" }

func (resticStore) ready(t *Target) error {
	if err := CheckSecrets(t.Into); err != nil {
		return fmt.Errorf("target %s: %w", t.Into.Name, err)
	}
	return nil
}

// resticTime is restic's --time: local time, whole seconds.
func resticTime(ts time.Time) string { return ts.Local().Format("2006-01-02 15:04:05") }

// resticStreamArgs are the flags both snapshots of a dump share: the
// restic target's host, the pg_dump target's tag, the dump's time.
func resticStreamArgs(t *Target, m *DumpManifest, name string) []string {
	when := "<dump start, local time>"
	if !m.CreatedAt.IsZero() {
		when = resticTime(m.CreatedAt)
	}
	args := []string{"backup", "--json"}
	if !t.Progress || name != streamDumpName(t) {
		args = append(args, "--quiet") // restic reports progress only without it
	}
	return append(args, "--stdin", "--stdin-filename="+name,
		"--host="+resticHost(t.Into), "--tag="+resticTag(t), "--time="+when)
}

// storeCommand: restic backup --stdin. Any exit but 0 is an error (3 would
// mean restic could not read all of its input).
func (resticStore) storeCommand(t *Target, m *DumpManifest, dir string) Command {
	c := Restic{}.cmd(t.Into, resticStreamArgs(t, m, streamDumpName(t))...)
	c.Progress = &ProgressReader{Parse: parseResticStatus}
	return c
}

// manifestCommand stores the manifest of dump snapshot shortID (from data).
func (resticStore) manifestCommand(t *Target, m *DumpManifest, shortID string, data []byte) Command {
	args := append(resticStreamArgs(t, m, streamManifestName(t)), "--tag="+streamManifestTag+shortID)
	c := Restic{}.cmd(t.Into, args...)
	if data != nil {
		c.Stdin = bytes.NewReader(data)
	}
	return c
}

func resticShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func (s resticStore) committed(ctx context.Context, x Executor, t *Target, res Result, m *DumpManifest) (string, error) {
	sum, err := resticSummary(res.Stdout)
	if err != nil {
		return "", fmt.Errorf("restic backup exited %d but %v", res.ExitCode, err)
	}
	id := resticShortID(sum.SnapshotID)
	data, err := m.Marshal()
	if err == nil {
		_, err = x.Run(ctx, s.manifestCommand(t, m, id, data))
	}
	if err != nil {
		// A dump without its manifest is not kept: remove it again.
		if _, ferr := x.Run(context.WithoutCancel(ctx), s.forgetIDs(t, id)); ferr != nil {
			return "", fmt.Errorf("storing the manifest of dump %s failed: %w; removing the dump snapshot failed too: %v (remove it by hand: restic forget --prune %s)", id, err, ferr, id)
		}
		return "", fmt.Errorf("storing the manifest of dump %s failed, so the dump was removed again: %w", id, err)
	}
	return id, nil
}

func (resticStore) forgetIDs(t *Target, ids ...string) Command {
	return Restic{}.cmd(t.Into, append([]string{"forget", "--prune", "--"}, ids...)...)
}

// discard: a restic stopped mid-stream commits nothing. Stopped with
// SIGINT (Restic.cmd), 0.14 removes its lock and exits 130, except that a
// SIGINT arriving while it is still taking the lock leaves that lock (seen
// when pg_dump fails at once); killed (SIGKILL after the grace period) it
// always leaves it. So after either, the lock policy removes locks of
// processes on this host that are gone (and nothing it promised to keep).
// A snapshot it did commit (it read the whole dump but then failed) is
// removed.
func (s resticStore) discard(ctx context.Context, x Executor, t *Target, res Result, m *DumpManifest) error {
	var errs []error
	if resticStopped(res) {
		if _, err := (Restic{}).applyLockPolicy(ctx, x, t.Into); err != nil {
			errs = append(errs, fmt.Errorf("removing the stopped restic's lock: %w", err))
		}
	}
	if sum, err := resticSummary(res.Stdout); err == nil {
		if _, err := x.Run(ctx, s.forgetIDs(t, sum.SnapshotID)); err != nil {
			errs = append(errs, fmt.Errorf("removing snapshot %s of the failed dump: %w (remove it by hand: restic forget --prune %s)", sum.SnapshotID, err, sum.SnapshotID))
		}
	}
	return errors.Join(errs...)
}

type resticStreamSnapshot struct {
	Time    time.Time `json:"time"`
	ID      string    `json:"id"`
	ShortID string    `json:"short_id"`
	Paths   []string  `json:"paths"`
	Tags    []string  `json:"tags"`
}

func (resticStore) list(ctx context.Context, x Executor, t *Target) ([]streamedDump, error) {
	cmd := Restic{}.cmd(t.Into, "snapshots", "--json", "--host="+resticHost(t.Into), "--tag="+resticTag(t))
	cmd.StdoutTail = 64 << 20
	res, err := x.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	var snaps []resticStreamSnapshot
	if err := json.Unmarshal(res.Stdout, &snaps); err != nil {
		return nil, fmt.Errorf("restic snapshots: unreadable JSON: %v", err)
	}
	manifests := map[string]string{} // dump short id → manifest short id
	for _, s := range snaps {
		for _, tag := range s.Tags {
			if dump, ok := strings.CutPrefix(tag, streamManifestTag); ok && len(s.Paths) == 1 && s.Paths[0] == "/"+streamManifestName(t) {
				manifests[dump] = s.ShortID
			}
		}
	}
	var out []streamedDump
	for _, s := range snaps {
		if len(s.Paths) == 1 && s.Paths[0] == "/"+streamDumpName(t) {
			out = append(out, streamedDump{ID: s.ShortID, fullID: s.ID, Time: s.Time, manifest: manifests[resticShortID(s.ShortID)]})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out, nil
}

func (resticStore) readManifest(ctx context.Context, x Executor, t *Target, d streamedDump) (*DumpManifest, error) {
	if d.manifest == "" {
		return nil, fmt.Errorf("dump %s has no manifest snapshot (tag %s%s) in %s", d.ID, streamManifestTag, d.ID, t.Into.Name)
	}
	cmd := Restic{}.cmd(t.Into, "dump", "--", d.manifest, "/"+streamManifestName(t))
	cmd.StdoutTail = 64 << 20
	res, err := x.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	m, err := ParseDumpManifest(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("the manifest of dump %s (snapshot %s): %w", d.ID, d.manifest, err)
	}
	return m, nil
}

func (resticStore) streamCommand(t *Target, d streamedDump) Command {
	return Restic{}.cmd(t.Into, "dump", "--", d.ID, "/"+streamDumpName(t))
}

func (resticStore) extract(ctx context.Context, x Executor, t *Target, d streamedDump, dir string) (string, error) {
	_, err := x.Run(ctx, Restic{}.cmd(t.Into, "restore", "--target="+dir, "--include=/"+streamDumpName(t), "--", d.ID))
	return filepath.Join(dir, streamDumpName(t)), err
}

// forgetCommand: --group-by host,paths makes the dumps one group and their
// manifests another, thinned by the same rules at the same times.
// keep_days is restic's --keep-within, counted back from the newest dump,
// so the newest is always kept.
func (resticStore) forgetCommand(t *Target, dryRun bool) Command {
	args := []string{"forget", "--json", "--host=" + resticHost(t.Into), "--tag=" + resticTag(t), "--group-by=host,paths"}
	if n := t.Settings.Int("keep_last", 0); n > 0 {
		args = append(args, "--keep-last="+strconv.Itoa(n))
	}
	if n := t.Settings.Int("keep_days", 0); n > 0 {
		args = append(args, "--keep-within="+strconv.Itoa(n)+"d")
	}
	if dryRun {
		args = append(args, "--dry-run")
	} else {
		args = append(args, "--prune")
	}
	return Restic{}.cmd(t.Into, args...)
}

func (s resticStore) pruneSteps(t *Target) []Step {
	if t.Settings.Int("keep_last", 0) == 0 && t.Settings.Int("keep_days", 0) == 0 {
		return nil
	}
	c := s.forgetCommand(t, false)
	return []Step{{Phase: PhasePrune, Command: &c}}
}

func (s resticStore) prune(ctx context.Context, x Executor, t *Target, dryRun bool) (PruneResult, error) {
	cmd := s.forgetCommand(t, dryRun)
	cmd.StdoutTail = 32 << 20
	res, err := x.Run(ctx, cmd)
	if err != nil {
		return PruneResult{}, err
	}
	first, _, _ := bytes.Cut(res.Stdout, []byte("\n"))
	var groups []struct {
		Paths  []string         `json:"paths"`
		Keep   []resticSnapshot `json:"keep"`
		Remove []resticSnapshot `json:"remove"`
	}
	if err := json.Unmarshal(first, &groups); err != nil {
		return PruneResult{}, fmt.Errorf("restic forget: unreadable JSON: %v", err)
	}
	out := PruneResult{Policy: true}
	for _, g := range groups {
		// Only the dumps count; their manifests go with them.
		if len(g.Paths) != 1 || g.Paths[0] != "/"+streamDumpName(t) {
			continue
		}
		out.Kept += len(g.Keep)
		for _, r := range g.Remove {
			out.Removed = append(out.Removed, r.ShortID)
		}
	}
	return out, nil
}

// --- borg ---

type borgStore struct{}

func (borgStore) tool() string { return "borg" }

func (borgStore) ready(t *Target) error {
	if err := (Borg{}).ready(t.Into); err != nil {
		return fmt.Errorf("target %s: %w", t.Into.Name, err)
	}
	return nil
}

func borgStreamArchive(t *Target, m *DumpManifest) string {
	return borgArchivePrefix(t) + m.CreatedAt.UTC().Format(stampLayout)
}

// storeCommand: borg create of standard input, then the manifest file the
// tap writes before the end of the dump. No checkpoints
// (--checkpoint-interval=0): a partial dump is worthless, and a checkpoint
// archive would outlive a stream that failed. Every exit but 0 is an
// error: with only these two inputs, borg's warning (1) means one of them
// was not stored whole.
func (borgStore) storeCommand(t *Target, m *DumpManifest, dir string) Command {
	args := append([]string{"create", "--json"}, borgProgressArgs(t)...)
	args = append(args, borgLockWait(t.Into), "--checkpoint-interval=0")
	if c := t.Into.Settings.Str("compression"); c != "" {
		args = append(args, "--compression="+c)
	}
	args = append(args, "--stdin-name="+streamDumpName(t), "--stdin-mode=0600",
		"--", "::"+borgStreamArchive(t, m), "-", streamManifestName(t))
	c := Borg{}.cmd(t.Into, args...)
	c.Dir = dir
	c.Progress = borgProgress(t)
	return c
}

func (borgStore) committed(ctx context.Context, x Executor, t *Target, res Result, m *DumpManifest) (string, error) {
	return borgStreamArchive(t, m), nil
}

// discard: borg stopped mid-stream commits nothing (and writes no
// checkpoint, see storeCommand). An archive it did commit before failing
// (an exit 1, or stopped while committing) printed its name: that one,
// made by this run, is removed. Nothing is removed by name alone: a name
// that already existed makes borg fail without touching it.
func (borgStore) discard(ctx context.Context, x Executor, t *Target, res Result, m *DumpManifest) error {
	var out struct {
		Archive struct {
			Name string `json:"name"`
		} `json:"archive"`
	}
	if json.Unmarshal(res.Stdout, &out) != nil || out.Archive.Name == "" {
		return nil
	}
	name := out.Archive.Name
	if _, err := x.Run(ctx, Borg{}.cmd(t.Into, "delete", borgLockWait(t.Into), "--", "::"+name)); err != nil {
		return fmt.Errorf("removing archive %s of the failed dump: %w (remove it by hand: borg delete ::%s)", name, err, name)
	}
	return nil
}

// borgView is a borg target that selects the pg_dump target's archives
// (its name) in the borg target's repository (its settings), with the
// pg_dump target's retention: Borg's own list, prune and compact then
// work on the dumps unchanged.
func borgView(t *Target) *Target {
	v := *t.Into
	v.Name = t.Name
	v.Settings = Values{}
	for k, val := range t.Into.Settings {
		if strings.HasPrefix(k, "keep_") {
			continue
		}
		v.Settings[k] = val
	}
	if n := t.Settings.Int("keep_last", 0); n > 0 {
		v.Settings["keep_last"] = n
	}
	if n := t.Settings.Int("keep_days", 0); n > 0 {
		v.Settings["keep_within"] = strconv.Itoa(n) + "d"
	}
	return &v
}

func (borgStore) list(ctx context.Context, x Executor, t *Target) ([]streamedDump, error) {
	snaps, err := Borg{}.Snapshots(ctx, x, borgView(t))
	if err != nil {
		return nil, err
	}
	out := make([]streamedDump, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, streamedDump{ID: s.ID, Time: s.Time, manifest: s.ID})
	}
	return out, nil
}

func (borgStore) readManifest(ctx context.Context, x Executor, t *Target, d streamedDump) (*DumpManifest, error) {
	cmd := Borg{}.cmd(t.Into, "extract", "--stdout", borgLockWait(t.Into), "--", "::"+d.ID, streamManifestName(t))
	cmd.StdoutTail = 64 << 20
	res, err := x.Run(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest of %s: %w", d.ID, err)
	}
	m, err := ParseDumpManifest(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("the manifest in %s: %w", d.ID, err)
	}
	return m, nil
}

func (borgStore) streamCommand(t *Target, d streamedDump) Command {
	return Borg{}.cmd(t.Into, "extract", "--stdout", borgLockWait(t.Into), "--", "::"+d.ID, streamDumpName(t))
}

func (borgStore) extract(ctx context.Context, x Executor, t *Target, d streamedDump, dir string) (string, error) {
	c := Borg{}.cmd(t.Into, "extract", borgLockWait(t.Into), "--", "::"+d.ID, streamDumpName(t))
	c.Dir = dir
	_, err := x.Run(ctx, c)
	return filepath.Join(dir, streamDumpName(t)), err
}

func (borgStore) prune(ctx context.Context, x Executor, t *Target, dryRun bool) (PruneResult, error) {
	return Borg{}.Prune(ctx, x, borgView(t), dryRun)
}

func (borgStore) pruneSteps(t *Target) []Step {
	v := borgView(t)
	prune, ok := Borg{}.pruneCommand(v, false)
	if !ok {
		return nil
	}
	compact := Borg{}.compactCommand(v)
	return []Step{{Phase: PhasePrune, Command: &prune}, {Phase: PhasePrune, Command: &compact}}
}
