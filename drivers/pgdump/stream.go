package pgdump

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
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/stamped"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// streamDumpCommand is pg_dump writing a custom-format archive to standard
// output. Uncompressed unless the plan sets compress: restic (repository
// format 2) and borg compress and deduplicate it themselves, and pg_dump's
// zlib both costs most of the dump's time and defeats deduplication (see
// the measurements in the issue note).
func streamDumpCommand(t *drivers.Target, snapshot string, env []proc.EnvVar) proc.Command {
	args := []string{"--format=custom", "--compress=" + strconv.Itoa(t.Settings.Int("compress", 0)), "--no-password"}
	if snapshot != "" {
		args = append(args, "--snapshot="+snapshot)
	}
	args = append(args, "--dbname="+t.Settings.Str("database"))
	return pgTool(t, proc.Command{Program: "pg_dump", Args: args, Env: env, Codes: proc.ExitCodes{}.Override(t.ExitCodes), Stop: syscall.SIGTERM})
}

// streamReadCommand reads a custom archive from standard input whole,
// decompressing every data block (Verify's reader, as readCommand for a
// file).
func streamReadCommand(t *drivers.Target, env []proc.EnvVar) proc.Command {
	return stdinReadCommand(t, "custom", env)
}

// streamStore is the store of the target t's dump streams into. The plan
// loader lets `into` name only a target that receives dumps
// (ReceivesDumps).
func streamStore(t *drivers.Target) drivers.DumpStore {
	s, ok := t.Into.Impl.(drivers.DumpSink)
	if !ok {
		panic(fmt.Sprintf("target %s streams into %s, whose driver %s cannot receive dumps", t.Name, t.Into.Name, t.Into.Driver))
	}
	return s.DumpStore()
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
	m    *drivers.DumpManifest
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

func streamPiper(x proc.Executor) (proc.Piper, error) {
	p, ok := x.(proc.Piper)
	if !ok {
		return nil, errors.New("a streamed dump needs an executor that runs pipelines")
	}
	return p, nil
}

// streamBackup dumps into the repository. The rows are counted in the
// dump's snapshot before pg_dump starts: a table that cannot be counted
// fails the target before anything reaches the repository.
func (d Driver) streamBackup(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.Artifact, error) {
	piper, err := streamPiper(x)
	if err != nil {
		return drivers.Artifact{}, err
	}
	store := streamStore(t)
	if err := store.Ready(t); err != nil {
		return drivers.Artifact{}, err
	}
	// The restic target's stale-lock policy holds for the dumps streamed
	// into its repository too: a killed run's lock would make this
	// target's retention (forget --prune, exclusive) fail.
	lockNotes, err := d.TendLocks(ctx, x, t)
	if err != nil {
		return drivers.Artifact{}, err
	}
	ds, err := openDumpSession(ctx, x, t)
	if err != nil {
		return drivers.Artifact{}, err
	}
	defer ds.Close()
	counts, err := ds.snap.Counts(ctx)
	if err != nil {
		return drivers.Artifact{}, err
	}
	m := ds.snap.Manifest(counts)
	m.Dump, m.Format, m.PgDumpVersion, m.Point = drivers.StreamDumpName(t), "custom", ds.pgDumpVersion, t.Point
	// Whole seconds: the time is part of the archive name and restic's --time.
	m.CreatedAt = m.CreatedAt.Truncate(time.Second)

	dir, err := os.MkdirTemp(t.TempDir, "stream-")
	if err != nil {
		return drivers.Artifact{}, err
	}
	defer os.RemoveAll(dir)
	tap := &streamTap{sumTap: newSumTap(), m: m}
	if store.ManifestInArchive() {
		tap.path = filepath.Join(dir, drivers.StreamManifestName(t))
	}
	dumpRes, res, err := piper.RunPipe(ctx, streamDumpCommand(t, ds.snap.ID(), ds.env), store.StoreCommand(t, m, dir), tap)
	ds.snap.Close() // release the snapshot: it holds back vacuum
	if err != nil {
		if derr := store.Discard(context.WithoutCancel(ctx), x, t, res, m); derr != nil {
			return drivers.Artifact{}, errors.Join(fmt.Errorf("streaming the dump into %s failed: %w", t.Into.Name, err), derr)
		}
		return drivers.Artifact{}, fmt.Errorf("streaming the dump into %s failed, nothing was kept: %w", t.Into.Name, err)
	}
	id, err := store.StoredID(t, res, m)
	var readErr error
	if err == nil {
		err, readErr = d.keepAndReadBack(ctx, x, t, piper, store, id, m)
	}
	if err != nil {
		// A dump without its manifest is not kept.
		if derr := store.Discard(context.WithoutCancel(ctx), x, t, res, m); derr != nil {
			return drivers.Artifact{}, errors.Join(err, fmt.Errorf("removing the dump again failed too: %w", derr))
		}
		return drivers.Artifact{}, fmt.Errorf("%w, so the dump was removed again", err)
	}
	if readErr != nil {
		// Kept, as after any failed verification; retention keeps every
		// older dump.
		return drivers.Artifact{}, readErr
	}
	return drivers.Artifact{ID: id, Bytes: m.Bytes, Manifest: m, Verified: t.Verify,
		Warnings: append(lockNotes, exitWarning(dumpRes)...)}, nil
}

// keepAndReadBack stores the manifest of the dump id beside it and, when
// the target is verified, reads the dump back whole meanwhile (readBack).
// The whole dump is read back every time, the one thing never skipped;
// with restic the two are a process each, and each spends half a second
// deriving restic's key before it reads anything, both with shared locks:
// the run waits for the longer, not for both. keepErr is the manifest's
// (the caller then discards the dump: only after the read-back ended, as
// restic's forget --prune takes the exclusive lock).
func (d Driver) keepAndReadBack(ctx context.Context, x proc.Executor, t *drivers.Target, piper proc.Piper, store drivers.DumpStore, id string, m *drivers.DumpManifest) (keepErr, readErr error) {
	if !t.Verify {
		return store.KeepManifest(ctx, x, t, id, m), nil
	}
	kept := make(chan error, 1)
	go func() { kept <- store.KeepManifest(ctx, x, t, id, m) }()
	readErr = readBack(ctx, t, piper, store, drivers.StreamedDump{ID: id}, m)
	return <-kept, readErr
}

// streamFind returns the dump with the given id (restic: a snapshot id or
// a unique prefix of one; borg: the archive name), or the newest.
func streamFind(ctx context.Context, x proc.Executor, t *drivers.Target, id string) (drivers.StreamedDump, error) {
	store := streamStore(t)
	dumps, err := store.List(ctx, x, t)
	if err != nil {
		return drivers.StreamedDump{}, err
	}
	if len(dumps) == 0 {
		return drivers.StreamedDump{}, fmt.Errorf("no dumps of target %q in %s's repository", t.Name, t.Into.Name)
	}
	if id == "" {
		return dumps[0], nil
	}
	var found []drivers.StreamedDump
	for _, d := range dumps {
		if d.ID == id || d.FullID != "" && strings.HasPrefix(d.FullID, id) {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return drivers.StreamedDump{}, fmt.Errorf("no dump %q of target %q in %s's repository (see `snapshots %s`)", id, t.Name, t.Into.Name, t.Name)
	case 1:
		return found[0], nil
	}
	return drivers.StreamedDump{}, fmt.Errorf("%q names %d dumps of target %q; give more of the id", id, len(found), t.Name)
}

// streamVerify streams a dump back out of the repository into pg_restore,
// which reads the whole archive, through a SHA-256 compared with the
// manifest's: this reads every byte the repository holds of it.
func (d Driver) streamVerify(ctx context.Context, x proc.Executor, t *drivers.Target, a drivers.Artifact) error {
	piper, err := streamPiper(x)
	if err != nil {
		return err
	}
	store := streamStore(t)
	if err := store.Ready(t); err != nil {
		return err
	}
	// After a backup, its dump and manifest are known; otherwise (verify
	// of the newest, or of an id) both come from the repository.
	dump, m := drivers.StreamedDump{ID: a.ID}, a.Manifest
	if m == nil || a.ID == "" {
		if dump, err = streamFind(ctx, x, t, a.ID); err != nil {
			return err
		}
		if m, err = store.ReadManifest(ctx, x, t, dump); err != nil {
			return err
		}
	}
	return readBack(ctx, t, piper, store, dump, m)
}

// readBack streams a dump out of the repository into pg_restore, which
// reads the whole archive, through a SHA-256 compared with the manifest's.
func readBack(ctx context.Context, t *drivers.Target, piper proc.Piper, store drivers.DumpStore, dump drivers.StreamedDump, m *drivers.DumpManifest) error {
	tap := newSumTap()
	if _, _, err := piper.RunPipe(ctx, store.StreamCommand(t, dump), streamReadCommand(t, t.EnvVars()), tap); err != nil {
		return fmt.Errorf("dump %s does not read back from %s: %w", dump.ID, t.Into.Name, err)
	}
	if err := m.CheckSum(tap.n, tap.sum()); err != nil {
		return fmt.Errorf("dump %s in %s: %w", dump.ID, t.Into.Name, err)
	}
	return nil
}

func (d Driver) streamSnapshots(ctx context.Context, x proc.Executor, t *drivers.Target) ([]drivers.Snapshot, error) {
	store := streamStore(t)
	if err := store.Ready(t); err != nil {
		return nil, err
	}
	dumps, err := store.List(ctx, x, t)
	if err != nil {
		return nil, err
	}
	out := make([]drivers.Snapshot, 0, len(dumps))
	for _, dump := range dumps {
		info := "in " + t.Into.Name + " (" + store.Tool() + ")"
		if dump.Manifest == "" {
			info += ", no manifest"
		}
		out = append(out, drivers.Snapshot{ID: dump.ID, Time: dump.Time, Bytes: -1, Info: info, Point: dump.Point})
	}
	return out, nil
}

func (d Driver) streamPrune(ctx context.Context, x proc.Executor, t *drivers.Target, dryRun bool) (drivers.PruneResult, error) {
	if t.Settings.Int("keep_last", 0) == 0 && t.Settings.Int("keep_days", 0) == 0 {
		return drivers.PruneResult{}, nil
	}
	store := streamStore(t)
	if err := store.Ready(t); err != nil {
		return drivers.PruneResult{}, err
	}
	return store.Prune(ctx, x, t, dryRun)
}

// streamLocal restores a streamed dump and its manifest into a private
// temporary directory as a dump file named as in `dir` (<target>-<time>.dump
// beside <...>.manifest.json), so restores and drills go through exactly
// the code that restores and drills file dumps, including the SHA-256
// check before the database is touched. pg_restore could read the stream
// from a pipe, but then the checksum could only be compared after the
// restore. The caller removes the directory.
func (d Driver) streamLocal(ctx context.Context, x proc.Executor, t *drivers.Target, id string) (local *drivers.Target, dump drivers.StreamedDump, path string, cleanup func(), err error) {
	store := streamStore(t)
	if err := store.Ready(t); err != nil {
		return nil, dump, "", nil, err
	}
	dump, err = streamFind(ctx, x, t, id)
	if err != nil {
		return nil, dump, "", nil, err
	}
	m, err := store.ReadManifest(ctx, x, t, dump)
	if err != nil {
		return nil, dump, "", nil, err
	}
	dir, err := os.MkdirTemp(t.TempDir, "restore-")
	if err != nil {
		return nil, dump, "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	extracted, err := store.Extract(ctx, x, t, dump, dir)
	if err != nil {
		cleanup()
		return nil, dump, "", nil, fmt.Errorf("restoring dump %s out of %s: %w", dump.ID, t.Into.Name, err)
	}
	path = filepath.Join(dir, fmt.Sprintf("%s-%s.dump", t.Name, dump.Time.UTC().Format(stamped.Layout)))
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

func (d Driver) streamRestore(ctx context.Context, x proc.Executor, t *drivers.Target, req drivers.RestoreRequest) (drivers.RestoreResult, error) {
	local, dump, path, cleanup, err := d.streamLocal(ctx, x, t, req.From)
	if err != nil {
		return drivers.RestoreResult{}, err
	}
	defer cleanup()
	req.From = path
	res, err := d.Restore(ctx, x, local, req)
	res.From = dump.ID
	return res, err
}

func (d Driver) streamDrill(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.DrillResult, error) {
	local, dump, _, cleanup, err := d.streamLocal(ctx, x, t, "")
	if err != nil {
		return drivers.DrillResult{}, err
	}
	defer cleanup()
	res, err := d.Drill(ctx, x, local)
	res.Artifact = dump.ID
	return res, err
}

// streamSteps is --dry-run for a streamed dump.
func (d Driver) streamSteps(t *drivers.Target) []drivers.Step {
	var env []proc.EnvVar
	if t.Settings.Has("password_file") {
		env = append(env, proc.EnvVar{Name: "PGPASSFILE", Value: "<private pgpass made from " + t.Settings.Str("password_file") + ">"})
	}
	store := streamStore(t)
	dump := streamDumpCommand(t, "<exported snapshot>", append(env, t.EnvVars()...))
	m := store.DryRunManifest(t)
	storeCmd := store.StoreCommand(t, m, "<private temporary directory>")
	dummy := drivers.StreamedDump{ID: "<the new dump>", Manifest: "<its manifest snapshot>"}
	stream, read := store.StreamCommand(t, dummy), streamReadCommand(t, t.EnvVars())
	steps := append(preflightSteps(t), store.PreflightSteps(t)...)
	steps = append(steps, []drivers.Step{
		{Phase: drivers.PhaseBackup, Note: "with pgx: open a REPEATABLE READ, READ ONLY transaction, export its snapshot (pg_export_snapshot) and count every table's rows exactly in it"},
		{Phase: drivers.PhaseBackup, Command: &dump},
		{Phase: drivers.PhaseBackup, Note: "| through a SHA-256 (no temporary file) into the command below; it sees the end of the dump only after pg_dump exited 0, otherwise it is stopped and nothing is kept"},
		{Phase: drivers.PhaseBackup, Command: &storeCmd},
	}...)
	steps = append(steps, store.ManifestSteps(t, m)...)
	if store.ManifestInArchive() {
		steps[len(steps)-2].Note = "| through a SHA-256 (no temporary file) into the command below; it sees the end of the dump only after pg_dump exited 0 and the manifest (row counts, versions, bytes, SHA-256) was written for it to take into the same archive, otherwise it is stopped and nothing is kept"
	}
	if t.Verify {
		// Read back as part of the backup, while the manifest is stored
		// (keepAndReadBack): the verify phase has nothing left to do.
		when := "meanwhile"
		if store.ManifestInArchive() {
			when = "then"
		}
		steps = append(steps,
			drivers.Step{Phase: drivers.PhaseBackup, Note: when + ", the dump read back whole:"},
			drivers.Step{Phase: drivers.PhaseBackup, Command: &stream},
			drivers.Step{Phase: drivers.PhaseBackup, Note: "| through a SHA-256, compared with the manifest's, into:"},
			drivers.Step{Phase: drivers.PhaseBackup, Command: &read})
	}
	return append(steps, store.PruneSteps(t)...)
}
