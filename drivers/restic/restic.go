// Package restic is the restic driver: backups of paths into a restic
// repository, its check, forget and prune, stale-lock handling, restore
// and drill, and the store a pg_dump target can stream its dump into
// (DumpSink).
package restic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/guard"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/toolversion"
	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Driver backs paths up into a restic repository. Every snapshot carries the
// pinned host and a tag naming the target, and retention only ever looks at
// snapshots with both, grouped by host, so it does what the plan says.
type Driver struct {
	// at is where its commands open a target's repository: nil for the
	// repository itself; a copy another target keeps of it for a drill of
	// that copy (copydrill.go).
	at *drivers.RepositoryCopy
}

// resticKeeps are the retention flags, in restic's order.
var resticKeeps = []string{"keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"}

func (Driver) Name() string { return "restic" }

func (Driver) Options() []drivers.Option {
	opts := []drivers.Option{
		{Name: "repository", Kind: drivers.String, Check: checkResticRepo,
			Help: "The restic repository (a path, sftp:, rest:, s3:, ...), passed as RESTIC_REPOSITORY. Set this or repository_file. A password here is rejected: use repository_file."},
		{Name: "repository_file", Kind: drivers.String,
			Help: "Instead of repository: a file (mode 0600) holding the repository location, for one with credentials in it such as rest:https://user:password@host/. Passed as RESTIC_REPOSITORY_FILE."},
		{Name: "password_file", Kind: drivers.String, Help: "File holding the repository password (mode 0600). Passed as RESTIC_PASSWORD_FILE."},
		{Name: "password_command", Kind: drivers.String, Help: "Command printing the repository password, run by restic without a shell. Passed as RESTIC_PASSWORD_COMMAND."},
		{Name: "paths", Kind: drivers.StringList, Required: true, Unless: "copy_from", Check: drivers.NonEmptyList, Help: "What to back up. Every path must exist, or the target fails before restic runs; so does it when they hold no file after excludes (see allow_empty_source)."},
		{Name: "copy_from", Kind: drivers.String,
			Help: "Instead of paths: the name of another restic target of the plan whose snapshots this target copies into its own repository (restic copy), for an offsite copy that restores. It runs after that target, even when that one failed; its keep_* options and verify apply to its own repository."},
		{Name: "exclude", Kind: drivers.StringList, Help: "restic --exclude patterns."},
		{Name: "exclude_file", Kind: drivers.StringList, Help: "Files of exclude patterns (restic --exclude-file)."},
		{Name: "tags", Kind: drivers.StringList, Help: "Extra tags for every snapshot (the tag alexandria:<target> is always added)."},
		{Name: "host", Kind: drivers.String, Default: "this machine's hostname", Help: "Host name recorded in snapshots and used by retention; set it where the hostname changes (containers)."},
		{Name: "keep_within", Kind: drivers.String, Check: checkResticDuration, Help: "Keep every snapshot younger than this (restic duration such as \"1y2m3d4h\")."},
		{Name: "check_read_data_subset", Kind: drivers.String, Check: checkSubset, Help: "No longer used, accepted so that older plans load: each verify now reads the packs its backup added plus a different 1/verify_cycle of the rest (restic check --read-data-subset=n/verify_cycle), all of them within verify_cycle runs; verify_cycle = 1 reads everything every run."},
		{Name: "stale_lock_age", Kind: drivers.Duration, Default: humanize.Duration(defaultStaleLockAge), Check: checkStaleLockAge,
			Help: "Before a backup, remove restic locks older than this, of any host (a lock a killed run left on this host goes at once). A lock restic deems stale (30m) but younger than this is kept and reported. At least 30m."},
		guard.EmptySourceOption("snapshot"),
		drivers.PruneEveryOption("restic forget --prune"),
	}
	return append(opts, drivers.KeepOptions(resticKeeps, "restic forget")...)
}

