// Package borg is the borg driver: backups of paths into a borg 1.2
// repository, its check, prune and compact, restore and drill, and the
// store a pg_dump target can stream its dump into (DumpSink).
package borg

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

// Driver backs paths up into a borg 1.2 repository. Every archive is named
// "<target>@<archive_name>": target names cannot contain '@', so the glob
// "<target>@*" selects exactly this target's archives, and retention and
// listing never touch another target's archives in a shared repository.
// (A "<target>-" prefix would not do: target "lib" would also match the
// archives of target "lib-borg".)
type Driver struct{}

// borgKeeps are the count-based retention flags, in borg's order.
// keep_secondly is left out: borg 1.2's --keep-last is the same rule.
var borgKeeps = []string{"keep_last", "keep_minutely", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"}

// borgEncryptions are `borg init --encryption` modes of borg 1.2.
var borgEncryptions = []string{"repokey-blake2", "repokey", "keyfile-blake2", "keyfile", "authenticated-blake2", "authenticated", "none"}

const (
	borgDefaultArchive    = "{now:%Y-%m-%dT%H:%M:%S}"
	borgDefaultEncryption = "repokey-blake2"
	borgDefaultLockWait   = 10 * time.Minute
	// borgSep joins the target name and the archive name template. It is
	// not allowed in target names (see plan's nameRE), nor special in
	// borg's glob patterns.
	borgSep = "@"
	// borgPassFD is where the passphrase file reaches borg: ExtraFiles[0]
	// is the child's descriptor 3.
	borgPassFD = "3"
)

func (Driver) Name() string { return "borg" }

func (Driver) Options() []drivers.Option {
	opts := []drivers.Option{
		{Name: "repository", Kind: drivers.String, Required: true, Check: checkBorgRepo,
			Help: "The borg repository: an absolute path, ssh://user@host:port/path or user@host:path. Passed as BORG_REPO. A password here is rejected: borg logs in with an ssh key."},
		{Name: "passphrase_file", Kind: drivers.String,
			Help: "File holding the repository passphrase (mode 0600), handed to borg as an open descriptor (BORG_PASSPHRASE_FD); borg drops trailing newlines."},
		{Name: "passcommand", Kind: drivers.String, Check: checkPasscommand,
			Help: "Command printing the passphrase, run by borg without a shell (BORG_PASSCOMMAND). Set exactly one of passphrase_file or passcommand, none when encryption = \"none\"."},
		{Name: "encryption", Kind: drivers.String, Default: borgDefaultEncryption, Enum: borgEncryptions,
			Help: "Encryption mode `init` creates the repository with (borg init --encryption)."},
		{Name: "paths", Kind: drivers.StringList, Required: true, Check: drivers.NonEmptyList,
			Help: "What to back up. Every path must exist, or the target fails before borg runs (borg would make an empty archive); so does it when they hold no file after excludes (see allow_empty_source)."},
		{Name: "exclude", Kind: drivers.StringList, Help: "borg --exclude patterns (fm: style by default; absolute paths work)."},
		{Name: "compression", Kind: drivers.String, Check: checkBorgCompression, Default: "lz4 (borg's default)",
			Help: "borg --compression: none, lz4, zstd[,1-22], zlib[,0-9] or lzma[,0-9], optionally after \"auto,\"."},
		{Name: "archive_name", Kind: drivers.String, Default: borgDefaultArchive, Check: checkBorgArchiveName,
			Help: "Archive name template after the fixed \"<target>@\" prefix; borg expands placeholders such as {now} and {hostname}."},
		{Name: "lock_wait", Kind: drivers.Duration, Default: humanize.Duration(borgDefaultLockWait),
			Help: "How long borg waits for another borg's repository lock before failing (--lock-wait). A lock is never broken automatically."},
		{Name: "check_verify_data", Kind: drivers.Bool, Default: "false",
			Help: "On a verify that reads everything (verify --full, verify_cycle = 1), also decrypt and hash every chunk in the repository (borg check --verify-data): catches tampering. Each run already authenticates every chunk of the files it stored."},
		{Name: "keep_within", Kind: drivers.String, Check: checkBorgInterval,
			Help: "Retention: keep every archive younger than this (\"7d\", borg units H, d, w, m, y). Alone, it also keeps the newest older archive, so the newest is never removed."},
		guard.EmptySourceOption("archive"),
		drivers.PruneEveryOption("borg compact"),
	}
	return append(opts, drivers.KeepOptions(borgKeeps, "borg prune")...)
}

var (
	borgIntervalRE    = regexp.MustCompile(`^[1-9][0-9]*[Hdwmy]$`)
	borgSCPRE         = regexp.MustCompile(`^[^/:]+:`)
	borgFindingRE     = regexp.MustCompile(`(?i)error|mismatch|missing|not found|corrupt|problems found`)
	borgMissingRE     = regexp.MustCompile(`(?m)^Repository .* does not exist\.$`)
	borgCompressionRE = regexp.MustCompile(`^(auto,)?(none|lz4|zstd(,([1-9]|1[0-9]|2[0-2]))?|(zlib|lzma)(,[0-9])?)$`)
)

func checkBorgInterval(v any) error {
	if !borgIntervalRE.MatchString(v.(string)) {
		return fmt.Errorf("must be a number and a unit H, d, w, m or y, such as \"7d\", not %q", v)
	}
	return nil
}

func checkBorgCompression(v any) error {
	if !borgCompressionRE.MatchString(v.(string)) {
		return fmt.Errorf("must be none, lz4, zstd[,1-22], zlib[,0-9] or lzma[,0-9], optionally after \"auto,\", not %q", v)
	}
	return nil
}

func checkBorgArchiveName(v any) error {
	s := v.(string)
	if s == "" || strings.ContainsAny(s, "/\n") || strings.Contains(s, "::") {
		return fmt.Errorf("must be non-empty and contain no '/', '::' or newline (borg rejects those), not %q", s)
	}
	return nil
}

// borgPasswordAdvice says where borg's secrets go instead of a repository URL.
const borgPasswordAdvice = "borg logs in to an ssh repository with an ssh key (IdentityFile in ~/.ssh/config, or `env` BORG_RSH = \"ssh -i KEY\"), and the repository passphrase goes in passphrase_file or passcommand"

// ipv6HostRE is a bracketed IPv6 host, whose "::" is no archive separator.
var ipv6HostRE = regexp.MustCompile(`@?\[[0-9A-Fa-f:.]+\]`)

func checkBorgRepo(v any) error {
	s := v.(string)
	// First: every later message repeats the value.
	if err := drivers.NoPassword(true, borgPasswordAdvice)(s); err != nil {
		return err
	}
	switch {
	case strings.Contains(ipv6HostRE.ReplaceAllString(s, "@host"), "::"):
		return errors.New("must name only the repository; \"::\" starts an archive name")
	case strings.HasPrefix(s, "ssh://"), filepath.IsAbs(s):
		return nil
	case borgSCPRE.MatchString(s): // user@host:path, as scp
		return nil
	}
	return fmt.Errorf("a local repository must be an absolute path, not %q", s)
}

func checkPasscommand(v any) error {
	argv, err := shellSplit(v.(string))
	if err != nil {
		return err
	}
	if len(argv) == 0 {
		return errors.New("must name a command")
	}
	return nil
}

func (Driver) Validate(t *drivers.Target) error {
	set := drivers.FirstSet(t.Settings, "passphrase_file", "passcommand")
	if borgEncryption(t) == "none" {
		if len(set) > 0 {
			return drivers.KeyErr(set[0], "the repository is not encrypted (encryption = \"none\"): there is no passphrase to give")
		}
	} else if len(set) != 1 {
		return drivers.KeyErr("passphrase_file", "set exactly one of `passphrase_file` or `passcommand` (the passphrase never goes through argv or BORG_PASSPHRASE)")
	}
	for _, p := range t.Settings.List("paths") {
		if !filepath.IsAbs(p) {
			return drivers.KeyErr("paths", "%q must be an absolute path (cron and systemd start in another directory)", p)
		}
	}
	// The repository and passphrase come from the keys above; the same
	// variables in `env` would silently override them (or, for
	// BORG_PASSPHRASE, put the secret itself in the environment).
	for _, name := range []string{"BORG_REPO", "BORG_PASSPHRASE", "BORG_PASSCOMMAND", "BORG_PASSPHRASE_FD", "BORG_NEW_PASSPHRASE"} {
		if _, ok := t.Env[name]; ok {
			return drivers.KeyErr("env", "%s conflicts with `repository`, `passphrase_file` or `passcommand`; set those keys instead", name)
		}
	}
	return nil
}

func borgEncryption(t *drivers.Target) string {
	if e := t.Settings.Str("encryption"); e != "" {
		return e
	}
	return borgDefaultEncryption
}

// borgArchivePrefix starts every archive name of the target.
func borgArchivePrefix(t *drivers.Target) string { return t.Name + borgSep }

// borgGlob selects this target's archives (borg 1.2 --glob-archives). The
// target name holds no glob metacharacters ([A-Za-z0-9_.-]).
func borgGlob(t *drivers.Target) string { return "--glob-archives=" + borgArchivePrefix(t) + "*" }

func borgLockWait(t *drivers.Target) string {
	d := borgDefaultLockWait
	if v, ok := t.Settings["lock_wait"].(time.Duration); ok {
		d = v
	}
	secs := int((d + time.Second - 1) / time.Second) // round up: never 0 = "don't wait"
	return "--lock-wait=" + strconv.Itoa(secs)
}

// borgEnv is how borg learns the repository and passphrase, and the
// answers to every question borg could ask: a run from cron never prompts,
// and each "are you sure" is answered no.
func borgEnv(t *drivers.Target) []proc.EnvVar {
	env := []proc.EnvVar{{Name: "BORG_REPO", Value: t.Settings.Str("repository")}}
	if t.Settings.Has("passphrase_file") {
		env = append(env, proc.EnvVar{Name: "BORG_PASSPHRASE_FD", Value: borgPassFD})
	}
	if c := t.Settings.Str("passcommand"); c != "" {
		env = append(env, proc.EnvVar{Name: "BORG_PASSCOMMAND", Value: c})
	}
	// A repository moved to another path, or an unencrypted one this
	// machine has not seen, could be an attacker's: refuse. With
	// encryption = "none" the plan itself says the repository is
	// unencrypted, and a refusal would only break restores on a new host.
	unencrypted := "no"
	if borgEncryption(t) == "none" {
		unencrypted = "yes"
	}
	env = append(env,
		proc.EnvVar{Name: "BORG_RELOCATED_REPO_ACCESS_IS_OK", Value: "no"},
		proc.EnvVar{Name: "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", Value: unencrypted},
		proc.EnvVar{Name: "BORG_CHECK_I_KNOW_WHAT_I_AM_DOING", Value: "NO"},
		proc.EnvVar{Name: "BORG_DELETE_I_KNOW_WHAT_I_AM_DOING", Value: "NO"},
		proc.EnvVar{Name: "BORG_DISPLAY_PASSPHRASE", Value: "no"},
	)
	return append(env, t.EnvVars()...)
}

func (Driver) cmd(t *drivers.Target, args ...string) proc.Command {
	// SIGTERM: borg 1.2 unwinds, releasing its locks, and commits nothing.
	// Never SIGINT: on its first SIGINT, borg create commits what it has
	// read as a .checkpoint archive (even with --checkpoint-interval=0).
	c := proc.Command{Program: "borg", Args: args, Env: borgEnv(t), Stop: syscall.SIGTERM, DropEnv: borgDropEnv}
	if f := t.Settings.Str("passphrase_file"); f != "" {
		// Opened by the executor at start and read by borg from fd 3:
		// the passphrase is never in argv or the environment.
		c.ExtraFiles = []string{f}
	}
	return c
}

func borgArchiveTemplate(t *drivers.Target) string {
	if s := t.Settings.Str("archive_name"); s != "" {
		return s
	}
	return borgDefaultArchive
}

func (b Driver) createCommand(t *drivers.Target) proc.Command {
	// --list names each file stored new or changed, for the verify that
	// reads them back (verify.go); with --log-json, as JSON lines on
	// stderr, which borg's progress and log lines then are too.
	args := []string{"create", "--json", "--list", borgListFilter, "--log-json"}
	if t.Progress {
		args = append(args, "--progress")
	}
	args = append(args, borgLockWait(t))
	args = append(args, pointComment(t)...)
	if c := t.Settings.Str("compression"); c != "" {
		args = append(args, "--compression="+c)
	}
	for _, e := range t.Settings.List("exclude") {
		args = append(args, "--exclude="+e)
	}
	// borg expands the placeholders in the name itself.
	args = append(args, "--", "::"+borgArchivePrefix(t)+borgArchiveTemplate(t))
	args = append(args, t.Settings.List("paths")...)
	c := b.cmd(t, args...)
	// borg 1.2 exits 1 for warnings (a file vanished, changed while read,
	// or could not be read): the archive was committed, but is incomplete.
	c.Codes = proc.ExitCodes{Warning: []int{1}}.Override(t.ExitCodes)
	c.Progress = borgProgress(t)
	return c
}

// borgProgressArgs asks borg create for progress as JSON lines on stderr;
// its log messages then come as JSON too, and borgProgress turns them
// back into their text.
func borgProgressArgs(t *drivers.Target) []string {
	if !t.Progress {
		return nil
	}
	return []string{"--progress", "--log-json"}
}

func borgProgress(t *drivers.Target) *proc.ProgressReader {
	if !t.Progress {
		return nil
	}
	return &proc.ProgressReader{Stderr: true, Parse: parseBorgLogJSON}
}

// checkCommand checks the repository (CRC of every segment entry, the
// index) and then the archive's metadata and that its chunks exist. borg
// check exits 1 when it finds damage: only 0 is a success (Codes are
// empty), unlike borg create.
func (b Driver) checkCommand(t *drivers.Target, archive string) proc.Command {
	args := append([]string{"check"}, borgProgressArgs(t)...)
	args = append(args, borgLockWait(t))
	if t.Settings.Bool("check_verify_data", false) {
		args = append(args, "--verify-data")
	}
	c := b.cmd(t, append(args, "--", "::"+archive)...)
	c.Progress = borgProgress(t)
	return c
}

// pointComment marks an archive with the recovery point of its run (none
// outside a run), in its comment: borg list shows it, and the archive's
// name stays what retention's glob matches.
func pointComment(t *drivers.Target) []string {
	if t.Point == "" {
		return nil
	}
	return []string{"--comment=" + drivers.PointLabel(t.Point)}
}

// listCommand lists this target's archives (checkpoints excluded, oldest
// first) as JSON; last > 0 keeps only the newest ones. --format adds each
// one's comment (its recovery point) to the keys borg lists.
func (b Driver) listCommand(t *drivers.Target, last int) proc.Command {
	args := []string{"list", "--json", "--format={comment}", borgLockWait(t), borgGlob(t)}
	if t.ListWithoutLocks {
		// borg list takes a shared lock, which makes a borg create wait
		// for lock_wait and fail (Target.ListWithoutLocks).
		args = append(args, "--bypass-lock")
	}
	if last > 0 {
		args = append(args, "--last="+strconv.Itoa(last))
	}
	c := b.cmd(t, args...)
	c.StdoutTail = 64 << 20
	return c
}

// pruneCommand applies retention to this target's archives. It reports
// false when the target has no retention keys.
func (b Driver) pruneCommand(t *drivers.Target, dryRun bool) (proc.Command, bool) {
	args := []string{"prune", "--list", borgLockWait(t), borgGlob(t)}
	within := t.Settings.Str("keep_within")
	if within != "" {
		args = append(args, "--keep-within="+within)
	}
	counted := false
	for _, k := range borgKeeps {
		if n := t.Settings.Int(k, 0); n > 0 {
			args = append(args, "--"+strings.ReplaceAll(k, "_", "-")+"="+strconv.Itoa(n))
			counted = true
		}
	}
	if !counted && within == "" {
		return proc.Command{}, false
	}
	if !counted {
		// keep-within alone removes everything once backups have stopped
		// for longer than the window. Every count rule keeps the newest
		// archive; keep-last 1 makes sure of it here. (borg skips archives
		// another rule kept, so with the newest inside the window this
		// keeps the newest one older than it too.)
		args = append(args, "--keep-last=1")
	}
	if dryRun {
		args = append(args, "--dry-run")
	}
	return b.cmd(t, args...), true
}

// deleteOneCommand deletes exactly the archive name (an archive the guard
// refused): "::NAME" is an exact name, never a glob. No compact: the next
// retention's compact frees the little it held.
func (b Driver) deleteOneCommand(t *drivers.Target, name string) proc.Command {
	return b.cmd(t, "delete", borgLockWait(t), "--", "::"+name)
}

// compactCommand frees the space of pruned archives: borg 1.2's prune only
// marks segments, and nothing is freed until compact runs.
func (b Driver) compactCommand(t *drivers.Target) proc.Command {
	return b.cmd(t, "compact", borgLockWait(t))
}

func (b Driver) initCommand(t *drivers.Target) proc.Command {
	return b.cmd(t, "init", "--encryption="+borgEncryption(t))
}

func (b Driver) Steps(t *drivers.Target) []drivers.Step {
	create := b.createCommand(t)
	notes := "check that every path exists: " + strings.Join(t.Settings.List("paths"), ", ")
	if f := t.Settings.Str("passphrase_file"); f != "" {
		notes += "; open " + f + " (mode 0600) as the passphrase descriptor " + borgPassFD
	}
	steps := []drivers.Step{
		{Phase: drivers.PhasePreflight, Note: notes},
		{Phase: drivers.PhaseBackup, Command: &create},
		{Phase: drivers.PhaseBackup, Note: guard.EmptyBackupNote(t, "archive", "borg delete of that archive alone")},
	}
	steps = append(steps, b.verifySteps(t)...)
	return append(steps, b.pruneSteps(t, t)...)
}

// pruneSteps is retention as Prune runs it: prune, then compact when due
// in owner's repository.
func (b Driver) pruneSteps(t, owner *drivers.Target) []drivers.Step {
	prune, ok := b.pruneCommand(t, false)
	if !ok {
		return nil
	}
	compact := b.compactCommand(t)
	when := "only when the prune removed an archive:"
	if every, _ := owner.Settings["prune_every"].(time.Duration); every > 0 {
		when = "only when prune_every " + humanize.Duration(every) + " has passed since the last compact:"
	}
	return []drivers.Step{{Phase: drivers.PhasePrune, Command: &prune},
		{Phase: drivers.PhasePrune, Note: when},
		{Phase: drivers.PhasePrune, Command: &compact}}
}

var borgVersionRE = regexp.MustCompile(`borg (\d+)\.(\d+)\.(\d+)`)

func (Driver) CheckTools(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	v, err := toolversion.Probe(ctx, x, borgVersionRE, "borg", "--version")
	if err != nil {
		return err
	}
	switch {
	case v.Less(1, 2):
		return fmt.Errorf("borg %s is too old; 1.2 or newer is needed (borg compact, --glob-archives)", v)
	case !v.Less(2, 0):
		return fmt.Errorf("borg %s is not supported; borg 2 has a different command line (use borg 1.2 or 1.4)", v)
	}
	return nil
}

// ready checks what must hold before borg runs with the target's secrets:
// a private, non-empty passphrase file (borg strips trailing newlines
// only, and would take an empty passphrase without complaint, even for
// `init`). Passphrase variables inherited from our own environment, which
// borg would read before the plan's, never reach it (dropEnv).
func (Driver) ready(t *drivers.Target) error {
	return drivers.CheckSecrets(t)
}

// Init creates the repository unless it exists. It first opens the
// repository with the passphrase: only borg's "does not exist" leads to
// `borg init`; anything else (a wrong passphrase, a lock, not a borg
// repository) is reported, never initialised over.
func (b Driver) Init(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	_, err := b.InitReport(ctx, x, t)
	return err
}

// InitReport creates the repository, or finds one there. A new
// repository whose key is kept with it (repokey) or in ~/.config/borg
// (keyfile) cannot be opened again if that key is lost or damaged, the
// passphrase notwithstanding: the operator is told to export it.
func (b Driver) InitReport(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.InitResult, error) {
	if err := b.ready(t); err != nil {
		return drivers.InitResult{}, err
	}
	res, err := x.Run(ctx, b.listCommand(t, 1))
	if err == nil {
		return drivers.InitResult{}, nil
	}
	if !borgRepoMissing(res) {
		return drivers.InitResult{}, err
	}
	if err := b.checkPasscommand(ctx, x, t); err != nil {
		return drivers.InitResult{}, err
	}
	if _, err = x.Run(ctx, b.initCommand(t)); err != nil {
		return drivers.InitResult{}, err
	}
	out := drivers.InitResult{Created: true}
	if enc := borgEncryption(t); strings.HasPrefix(enc, "repokey") || strings.HasPrefix(enc, "keyfile") {
		out.Next = fmt.Sprintf("export the repository key and keep it apart from the repository: borg key export %s %s.borg-key (without it the passphrase cannot open a damaged repository)",
			t.Settings.Str("repository"), t.Name)
	}
	return out, nil
}

// checkPasscommand runs a passcommand once before borg init, which takes
// whatever it prints, even nothing, as the new passphrase.
func (b Driver) checkPasscommand(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	if c := t.Settings.Str("passcommand"); c != "" && borgEncryption(t) != "none" {
		// borg init takes whatever the command prints, even nothing, as
		// the new passphrase. Run it once first and refuse an empty one.
		argv, err := shellSplit(c)
		if err == nil && len(argv) == 0 {
			err = errors.New("names no command")
		}
		if err != nil {
			return drivers.KeyErr("passcommand", "%v", err)
		}
		out, err := x.Run(ctx, proc.Command{Program: argv[0], Args: argv[1:], Env: borgEnv(t)})
		if err != nil {
			return drivers.KeyErr("passcommand", "%v", err)
		}
		if len(bytes.TrimRight(out.Stdout, "\n")) == 0 {
			return drivers.KeyErr("passcommand", "printed no passphrase; refusing to create a repository with an empty passphrase")
		}
	}
	return nil
}

// borgRepoMissing recognises borg 1.2's "Repository X does not exist."
// (exit 2, as every other error).
func borgRepoMissing(res proc.Result) bool {
	return res.ExitCode == 2 && borgMissingRE.Match(res.Stderr)
}

// Backup refuses a missing source path before borg runs (borg 1.2 makes an
// empty archive and exits 1), then reads the archive's name and size from
// `borg create --json`, and deletes that archive again when borg read no
// file (the guard in mirrorguard.go).
func (b Driver) Backup(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.Artifact, error) {
	for _, p := range t.Settings.List("paths") {
		if _, err := os.Lstat(p); err != nil {
			return drivers.Artifact{}, drivers.KeyErr("paths", "%s: %v (refusing to make an archive without it)", p, errors.Unwrap(err))
		}
	}
	if err := b.ready(t); err != nil {
		return drivers.Artifact{}, err
	}
	rec, err := newWrittenRecord(t)
	if err != nil {
		return drivers.Artifact{}, fmt.Errorf("the record of the files stored: %w", err)
	}
	create := b.createCommand(t)
	create.Progress = &proc.ProgressReader{Stderr: true, Parse: rec.parse(t.Progress)}
	res, err := x.Run(ctx, create)
	if err != nil {
		if rec != nil {
			rec.abandon()
		}
		return drivers.Artifact{}, err
	}
	var out struct {
		Archive struct {
			Name  string `json:"name"`
			Stats struct {
				OriginalSize int64 `json:"original_size"`
				// The regular files borg read, after excludes (no
				// directory, no symlink). nil when borg leaves it out.
				NFiles *int64 `json:"nfiles"`
			} `json:"stats"`
		} `json:"archive"`
	}
	if jerr := json.Unmarshal(res.Stdout, &out); jerr != nil || out.Archive.Name == "" {
		if rec != nil {
			rec.abandon()
		}
		return drivers.Artifact{}, fmt.Errorf("borg create exited %d but printed no archive name (%s)", res.ExitCode, proc.LastLines(res.Stderr, 3))
	}
	a := drivers.Artifact{ID: out.Archive.Name, Bytes: out.Archive.Stats.OriginalSize}
	if rec != nil {
		if err := rec.finish(borgCacheBytes(res.Stdout)); err != nil {
			return drivers.Artifact{}, fmt.Errorf("the record of the files stored: %w", err)
		}
		a.Written = []string{rec.path}
	}
	if res.Class == proc.ClassWarning {
		a.Warnings = append(a.Warnings, fmt.Sprintf("borg create exited %d: %s", res.ExitCode, proc.LastLines(res.Stderr, 5)))
	}
	warning, err := guard.RefuseEmptyBackup(t, guard.EmptyBackup{Snapshot: "archive", Id: a.ID, Files: out.Archive.Stats.NFiles, Remove: func() error {
		_, err := x.Run(ctx, b.deleteOneCommand(t, a.ID))
		return err
	}})
	if err != nil {
		if len(a.Warnings) > 0 {
			// Unreadable files (exit 1) can be why none was read.
			err = fmt.Errorf("%w (%s)", err, strings.Join(a.Warnings, "; "))
		}
		return drivers.Artifact{}, err
	}
	if warning != "" {
		a.Warnings = append(a.Warnings, warning)
	}
	return a, nil
}

// borgCheckFindings picks the first lines of `borg check` output that name
// a problem.
func borgCheckFindings(stderr []byte) string {
	var found []string
	for _, l := range strings.Split(string(stderr), "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "ID: ") && borgFindingRE.MatchString(l) && len(found) < 3 {
			found = append(found, l)
		}
	}
	if len(found) == 0 {
		return "see below"
	}
	return strings.Join(found, " | ")
}

