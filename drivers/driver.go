// Package drivers is the contract every tool driver implements: Target,
// Option, Driver and its optional interfaces, Step, Artifact, the facts a
// driver declares, and the DumpSink a streamed dump goes into. Each tool is
// a package of its own under drivers/ (drivers/restic, ...), listed once in
// drivers/all; what several tools share is under drivers/internal.
package drivers

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Target is one configured backup target, validated and with ${VAR}
// references expanded.
type Target struct {
	Name   string
	Driver string
	// Impl is the driver named by Driver (set by the plan loader): how a
	// target's own facts, and the receiver of its streamed dump, are found
	// without a registry lookup from inside drivers.
	Impl      Driver
	After     []string
	Timeout   time.Duration // 0 = none
	Verify    bool
	Env       map[string]string
	ExitCodes proc.ExitCodes // the plan's override of the tool's classification
	Settings  Values         // the driver's own keys
	// Retries is how many times a backup that failed for a transient
	// reason (a lock held, the network) is tried again; RetryWait is the
	// first wait, doubled after each try.
	Retries   int
	RetryWait time.Duration
	// Drill makes `run` also drill the target after verifying it.
	Drill bool
	// VerifyCycle: each verify reads what the backup wrote plus one of
	// VerifyCycle slices of the rest (see Scope).
	VerifyCycle int
	// DrillSample is how many files a drill of a file target restores and
	// compares (default DefaultDrillSample).
	DrillSample int
	// Into is the restic or borg target a pg_dump target streams its dump
	// into (the plan's `into`), or nil.
	Into *Target
	// CopyFrom is the target whose snapshots this one copies into its own
	// repository (restic's `copy_from`), or nil. Its snapshots keep the
	// source's host and tag there, so retention, listings, restore and
	// drill of the copy select them as the source's.
	CopyFrom *Target
	// Holds are the targets whose repository this one copies file for
	// file (an rclone copy of a restic target's local repository; several
	// when they share it), found by the plan loader from the paths
	// (DirCopier, CopyDriller), or nil. A drill of this target opens its
	// copy as that repository.
	Holds []*Target
	// TempDir is a private (0700) directory for temporary files such as a
	// generated pgpass; it is created before the target runs, and emptied
	// of what an interrupted run left when the next one starts.
	TempDir string
	// KeepDir is a private (0700) directory for what a driver keeps from
	// one run to the next (rsync's and rclone's records of the mirror's
	// files, for their guards); never emptied. "" when there is none: the driver then keeps
	// nothing between runs.
	KeepDir string
	// Reclaims says when each repository's space was last reclaimed (see
	// ReclaimDue); nil: whenever the tool's own rule says.
	Reclaims ReclaimLog
	// Progress asks the tool of the backup for machine-readable progress
	// (someone is watching a terminal). It changes only the backup
	// command, never what is backed up.
	Progress bool
	// Point is the recovery point this run records (NewPoint): every
	// backup the run makes carries it (a restic tag, a borg archive's
	// comment, a dump's manifest), so the repositories and dump
	// directories alone tell which backups one run made. "" outside a
	// run: nothing is marked.
	Point string
	// KeepPoints are recovery points whose backups retention keeps,
	// whatever its policy says: the newest point that holds a database
	// and the files (the one `recover` would use). Each target thins its
	// own backups; without this a monthly run on a weekly run's day
	// would forget the weekly's snapshot (keep_daily keeps one a day) and
	// leave its dump without the files it goes with. Drivers that can
	// keep a backup by its point honour it (restic: --keep-tag).
	KeepPoints []string
	// Plan is the redacted plan this run stores in the target's
	// repository when the target's driver (or its `into` target's) is a
	// PlanStore; nil outside a run, or when it could not be made.
	Plan *PlanCopy
	// ListWithoutLocks asks Snapshots to take no lock in the repository
	// (restic --no-lock, borg --bypass-lock): `status --from-repositories`
	// runs from a monitoring host at any time, and its listing must never
	// make a backup or a prune wait or fail. A listing read so may see a
	// prune half done; for freshness that is fine.
	ListWithoutLocks bool
}

// Repository is the restic or borg repository the target writes to (its
// own, or the one its dump streams into), or "". Two targets sharing one
// never run at once: restic's check and prune and all of borg take the
// repository's exclusive lock.
func (t *Target) Repository() string {
	if t.Into != nil {
		return t.Into.Repository()
	}
	return t.Resources().Repository
}

// EnvVars returns the target's `env` table as child environment. Every
// value is treated as a secret: `env` is where cloud credentials go.
func (t *Target) EnvVars() []proc.EnvVar {
	names := make([]string, 0, len(t.Env))
	for k := range t.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]proc.EnvVar, 0, len(names))
	for _, k := range names {
		out = append(out, proc.EnvVar{Name: k, Value: t.Env[k], Secret: true})
	}
	return out
}

