package drivers

// The contract between a pg_dump target that streams its dump (`into`) and
// the driver whose repository receives it: the receiving driver
// implements DumpSink; pg_dump never builds another tool's commands.

import (
	"context"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// DumpSink is implemented by drivers whose repository a pg_dump target can
// stream its dump into (`into`).
type DumpSink interface {
	DumpStore() DumpStore
}

// ReceivesDumps reports whether a dump can stream into target t.
func ReceivesDumps(t *Target) bool {
	_, ok := t.Impl.(DumpSink)
	return ok
}

// StreamManifestTag marks a restic manifest snapshot with the short id of
// the dump snapshot it describes.
const StreamManifestTag = "alexandria-manifest:"

// StreamDumpName and StreamManifestName are the names the dump and its
// manifest have inside the repository.
func StreamDumpName(t *Target) string     { return t.Name + ".dump" }
func StreamManifestName(t *Target) string { return t.Name + ".manifest.json" }

// StreamedDump is one dump in the repository.
type StreamedDump struct {
	ID     string // restic: the snapshot's short id; borg: the archive name
	FullID string // restic: the whole snapshot id
	Time   time.Time
	// Manifest is where its manifest is: restic, the manifest snapshot's
	// short id ("" when there is none); borg, the archive itself.
	Manifest string
	// Point is the recovery point of the run that stored it; "" when
	// none is recorded.
	Point string
}

// DumpStore is the part of a streamed dump that depends on the repository.
type DumpStore interface {
	// Tool is the receiving tool's name, for messages.
	Tool() string
	// Ready checks the repository's secrets before the tool runs.
	Ready(t *Target) error
	// StoreCommand stores standard input as the dump; dir is a private
	// directory the tap writes the manifest file into before the end of
	// the dump.
	StoreCommand(t *Target, m *DumpManifest, dir string) proc.Command
	// StoredID is the id of the dump the store command (its result res)
	// committed.
	StoredID(t *Target, res proc.Result, m *DumpManifest) (string, error)
	// KeepManifest stores the manifest of dump id beside it (nothing to do
	// when ManifestInArchive). It runs while the dump is read back, so it
	// takes no exclusive lock; when it fails the caller discards the dump
	// once the read-back has ended.
	KeepManifest(ctx context.Context, x proc.Executor, t *Target, id string, m *DumpManifest) error
	// Discard removes whatever a failed store, or a dump whose manifest
	// could not be kept, may have left.
	Discard(ctx context.Context, x proc.Executor, t *Target, res proc.Result, m *DumpManifest) error
	// List returns the target's dumps, newest first.
	List(ctx context.Context, x proc.Executor, t *Target) ([]StreamedDump, error)
	// ReadManifest returns a dump's manifest.
	ReadManifest(ctx context.Context, x proc.Executor, t *Target, d StreamedDump) (*DumpManifest, error)
	// StreamCommand writes the dump to standard output.
	StreamCommand(t *Target, d StreamedDump) proc.Command
	// Extract restores the dump file into dir and returns its path.
	Extract(ctx context.Context, x proc.Executor, t *Target, d StreamedDump, dir string) (string, error)
	// Prune applies the pg_dump target's retention to its dumps.
	Prune(ctx context.Context, x proc.Executor, t *Target, dryRun bool) (PruneResult, error)
	// PruneSteps describes prune for --dry-run.
	PruneSteps(t *Target) []Step
	// ManifestInArchive: the manifest goes into the dump's own archive, as
	// a file the tap writes before the end of the dump; otherwise the
	// store keeps it beside the dump (ManifestSteps).
	ManifestInArchive() bool
	// DryRunManifest is the manifest --dry-run shows the store command
	// with.
	DryRunManifest(t *Target) *DumpManifest
	// PreflightSteps and ManifestSteps describe, for --dry-run, what the
	// store does before the dump and after it to keep the manifest.
	PreflightSteps(t *Target) []Step
	ManifestSteps(t *Target, m *DumpManifest) []Step
}