type borgArchive struct {
	Name string `json:"name"`
	ID   string `json:"id"`
	Time string `json:"time"` // local time without a zone: "2026-11-26T03:42:19.000000"
	// Comment holds the archive's recovery point (pointComment).
	Comment string `json:"comment"`
}

func (b Driver) list(ctx context.Context, x proc.Executor, t *drivers.Target, last int) ([]borgArchive, error) {
	res, err := x.Run(ctx, b.listCommand(t, last))
	if err != nil {
		return nil, err
	}
	var out struct {
		Archives []borgArchive `json:"archives"`
	}
	if err := json.Unmarshal(res.Stdout, &out); err != nil {
		return nil, fmt.Errorf("borg list: unreadable JSON: %v", err)
	}
	return out.Archives, nil
}

func (b Driver) Snapshots(ctx context.Context, x proc.Executor, t *drivers.Target) ([]drivers.Snapshot, error) {
	if err := b.ready(t); err != nil {
		return nil, err
	}
	archives, err := b.list(ctx, x, t, 0)
	if err != nil {
		return nil, err
	}
	// borg lists oldest first; show newest first like the other drivers.
	out := make([]drivers.Snapshot, 0, len(archives))
	for i := len(archives) - 1; i >= 0; i-- {
		a := archives[i]
		ts, err := time.ParseInLocation("2006-01-02T15:04:05.999999", a.Time, time.Local)
		if err != nil {
			return nil, fmt.Errorf("borg list: archive %s has an unreadable time %q", a.Name, a.Time)
		}
		// The size needs a `borg info` per archive; not worth it here.
		out = append(out, drivers.Snapshot{ID: a.Name, Time: ts, Bytes: -1, Point: drivers.PointFromLabels(a.Comment)})
	}
	return out, nil
}