// Artifact is what a backup produced.
type Artifact struct {
	ID       string // dump file, snapshot id, archive name or destination
	Bytes    int64  // -1 when the tool does not say
	Verified bool   // already verified as part of the backup itself
	Warnings []string
	// Written is what this backup transferred, in the tool's own units
	// (pack files for restic), or the path of a record of them the
	// driver wrote (rsync, rclone, borg: a first backup of 100,000 files
	// would hold their names in memory), for a verify that reads exactly
	// those (ScopedVerifier); nil when the driver does not track them.
	Written []string
	// Manifest is the manifest of the dump this backup streamed into a
	// repository, in memory: the verify that follows reads the dump
	// against it without listing the repository and reading it back.
	Manifest *DumpManifest
	// Vanished are source paths (relative to the source) that disappeared
	// while the backup read them, as the tool reported: on a live library
	// that is a warning, and verification does not count them as damage.
	Vanished []string
	// Earlier: ID is an earlier run's backup, not one this run made (a
	// copy whose source made none in this run). The run's recovery point
	// must not hold it: recover would pair it with this run's dump.
	Earlier bool
}

// Snapshot is one backup as listed by `snapshots`.
type Snapshot struct {
	ID string `json:"id"`
	// Time is when the backup was made; zero (and absent from JSON) when
	// unknown: a mirror without the marker of a verified sync.
	Time  time.Time `json:"time,omitzero"`
	Bytes int64     `json:"bytes"` // -1 when unknown
	Info  string    `json:"info,omitempty"`
	// Point is the recovery point (the run) that made it; "" when it
	// carries none (made before points, or by hand).
	Point string `json:"point,omitempty"`
}

// PruneResult says what retention removed, or would remove on a dry run.
type PruneResult struct {
	Policy  bool // false when the target has no retention keys: nothing was looked at
	Removed []string
	Kept    int
	// Reclaimed names the restic or borg target whose repository's space
	// this prune reclaimed (restic's --prune, borg compact ran); "" when
	// none was, or it waits for prune_every.
	Reclaimed string
}

// Phase is one step of a target's run.
type Phase string

const (
	PhasePreflight Phase = "preflight"
	PhaseBackup    Phase = "backup"
	PhaseVerify    Phase = "verify"
	PhasePrune     Phase = "prune"
	PhaseDrill     Phase = "drill"
	PhaseInit      Phase = "init"
)

// Step is one thing a run would do: a command, or an action the tool itself
// takes (a rename, a removal), described in Note.
type Step struct {
	Phase   Phase
	Command *proc.Command
	Note    string
	// Shell is a runbook line a person's shell runs as printed, for what a
	// Command cannot say: a variable set from a command's output, or used.
	Shell string
}

func (s Step) String() string {
	switch {
	case s.Command != nil:
		return s.Command.String()
	case s.Shell != "":
		return s.Shell
	}
	return "# " + s.Note
}

// Driver is what every tool driver implements. Methods that take an
// Executor run things; Validate and Steps never do any I/O.
type Driver interface {
	Name() string
	Options() []Option
	// Validate checks settings that depend on each other; types and enums
	// were already checked against Options.
	Validate(t *Target) error
	// Steps lists what `run` would do, in order, for --dry-run.
	Steps(t *Target) []Step
	Init(ctx context.Context, x proc.Executor, t *Target) error
	Backup(ctx context.Context, x proc.Executor, t *Target) (Artifact, error)
	// Verify checks a backup; an empty artifact ID means the latest one.
	Verify(ctx context.Context, x proc.Executor, t *Target, a Artifact) error
	// Prune applies retention; with dryRun it only says what would go.
	Prune(ctx context.Context, x proc.Executor, t *Target, dryRun bool) (PruneResult, error)
	Snapshots(ctx context.Context, x proc.Executor, t *Target) ([]Snapshot, error)
	// CheckTools checks that the driver's programs are installed at a
	// supported version, for `validate --tools`.
	CheckTools(ctx context.Context, x proc.Executor, t *Target) error
	// Facts declares what holds for every target of the driver.
	Facts() Facts
	// Resources declares what target t uses: its repository, secret
	// files, paths, ssh. No I/O.
	Resources(t *Target) Resources
	// PlainRestore lists the plain tool commands that bring t's latest
	// backup back, for the runbook (see PlainRestore).
	PlainRestore(t *Target) []Step
}

// Preflighter is implemented by drivers that check their source before a
// backup (pg_dump connects and compares versions).
type Preflighter interface {
	Preflight(ctx context.Context, x proc.Executor, t *Target) error
}

// The defaults of the common keys, written once: CommonOptions shows them,
// and the plan loader starts every Target from them.
const (
	DefaultVerify      = true
	DefaultRetryWait   = time.Minute
	DefaultDrillSample = 20
)

