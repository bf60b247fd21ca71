package drivers

// The contract between a pg_dump target that streams its dump (`into`) and
// the driver whose repository receives it: the receiving driver
// implements DumpSink; pg_dump never builds another tool's commands.

import (
	"context"
	"time"
)

// dumpSink is implemented by drivers whose repository a pg_dump target can
// stream its dump into (`into`).
type dumpSink interface {
	dumpStore() dumpStore
}

// ReceivesDumps reports whether a dump can stream into target t.
func ReceivesDumps(t *Target) bool {
	_, ok := t.Impl.(dumpSink)
	return ok
}

// streamManifestTag marks a restic manifest snapshot with the short id of
// the dump snapshot it describes.
const streamManifestTag = "alexandria-manifest:"

// streamDumpName and streamManifestName are the names the dump and its
// manifest have inside the repository.
func streamDumpName(t *Target) string { return t.Name + ".dump" }

func streamManifestName(t *Target) string { return t.Name + ".manifest.json" }

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
	// manifestInArchive: the manifest goes into the dump's own archive, as
	// a file the tap writes before the end of the dump; otherwise the
	// store keeps it beside the dump (manifestSteps).
	manifestInArchive() bool
	// dryRunManifest is the manifest --dry-run shows the store command
	// with.
	dryRunManifest(t *Target) *DumpManifest
	// preflightSteps and manifestSteps describe, for --dry-run, what the
	// store does before the dump and after it to keep the manifest.
	preflightSteps(t *Target) []Step
	manifestSteps(t *Target, m *DumpManifest) []Step
}