// borgPruneLine is one archive line of `borg prune --list`:
// "<message padded to 40> <name padded to 36> <Thu, 2026-11-26 03:42:24> [<id>]".
var borgPruneLine = regexp.MustCompile(`^(Would prune|Pruning archive \(\d+/\d+\)|Keeping archive \(rule: [^)]*\)|Keeping checkpoint archive):\s+(.*?)\s+[A-Z][a-z]{2}, \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \[[0-9a-f]{64}\]$`)

// Prune applies retention to this target's archives, then compacts the
// repository to actually free the space. The outcome is read from
// `--list` (on stderr, where borg logs it).
func (b Driver) Prune(ctx context.Context, x proc.Executor, t *drivers.Target, dryRun bool) (drivers.PruneResult, error) {
	return b.prune(ctx, x, t, dryRun, t)
}

// prune applies t's retention in the repository of owner (t itself, or
// the borg target a pg_dump target streams into), whose prune_every says
// when to compact.
func (b Driver) prune(ctx context.Context, x proc.Executor, t *drivers.Target, dryRun bool, owner *drivers.Target) (drivers.PruneResult, error) {
	cmd, ok := b.pruneCommand(t, dryRun)
	if !ok {
		return drivers.PruneResult{}, nil
	}
	if err := b.ready(t); err != nil {
		return drivers.PruneResult{}, err
	}
	res, err := x.Run(ctx, cmd)
	if err != nil {
		return drivers.PruneResult{}, err
	}
	out := parseBorgPrune(res.Stderr)
	if !dryRun && compactDue(t, owner, len(out.Removed) > 0) {
		if _, err := x.Run(ctx, b.compactCommand(t)); err != nil {
			return out, err
		}
		out.Reclaimed = owner.Name
	}
	return out, nil
}