// CommonOptions are the keys every target accepts, whatever its driver.
var CommonOptions = []Option{
	{Name: "driver", Kind: String, Required: true, Help: "Which tool backs this target up."},
	{Name: "after", Kind: StringList, Help: "Targets that must finish first within a plan; if one fails, this target is skipped."},
	{Name: "timeout", Kind: Duration, Help: "Stop the target's tools after this long and fail it as timed out."},
	{Name: "verify", Kind: Bool, Default: strconv.FormatBool(DefaultVerify), Help: "Verify what was written after every backup. Retention only runs after a verified backup, and a mirror (rsync, rclone) records its recovery point only after a verified run."},
	{Name: "verify_cycle", Kind: Int, Min: 1, Max: 1000, Default: strconv.Itoa(DefaultVerifyCycle), Help: "Each run verifies what its backup wrote plus a different 1/verify_cycle of everything else the target keeps, so every verify_cycle runs read all of it (`verify --full` reads all at once). 1 reads everything every run."},
	{Name: "env", Kind: StringMap, Help: "Extra environment for the tool (e.g. cloud credentials). Values are masked in all output."},
	{Name: "exit_codes", Kind: CodeTable, Help: "Reclassify the backup tool's exit codes as ok, warning or error."},
	{Name: "retries", Kind: Int, Min: 0, Max: 10, Default: "0", Help: "Try a backup that failed for a transient reason (a repository lock, the network) again this many times; never after a wrong password, a missing repository or a missing source."},
	{Name: "retry_wait", Kind: Duration, Default: humanize.Duration(DefaultRetryWait), Help: "Wait this long before the first retry, twice as long before each next one."},
	{Name: "drill", Kind: Bool, Default: "false", Help: "Make every run also drill the target after verifying it: restore into scratch space and compare."},
	{Name: "drill_sample", Kind: Int, Min: 1, Max: 100000, Default: strconv.Itoa(DefaultDrillSample), Help: "How many files a drill of a file target restores and compares."},
}

// SettingsError names the key a problem is about.
type SettingsError struct {
	Key string
	Msg string
}

func (e *SettingsError) Error() string { return e.Key + ": " + e.Msg }

// KeyErr is a SettingsError about key.
func KeyErr(key, format string, args ...any) error {
	return &SettingsError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// FirstSet returns the names of the keys that are set, for "exactly one of" checks.
func FirstSet(v Values, names ...string) []string {
	var set []string
	for _, n := range names {
		if v.Has(n) {
			set = append(set, n)
		}
	}
	return set
}

// QuoteList writes names as `a`, `b` for messages.
func QuoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "`" + n + "`"
	}
	return strings.Join(q, ", ")
}

// LockTender is implemented by drivers whose tool keeps locks of its own
// in the repository: TendLocks applies the stale-lock policy, as every
// backup does first, for the commands that reach the repository without a
// backup (verify, prune). It returns what it did, as warnings.
type LockTender interface {
	TendLocks(ctx context.Context, x proc.Executor, t *Target) ([]string, error)
}

// PartialBackups is implemented by drivers that write a backup under a
// partial name and promote it when complete: a killed run leaves the
// partial one, which the next run removes (plan.Sweep, under the run lock).
type PartialBackups interface {
	// IsPartial reports whether name, an entry of one of t's dump
	// directories (Path.Dumps), is an unfinished backup of t.
	IsPartial(t *Target, name string) bool
}

// MarkerSweeper is implemented by drivers that record, in the targets'
// temporary directory, something they create outside it (a drill's
// scratch database), so that the next run can remove what a killed run
// left. plan.Sweep offers it every entry of that directory.
type MarkerSweeper interface {
	// SweepMarker handles path when it is one of the driver's markers, and
	// then returns true: it removes what the marker records and then the
	// marker, or says why it keeps both. target finds a target of the
	// plan by name (nil when there is none).
	SweepMarker(ctx context.Context, log *slog.Logger, path string, target func(name string) *Target) bool
}

// Now is the clock dump names are made from and restic lock ages are measured by; tests move it.
var Now = time.Now

// InitResult says what Init did, for `init` to tell the operator.
type InitResult struct {
	// Created: Init created the repository or directory. Otherwise it
	// found it already there, or Nothing is created here.
	Created bool
	// Nothing: the target has nothing to create on this machine (a remote
	// destination, a dump streamed into another target's repository).
	Nothing bool
	// Next is what the operator should do now, if anything: keep a copy
	// of a new borg repository's key apart from it.
	Next string
}

// InitReporter is a driver whose Init says what it did; Init itself
// calls it and drops the result.
type InitReporter interface {
	InitReport(ctx context.Context, x proc.Executor, t *Target) (InitResult, error)
}

// MkdirInit is Init for a directory on this machine: created, or found.
func MkdirInit(dir string) (InitResult, error) {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return InitResult{}, nil
	}
	return InitResult{Created: true}, os.MkdirAll(dir, 0o700)
}