var (
	subsetRE         = regexp.MustCompile(`^(\d+/\d+|\d+(\.\d+)?%|\d+[KMGT]?)$`)
	resticDurationRE = regexp.MustCompile(`^(\d+[ymdh])+$`)
)

// checkResticRepo refuses a repository holding a password: in a URL
// (rest:https://user:pw@host/), or as sftp:user:pw@host:/path.
func checkResticRepo(v any) error {
	s := v.(string)
	if drivers.HasPassword(s, false) || drivers.HasPassword(strings.TrimPrefix(s, "sftp:"), true) {
		return drivers.PasswordErr("put the repository in repository_file (mode 0600) instead, or give the backend its credentials in `env` (AWS_SECRET_ACCESS_KEY, ...) or an ssh key for sftp")
	}
	return nil
}

func checkSubset(v any) error {
	if !subsetRE.MatchString(v.(string)) {
		return fmt.Errorf("must be \"n/t\", \"x%%\" or a size such as \"500M\", not %q", v)
	}
	return nil
}

func checkResticDuration(v any) error {
	if !resticDurationRE.MatchString(v.(string)) {
		return fmt.Errorf("must be a restic duration such as \"1y2m3d4h\", not %q", v)
	}
	return nil
}

func (Driver) Validate(t *drivers.Target) error {
	if len(drivers.FirstSet(t.Settings, "repository", "repository_file")) != 1 {
		return drivers.KeyErr("repository", "set exactly one of `repository` or `repository_file`")
	}
	if f := t.Settings.Str("repository_file"); f != "" && !filepath.IsAbs(f) {
		return drivers.KeyErr("repository_file", "must be an absolute path, not %q", f)
	}
	set := drivers.FirstSet(t.Settings, "password_file", "password_command")
	if len(set) != 1 {
		return drivers.KeyErr("password_file", "set exactly one of `password_file` or `password_command` (the password never goes through argv or RESTIC_PASSWORD)")
	}
	// The repository and password come from the keys above; the same
	// variables in `env` would override them or clash with them (or,
	// for RESTIC_PASSWORD, put the secret itself in the environment).
	for _, name := range resticDropEnv {
		if _, ok := t.Env[name]; ok {
			return drivers.KeyErr("env", "%s conflicts with `repository`, `repository_file`, `password_file` or `password_command` (of this target, or of the one it copies from); set those keys instead", name)
		}
	}
	if err := validateCopy(t); err != nil {
		return err
	}
	for _, p := range t.Settings.List("paths") {
		if !filepath.IsAbs(p) {
			return drivers.KeyErr("paths", "%q must be an absolute path (cron and systemd start in another directory)", p)
		}
	}
	if repo := t.Settings.Str("repository"); t.Settings.Has("repository") && !strings.Contains(repo, ":") && !filepath.IsAbs(repo) {
		return drivers.KeyErr("repository", "a local repository must be an absolute path, not %q", repo)
	}
	for _, tag := range t.Settings.List("tags") {
		if tag == "" || strings.Contains(tag, ",") {
			return drivers.KeyErr("tags", "a tag must be non-empty and contain no comma: %q", tag)
		}
	}
	return nil
}