// compactDue: compact reads the repository's hints and index to find
// segments to rewrite. Without prune_every it runs when this prune removed
// an archive (with none removed there is nothing new to free; an empty
// archive the guard deleted waits for the next compact); with it, once
// prune_every has passed since the last compact, for what every prune
// since removed.
func compactDue(t, owner *drivers.Target, removed bool) bool {
	if every, _ := owner.Settings["prune_every"].(time.Duration); every > 0 {
		return drivers.ReclaimDue(t, owner)
	}
	return removed
}

func parseBorgPrune(stderr []byte) drivers.PruneResult {
	out := drivers.PruneResult{Policy: true}
	for _, line := range strings.Split(string(stderr), "\n") {
		m := borgPruneLine.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if m == nil {
			continue
		}
		if strings.HasPrefix(m[1], "Keeping") {
			out.Kept++
		} else {
			out.Removed = append(out.Removed, m[2])
		}
	}
	return out
}

// shellSplit splits a command line the way borg splits BORG_PASSCOMMAND
// (Python's shlex.split, POSIX mode): words separated by blanks, '...'
// literal, "..." where a backslash escapes only " and \, a backslash
// elsewhere escapes the next character. No expansion of any kind.
func shellSplit(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("ends with a lone backslash")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("has an unclosed ' quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, errors.New("has an unclosed \" quote")
			}
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// borgDropEnv: see Facts.DropEnv.
var borgDropEnv = []string{"BORG_NEW_PASSPHRASE", "BORG_PASSCOMMAND", "BORG_PASSPHRASE", "BORG_PASSPHRASE_FD", "BORG_REPO"}

func (Driver) Facts() drivers.Facts {
	return drivers.Facts{
		Role:        drivers.RoleFiles,
		Programs:    []drivers.Program{{Name: "borg", Package: "borgbackup"}},
		PasswordKey: "passphrase_file",
		DropEnv:     borgDropEnv,
	}
}

func (Driver) Resources(t *drivers.Target) drivers.Resources {
	s := t.Settings
	// A repository that is not an absolute path is host:path, over ssh.
	r := drivers.Resources{Repository: s.Str("repository"), SSH: !filepath.IsAbs(s.Str("repository"))}
	r.Secrets = drivers.WithSecret(r.Secrets, t, "passphrase_file", drivers.PasswordFile)
	// (local: is restic's prefix; trimmed here too, as planpaths always did.)
	r.Paths = append(r.Paths, drivers.Path{Path: strings.TrimPrefix(s.Str("repository"), "local:"), Write: true, Why: "repository of " + t.Name})
	r.Paths = append(r.Paths, drivers.ReadPaths(t)...)
	return r
}

func (Driver) PlainRestore(t *drivers.Target) []drivers.Step {
	env := borgRunbookEnv(t)
	list := proc.Command{Program: "borg", Args: []string{"list", "--last=1", "--short", borgGlob(t)}, Env: env}
	extract := proc.Command{Program: "borg", Args: []string{"extract", borgLockWait(t), "::" + borgArchivePrefix(t) + "<ARCHIVE>"}, Env: env}
	return []drivers.Step{drivers.RestoreCmd(list), drivers.RestoreNote("then, in / (borg extracts relative to the current directory):"), drivers.RestoreCmd(extract)}
}