// resticHost is the host every snapshot is pinned to. A copy's snapshots
// are its source's: use resticHost(owner(t)) to select them.
func resticHost(t *drivers.Target) string {
	if h := t.Settings.Str("host"); h != "" {
		return h
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

func resticTag(t *drivers.Target) string { return "alexandria:" + t.Name }

// resticEnv is how restic learns the repository and password: environment
// holding a location, a path or a command, never a password itself.
func resticEnv(t *drivers.Target) []proc.EnvVar {
	return append(repositoryEnv(t, "RESTIC_"), t.EnvVars()...)
}

// repositoryEnv names t's repository and how to open it in the variables
// that start with prefix: RESTIC_ for the repository a command works on,
// RESTIC_FROM_ for the one restic copy reads.
func repositoryEnv(t *drivers.Target, prefix string) []proc.EnvVar {
	env := []proc.EnvVar{{Name: prefix + "REPOSITORY", Value: t.Settings.Str("repository")}}
	if f := t.Settings.Str("repository_file"); f != "" {
		env = []proc.EnvVar{{Name: prefix + "REPOSITORY_FILE", Value: f}}
	}
	if f := t.Settings.Str("password_file"); f != "" {
		env = append(env, proc.EnvVar{Name: prefix + "PASSWORD_FILE", Value: f})
	}
	if c := t.Settings.Str("password_command"); c != "" {
		env = append(env, proc.EnvVar{Name: prefix + "PASSWORD_COMMAND", Value: c})
	}
	return env
}

// localRepo is the directory of a repository on a local path (a path, or
// local:PATH), "" for any other backend and for repository_file, whose
// location the driver does not read.
func localRepo(t *drivers.Target) string {
	repo := t.Settings.Str("repository")
	if dir := strings.TrimPrefix(repo, "local:"); repo != "" && filepath.IsAbs(dir) {
		return dir
	}
	return ""
}

// cmd: restic 0.14 stops cleanly (removing its lock, committing nothing)
// only on SIGINT; SIGTERM kills it and leaves its lock in the repository
// (the cleanup on SIGTERM came in 0.17).
func (r Driver) cmd(t *drivers.Target, args ...string) proc.Command {
	env := resticEnv(t)
	if r.at != nil {
		env, args = openCopy(t, *r.at, args)
	}
	return proc.Command{Program: "restic", Args: args, Env: env, Stop: syscall.SIGINT, DropEnv: resticDropEnv}
}

// resticInterrupted is restic's exit after SIGINT.
const resticInterrupted = 130

// resticStopped reports a restic run that was stopped: by SIGINT (130),
// having cleaned up, except that 0.14 leaves the lock it is still taking
// (it counts a new lock as its own only after a 200 ms check for other
// locks); or killed by a signal, which always leaves its lock.
func resticStopped(res proc.Result) bool {
	return res.Signal != "" || res.ExitCode == resticInterrupted
}

// backupCommand: every plan value is glued to its flag (--flag=value) or
// after "--", so none can be read as an option, whatever the parser.
func (r Driver) backupCommand(t *drivers.Target) proc.Command {
	args := []string{"backup", "--json"}
	if !t.Progress {
		args = append(args, "--quiet") // restic reports progress only without it
	}
	args = append(args, "--host="+resticHost(t), "--tag="+resticTag(t))
	args = append(args, pointTags(t)...)
	for _, tag := range t.Settings.List("tags") {
		args = append(args, "--tag="+tag)
	}
	for _, e := range t.Settings.List("exclude") {
		args = append(args, "--exclude="+e)
	}
	for _, f := range t.Settings.List("exclude_file") {
		args = append(args, "--exclude-file="+f)
	}
	args = append(append(args, "--"), t.Settings.List("paths")...)
	c := r.cmd(t, args...)
	// restic exits 3 when some source files could not be read: the
	// snapshot exists but is incomplete.
	c.Codes = proc.ExitCodes{Warning: []int{3}}.Override(t.ExitCodes)
	c.Progress = &proc.ProgressReader{Parse: parseResticStatus}
	return c
}

// keepPointArgs keep, whatever the policy, the snapshots of the recovery
// points retention must keep whole (Target.KeepPoints): each carries its
// point as a tag.
func keepPointArgs(t *drivers.Target) []string {
	var args []string
	for _, id := range t.KeepPoints {
		args = append(args, "--keep-tag="+drivers.PointLabel(id))
	}
	return args
}

// pointTags tag a snapshot with the recovery point of its run (none
// outside a run): a tag, not the host or the paths, so retention's
// grouping (host and tag) is the same with and without it.
func pointTags(t *drivers.Target) []string {
	if t.Point == "" {
		return nil
	}
	return []string{"--tag=" + drivers.PointLabel(t.Point)}
}

// forgetOneCommand forgets exactly the snapshot id (a snapshot the guard
// refused); nothing else, and no prune: the data it alone holds goes with
// the next retention's prune.
func (r Driver) forgetOneCommand(t *drivers.Target, id string) proc.Command {
	return r.cmd(t, "forget", "--", id)
}

// selectArgs pick this target's snapshots: its pinned host and its tag,
// or for a copy those of the target it copies from, which its snapshots
// keep.
// noLock is --no-lock for a listing asked to take no lock
// (Target.ListWithoutLocks): `restic snapshots` otherwise takes a shared
// lock, and 0.14 fails a prune that finds one at once.
func noLock(t *drivers.Target) []string {
	if t.ListWithoutLocks {
		return []string{"--no-lock"}
	}
	return nil
}

func selectArgs(t *drivers.Target) []string {
	o := owner(t)
	return []string{"--host=" + resticHost(o), "--tag=" + resticTag(o)}
}

// forgetCommand applies retention. --group-by host: with the host and tag
// filter, all of the target's snapshots form one group, so changing paths
// or tags does not start a new group that retention never thins.
// reclaim: restic's --prune, which frees the space of the forgotten
// snapshots (restic runs it only when forget removed one).
func (r Driver) forgetCommand(t *drivers.Target, dryRun, reclaim bool) (proc.Command, bool) {
	args := append([]string{"forget", "--json"}, selectArgs(t)...)
	args = append(args, "--group-by=host")
	any := false
	for _, k := range resticKeeps {
		if n := t.Settings.Int(k, 0); n > 0 {
			args = append(args, "--"+strings.ReplaceAll(k, "_", "-")+"="+strconv.Itoa(n))
			any = true
		}
	}
	if w := t.Settings.Str("keep_within"); w != "" {
		args = append(args, "--keep-within="+w)
		any = true
	}
	args = append(args, keepPointArgs(t)...)
	if dryRun {
		args = append(args, "--dry-run")
	} else if reclaim {
		args = append(args, "--prune")
	}
	return r.cmd(t, args...), any
}

// reclaimNote says when --prune runs, for --dry-run.
func reclaimNote(owner *drivers.Target) []drivers.Step {
	every, _ := owner.Settings["prune_every"].(time.Duration)
	if every <= 0 {
		return nil
	}
	return []drivers.Step{{Phase: drivers.PhasePrune, Note: "--prune only when prune_every " + humanize.Duration(every) +
		" has passed since the repository's space was last reclaimed; otherwise forget alone"}}
}

func (r Driver) Steps(t *drivers.Target) []drivers.Step {
	if t.Settings.Has("copy_from") {
		return r.copySteps(t)
	}
	backup := r.backupCommand(t)
	steps := []drivers.Step{
		{Phase: drivers.PhasePreflight, Note: "check that every path exists: " + strings.Join(t.Settings.List("paths"), ", ")},
		lockStep(t),
		{Phase: drivers.PhaseBackup, Command: &backup},
		{Phase: drivers.PhaseBackup, Note: guard.EmptyBackupNote(t, "snapshot", "restic forget <its id>")},
	}
	steps = append(steps, r.verifySteps(t)...)
	if forget, ok := r.forgetCommand(t, false, true); ok {
		steps = append(steps, drivers.Step{Phase: drivers.PhasePrune, Command: &forget})
		steps = append(steps, reclaimNote(t)...)
	}
	return steps
}

// lockStep is the stale-lock policy before a backup or a copy, for --dry-run.
func lockStep(t *drivers.Target) drivers.Step {
	return drivers.Step{Phase: drivers.PhasePreflight, Note: "read the repository's locks; with `restic unlock`, remove those a killed run on this host left and those older than stale_lock_age " +
		humanize.Duration(staleLockAge(t)) + ", unless it would also remove a stale lock younger than that, which is kept; the report names every lock removed or kept"}
}

func (r Driver) CheckTools(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	v, err := resticVersion(ctx, x)
	if err != nil {
		return err
	}
	if v.Less(0, 14) {
		return fmt.Errorf("restic %s is too old; 0.14 or newer is needed", v)
	}
	return nil
}

var resticVersionRE = regexp.MustCompile(`restic (\d+)\.(\d+)\.(\d+)`)

func resticVersion(ctx context.Context, x proc.Executor) (toolversion.Version, error) {
	return toolversion.Probe(ctx, x, resticVersionRE, "restic", "version")
}

// Init creates the repository unless it exists. It never initialises over
// an error it does not understand (a wrong password is not "missing").
func (r Driver) Init(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	_, err := r.InitReport(ctx, x, t)
	return err
}

// InitReport creates the repository, or finds one there.
func (r Driver) InitReport(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.InitResult, error) {
	res, err := x.Run(ctx, r.cmd(t, "cat", "config"))
	if err == nil {
		return drivers.InitResult{}, nil
	}
	if !repoMissing(res) {
		return drivers.InitResult{}, err
	}
	if t.Settings.Has("copy_from") {
		return drivers.InitResult{Created: true}, r.initCopy(ctx, x, t)
	}
	_, err = x.Run(ctx, r.cmd(t, "init"))
	return drivers.InitResult{Created: true}, err
}

// repoMissing recognises "no repository here": exit 10 on restic 0.17+,
// and the message restic 0.14 prints with its catch-all exit 1. That
// message also follows a refused login to a REST server, which is not a
// missing repository.
func repoMissing(res proc.Result) bool {
	if res.ExitCode == 10 {
		return true
	}
	refused := bytes.Contains(res.Stderr, []byte("(401")) || bytes.Contains(res.Stderr, []byte("(403"))
	return !refused && bytes.Contains(res.Stderr, []byte("Is there a repository at the following location?"))
}

// Backup refuses a missing source path before restic runs (restic 0.14
// skips it and exits 0), then reads the new snapshot id from the summary,
// and forgets that snapshot again when restic read no file (the guard in
// mirrorguard.go). What it transferred is packs, not files: Written lists
// the packs that appeared in the repository while it ran (data/xx/ID,
// relative to the repository), which VerifyScoped reads back.
func (r Driver) Backup(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.Artifact, error) {
	if t.Settings.Has("copy_from") {
		return r.copyBackup(ctx, x, t)
	}
	for _, p := range t.Settings.List("paths") {
		if _, err := os.Lstat(p); err != nil {
			return drivers.Artifact{}, drivers.KeyErr("paths", "%s: %v (refusing to make a snapshot without it)", p, errors.Unwrap(err))
		}
	}
	if err := drivers.CheckSecrets(t); err != nil {
		return drivers.Artifact{}, err
	}
	lockNotes, err := r.applyLockPolicy(ctx, x, t)
	if err != nil {
		return drivers.Artifact{}, err
	}
	packsBefore, err := r.listPacks(ctx, x, t)
	if err != nil {
		return drivers.Artifact{}, err
	}
	res, err := r.runWriting(ctx, x, t, r.backupCommand(t))
	if err != nil {
		// A kept lock is often why the backup failed: say so here too.
		if len(lockNotes) > 0 {
			err = fmt.Errorf("%w (%s)", err, strings.Join(lockNotes, "; "))
		}
		return drivers.Artifact{}, err
	}
	sum, err := resticSummary(res.Stdout)
	if err != nil {
		return drivers.Artifact{}, fmt.Errorf("restic backup exited %d but %v", res.ExitCode, err)
	}
	a := drivers.Artifact{ID: sum.SnapshotID, Bytes: sum.TotalBytesProcessed, Warnings: lockNotes}
	// Packs another host added meanwhile (a shared repository) come
	// along: read back too, which costs a little and hides nothing.
	if packsAfter, err := r.listPacks(ctx, x, t); err != nil {
		a.Warnings = append(a.Warnings, fmt.Sprintf("could not list the packs this backup added, so verify reads only its share of the rest: %v", err))
	} else {
		a.Written = newPacks(packsBefore, packsAfter)
	}
	if res.Class == proc.ClassWarning {
		a.Warnings = append(a.Warnings, fmt.Sprintf("restic exited %d: %s", res.ExitCode, proc.LastLines(res.Stderr, 5)))
	}
	warning, err := guard.RefuseEmptyBackup(t, guard.EmptyBackup{Snapshot: "snapshot", Id: sum.SnapshotID, Files: sum.TotalFilesProcessed, Remove: func() error {
		_, err := x.Run(ctx, r.forgetOneCommand(t, sum.SnapshotID))
		return err
	}})
	if err != nil {
		if len(a.Warnings) > 0 {
			// Unreadable files (exit 3) can be why none was read.
			err = fmt.Errorf("%w (%s)", err, strings.Join(a.Warnings, "; "))
		}
		return drivers.Artifact{}, err
	}
	if warning != "" {
		a.Warnings = append(a.Warnings, warning)
	}
	return a, nil
}

// runWriting runs a command that writes to t's repository (backup, copy).
func (r Driver) runWriting(ctx context.Context, x proc.Executor, t *drivers.Target, c proc.Command) (proc.Result, error) {
	res, err := x.Run(ctx, c)
	// ctx.Err(): restic 0.14 interrupted may also exit 1, when its command
	// returns before its SIGINT handler exits 130.
	if err != nil && (resticStopped(res) || ctx.Err() != nil) {
		// Stopped (the run was interrupted), restic may have left its
		// lock: the policy removes it, as the next run would, but with a
		// warning then. Not under ctx: it has ended.
		if _, lerr := r.applyLockPolicy(context.WithoutCancel(ctx), x, t); lerr != nil {
			err = fmt.Errorf("%w; removing the stopped restic's lock failed: %v", err, lerr)
		}
	}
	return res, err
}

type resticBackupSummary struct {
	MessageType         string `json:"message_type"`
	SnapshotID          string `json:"snapshot_id"`
	TotalBytesProcessed int64  `json:"total_bytes_processed"`
	// The regular files restic read, after excludes (new, changed and
	// unmodified; no directory, no symlink). nil when restic leaves it out.
	TotalFilesProcessed *int64 `json:"total_files_processed"`
}

// resticSummary finds the summary line in `restic backup --json` output.
func resticSummary(stdout []byte) (resticBackupSummary, error) {
	lines := bytes.Split(stdout, []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		var s resticBackupSummary
		if json.Unmarshal(lines[i], &s) == nil && s.MessageType == "summary" && s.SnapshotID != "" {
			return s, nil
		}
	}
	return resticBackupSummary{}, errors.New("printed no snapshot id")
}

type resticSnapshot struct {
	Time    time.Time `json:"time"`
	ID      string    `json:"id"`
	ShortID string    `json:"short_id"`
	Paths   []string  `json:"paths"`
	Tags    []string  `json:"tags"`
	Summary *struct {
		TotalBytesProcessed int64 `json:"total_bytes_processed"`
	} `json:"summary"` // restic 0.17+
}

type resticForgetGroup struct {
	Remove []resticSnapshot `json:"remove"`
	Keep   []resticSnapshot `json:"keep"`
}

func (r Driver) Prune(ctx context.Context, x proc.Executor, t *drivers.Target, dryRun bool) (drivers.PruneResult, error) {
	reclaim := drivers.ReclaimDue(t, t)
	cmd, ok := r.forgetCommand(t, dryRun, reclaim)
	if !ok {
		return drivers.PruneResult{}, nil
	}
	cmd.StdoutTail = 32 << 20
	res, err := x.Run(ctx, cmd)
	if err != nil {
		return drivers.PruneResult{}, err
	}
	// The JSON array is the first line; with --prune, text follows.
	first, _, _ := bytes.Cut(res.Stdout, []byte("\n"))
	var groups []resticForgetGroup
	// restic 0.14 prints nothing at all when no snapshot matches (a new
	// repository, a target that never ran): nothing to keep or remove.
	if len(bytes.TrimSpace(first)) > 0 {
		if err := json.Unmarshal(first, &groups); err != nil {
			return drivers.PruneResult{}, fmt.Errorf("restic forget: unreadable JSON: %v", err)
		}
	}
	out := drivers.PruneResult{Policy: true}
	for _, g := range groups {
		out.Kept += len(g.Keep)
		for _, s := range g.Remove {
			out.Removed = append(out.Removed, s.ShortID)
		}
	}
	if !dryRun && reclaim && len(out.Removed) > 0 {
		out.Reclaimed = t.Name
	}
	return out, nil
}

func (r Driver) Snapshots(ctx context.Context, x proc.Executor, t *drivers.Target) ([]drivers.Snapshot, error) {
	cmd := r.cmd(t, append(append([]string{"snapshots", "--json"}, noLock(t)...), selectArgs(t)...)...)
	cmd.StdoutTail = 64 << 20
	res, err := x.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	var snaps []resticSnapshot
	if err := json.Unmarshal(res.Stdout, &snaps); err != nil {
		return nil, fmt.Errorf("restic snapshots: unreadable JSON: %v", err)
	}
	out := make([]drivers.Snapshot, 0, len(snaps))
	for _, s := range snaps {
		sn := drivers.Snapshot{ID: s.ShortID, Time: s.Time, Bytes: -1, Info: strings.Join(s.Paths, " "), Point: drivers.PointFromLabels(s.Tags...)}
		if s.Summary != nil {
			sn.Bytes = s.Summary.TotalBytesProcessed
		}
		out = append(out, sn)
	}
	// restic lists oldest first; show newest first like the other drivers.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// resticDropEnv: see Facts.DropEnv.
// The RESTIC_FROM_* variables name the repository restic copy (and init
// --copy-chunker-params) reads from: a copy's source, from the plan.
var resticDropEnv = []string{"RESTIC_PASSWORD", "RESTIC_PASSWORD_COMMAND", "RESTIC_PASSWORD_FILE", "RESTIC_REPOSITORY", "RESTIC_REPOSITORY_FILE",
	"RESTIC_FROM_PASSWORD", "RESTIC_FROM_PASSWORD_COMMAND", "RESTIC_FROM_PASSWORD_FILE", "RESTIC_FROM_REPOSITORY", "RESTIC_FROM_REPOSITORY_FILE"}

func (Driver) Facts() drivers.Facts {
	return drivers.Facts{
		Role:        drivers.RoleFiles,
		Programs:    []drivers.Program{{Name: "restic", Package: "restic"}},
		PasswordKey: "password_file",
		DropEnv:     resticDropEnv,
		// 11: the lock failed (0.17+).
		TransientCodes: []int{11},
	}
}

func (Driver) Resources(t *drivers.Target) drivers.Resources {
	s := t.Settings
	r := drivers.Resources{Repository: s.Str("repository"), SSH: strings.HasPrefix(s.Str("repository"), "sftp:")}
	if f := s.Str("repository_file"); f != "" {
		// The location is in the file: targets naming the same file share it.
		r.Repository = "file:" + f
	}
	r.Secrets = drivers.WithSecret(r.Secrets, t, "password_file", drivers.PasswordFile)
	r.Secrets = drivers.WithSecret(r.Secrets, t, "repository_file", drivers.LocationFile)
	r.Paths = append(r.Paths, drivers.Path{Path: strings.TrimPrefix(s.Str("repository"), "local:"), Write: true, Why: "repository of " + t.Name})
	r.Paths = append(r.Paths, drivers.ReadPaths(t)...)
	if src := t.CopyFrom; src != nil {
		// A copy reads its source's repository, with the source's
		// password, and restic copy locks it (a lock file: a write). The
		// source is never a copy itself, so this ends here.
		sr := src.Resources()
		r.SSH = r.SSH || sr.SSH
		for _, f := range sr.Secrets {
			f.Key = "copy_from"
			r.Secrets = append(r.Secrets, f)
		}
		for _, p := range sr.Paths {
			if p.Write {
				p.Why = "repository of " + src.Name + ", which " + t.Name + " copies from"
				r.Paths = append(r.Paths, p)
			}
		}
	}
	return r
}

func (Driver) PlainRestore(t *drivers.Target) []drivers.Step {
	c := Driver{}.cmd(t, append([]string{"restore", "latest"}, append(selectArgs(t), "--target", "/")...)...)
	return []drivers.Step{drivers.RestoreCmd(c), drivers.RestoreNote("restores %s to where they were; use --target DIR to restore somewhere else first", strings.Join(owner(t).Settings.List("paths"), ", "))}
}

// PlainRecover is recover's files part in plain commands: each path of
// the newest snapshot restored into a staging directory beside its place
// (restic restores the tree, STAGE/<absolute path>), moved into place,
// the staging directory removed.
func (d Driver) PlainRecover(t *drivers.Target) []drivers.Step {
	var steps []drivers.Step
	for _, p := range d.RecoverPaths(t) {
		stage := drivers.PlainStage(p)
		restore := d.cmd(t, append(append([]string{"restore", "latest"}, selectArgs(t)...), "--target="+stage, "--include="+resticPattern(p))...)
		steps = append(steps, drivers.RestoreCmd(restore))
		steps = append(steps, drivers.MoveIntoPlaceSteps(stage, p)...)
	}
	return steps
}

// DumpStore: a pg_dump target can stream its dumps into a restic
// repository (restic_stream.go).
func (Driver) DumpStore() drivers.DumpStore { return resticStore{} }

// parseResticStatus reads `restic backup --json` (restic prints a status
// line 60 times a second with --json, terminal or not): status lines are
// progress; the summary and errors stay in the tail.
func parseResticStatus(line []byte) (proc.Progress, bool, []byte) {
	if !bytes.Contains(line, []byte(`"message_type":"status"`)) {
		return proc.Progress{}, false, line
	}
	var s struct {
		PercentDone      float64  `json:"percent_done"`
		TotalBytes       int64    `json:"total_bytes"`
		BytesDone        int64    `json:"bytes_done"`
		FilesDone        int64    `json:"files_done"`
		SecondsElapsed   float64  `json:"seconds_elapsed"`
		SecondsRemaining *float64 `json:"seconds_remaining"`
		CurrentFiles     []string `json:"current_files"`
	}
	if json.Unmarshal(line, &s) != nil {
		return proc.Progress{}, false, line
	}
	p := proc.Progress{Bytes: s.BytesDone, Total: s.TotalBytes, Percent: 100 * s.PercentDone, Files: s.FilesDone, ETA: -1}
	if s.SecondsRemaining != nil {
		p.ETA = time.Duration(*s.SecondsRemaining * float64(time.Second))
	}
	if s.SecondsElapsed > 0 {
		p.Rate = float64(s.BytesDone) / s.SecondsElapsed
	}
	if len(s.CurrentFiles) > 0 {
		p.Item = s.CurrentFiles[0]
	}
	return p, true, nil
}

// Custody: restic encrypts every repository; one is offsite unless it is
// a local path. A repository_file's location is not read (it holds
// credentials): where it points cannot be told.
func (Driver) Custody(t *drivers.Target) drivers.Custody {
	c := drivers.Custody{Encrypted: drivers.Yes, Why: "restic encrypts every repository (AES-256)"}
	repo := t.Settings.Str("repository")
	switch {
	case repo == "":
		c.Offsite, c.Place = drivers.Unknown, "the location in "+t.Settings.Str("repository_file")
	case filepath.IsAbs(strings.TrimPrefix(repo, "local:")):
		c.Offsite, c.Place = drivers.No, strings.TrimPrefix(repo, "local:")
	default:
		c.Offsite, c.Place = drivers.Yes, repo
	}
	return c
}