// PlainRecover is recover's files part in plain commands: the newest
// archive's name, then each path extracted into a staging directory
// beside its place (borg extracts into the current directory, as
// STAGE/<path without its leading />), moved into place, the staging
// directory removed.
func (d Driver) PlainRecover(t *drivers.Target) []drivers.Step {
	env := borgRunbookEnv(t)
	list := proc.Command{Program: "borg", Args: []string{"list", "--last=1", "--short", borgGlob(t)}, Env: env}
	steps := []drivers.Step{drivers.RestoreShell("ARCHIVE=$(%s)", drivers.ShellLine(list))}
	for _, p := range d.RecoverPaths(t) {
		stage := drivers.PlainStage(p)
		extract := proc.Command{Program: "borg", Args: []string{"extract", borgLockWait(t)}, Env: env}
		steps = append(steps,
			drivers.RestoreCmd(proc.Command{Program: "mkdir", Args: []string{"-p", stage}}),
			drivers.RestoreShell("(cd %s && %s \"::$ARCHIVE\" %s)", proc.ShellQuote(stage), drivers.ShellLine(extract), proc.ShellQuote(strings.TrimPrefix(p, "/"))))
		steps = append(steps, drivers.MoveIntoPlaceSteps(stage, p)...)
	}
	return steps
}

// borgRunbookEnv is borg's environment for a person at a shell: a
// passphrase file becomes a passcommand that reads it (the descriptor the
// driver uses cannot be typed).
func borgRunbookEnv(t *drivers.Target) []proc.EnvVar {
	var out []proc.EnvVar
	for _, e := range borgEnv(t) {
		if e.Name == "BORG_PASSPHRASE_FD" {
			e = proc.EnvVar{Name: "BORG_PASSCOMMAND", Value: "cat " + t.Settings.Str("passphrase_file")}
		}
		out = append(out, e)
	}
	return out
}

// DumpStore: a pg_dump target can stream its dumps into a borg repository
// (borg_stream.go).
func (Driver) DumpStore() drivers.DumpStore { return borgStore{} }

// borgPercentSuffix is the percentage borg ends a progress_percent
// message with ("Checking segments 16.7%"); Progress.Percent carries it.
var borgPercentSuffix = regexp.MustCompile(`\s*[\d.]+%$`)

// parseBorgLogJSON reads borg's stderr under `--log-json --progress`:
// archive_progress (create) and progress_percent (check) lines are
// progress, log messages become their plain text (so errors read as they
// do without --log-json), other progress messages are dropped.
func parseBorgLogJSON(line []byte) (proc.Progress, bool, []byte) {
	var m struct {
		Type         string `json:"type"`
		OriginalSize int64  `json:"original_size"`
		NFiles       int64  `json:"nfiles"`
		Path         string `json:"path"`
		Message      string `json:"message"`
		Finished     bool   `json:"finished"`
		Current      int64  `json:"current"`
		Total        int64  `json:"total"`
	}
	if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &m) != nil {
		return proc.Progress{}, false, line
	}
	switch m.Type {
	case "archive_progress":
		if m.Finished {
			return proc.Progress{}, false, nil // carries no sizes: only "done"
		}
		return proc.Progress{Bytes: m.OriginalSize, Files: m.NFiles, Item: m.Path, Percent: -1, ETA: -1}, true, nil
	case "progress_percent":
		if m.Finished || m.Total <= 0 {
			return proc.Progress{}, false, nil
		}
		return proc.Progress{Percent: 100 * float64(m.Current) / float64(m.Total), ETA: -1,
			Item: borgPercentSuffix.ReplaceAllString(m.Message, "")}, true, nil
	case "log_message":
		return proc.Progress{}, false, []byte(m.Message)
	case "file_status":
		// --list's names: one a file, read by Backup, no message.
		return proc.Progress{}, false, nil
	case "progress_message":
		return proc.Progress{}, false, nil
	}
	return proc.Progress{}, false, line
}

// Custody: a repository that is not an absolute path is on another
// machine (over ssh). Its encryption mode is the one `init` created it
// with: "none" and the authenticated modes keep the data in the clear.
func (Driver) Custody(t *drivers.Target) drivers.Custody {
	repo := t.Settings.Str("repository")
	c := drivers.Custody{Offsite: drivers.Yes, Place: repo}
	if filepath.IsAbs(repo) {
		c.Offsite = drivers.No
	}
	mode := t.Settings.Str("encryption")
	if mode == "" {
		mode = borgDefaultEncryption
	}
	c.Why = "encryption = " + strconv.Quote(mode)
	if mode == "none" || strings.HasPrefix(mode, "authenticated") {
		c.Encrypted = drivers.No
		c.Fix = "a new repository with encryption = \"" + borgDefaultEncryption + "\" (borg cannot change a repository's mode): set it, run `alexandria-backup init`, export the key"
	} else {
		c.Encrypted = drivers.Yes
	}
	return c
}
