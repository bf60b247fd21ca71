// Package rclone is the rclone driver: a sync or copy of a directory to
// an rclone remote, guarded against emptying the destination, verified by
// hash, restored and drilled from the remote.
package rclone

import (
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
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/pointmark"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/toolversion"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Driver mirrors (sync) or copies a directory to an rclone remote or a local
// path. The destination has no history: it is one copy, replaced each run,
// so the driver guards it: a sync that would empty the mirror or delete most
// of it is refused before rclone writes anything there (guard.go),
// max_delete caps deletions, and verification (verify.go) hashes
// what the run sent plus a rotating slice of the rest (cryptcheck for a
// crypt remote), failing when hashes could not be compared at all.
type Driver struct{}

// rcloneDefaultMode is mode's default.
const rcloneDefaultMode = "sync"

func (Driver) Name() string { return "rclone" }

func (Driver) Options() []drivers.Option {
	return append([]drivers.Option{
		{Name: "source", Kind: drivers.String, Required: true, Check: checkRclonePlace,
			Help: "What to copy: an absolute local path, or an rclone remote path (remote:path)."},
		{Name: "destination", Kind: drivers.String, Required: true, Check: checkRclonePlace,
			Help: "Where to copy it: an rclone remote path such as \"b2:alexandria-backups\", or an absolute local path."},
		{Name: "mode", Kind: drivers.String, Default: rcloneDefaultMode, Enum: []string{"sync", "copy"},
			Help: "sync makes the destination an exact mirror (files not in the source are deleted); copy only adds and updates."},
		{Name: "config", Kind: drivers.String,
			Help: "The rclone.conf to use (rclone --config); it must not be readable by group or others. Default: rclone's own."},
		{Name: "config_password_file", Kind: drivers.String,
			Help: "File holding the password of an encrypted rclone.conf (mode 0600). Passed as RCLONE_CONFIG_PASS, never in argv."},
		{Name: "config_password_command", Kind: drivers.String,
			Help: "Command printing the password of an encrypted rclone.conf, run by rclone without a shell. Passed as RCLONE_PASSWORD_COMMAND."},
		{Name: "bwlimit", Kind: drivers.String, Check: checkRcloneBwlimit,
			Help: "rclone --bwlimit for the copy and its verification: a rate such as \"10M\", \"10M:1M\" (upload:download) or a timetable such as \"08:00,512k 19:00,off\"."},
		{Name: "exclude", Kind: drivers.StringList,
			Help: "rclone --exclude patterns, applied to the copy and to its verification."},
		{Name: "max_delete", Kind: drivers.Int, Min: 0, Max: 1000000000,
			Help: "sync only: delete at most this many files in one run (rclone --max-delete); when reached, rclone stops and the target fails."},
		{Name: "crypt", Kind: drivers.Bool, Default: "false",
			Help: "The destination is an rclone crypt remote: verify with rclone cryptcheck, which compares the encrypted data with the source (plain check cannot)."},
		{Name: "check_download", Kind: drivers.Bool, Default: "false",
			Help: "Verify by reading every file on both sides (rclone check --download) instead of comparing hashes: for remotes sharing no hash type with the source. Slow and costly."},
	}, guard.MirrorOptions("mode = \"sync\"")...)
}

// checkRclonePlace refuses an empty place, and one holding a URL with a
// password (":webdav,url='https://user:pw@host/':path").
func checkRclonePlace(v any) error {
	if strings.TrimSpace(v.(string)) == "" {
		return errors.New("must not be empty")
	}
	return drivers.NoPassword(false, "define the remote, with its credentials, in the rclone.conf (config)")(v)
}

// rcloneBwlimitRE accepts what rclone 1.60's --bwlimit takes: a rate
// ("off", or a number with an optional unit), optionally "UPLOAD:DOWNLOAD",
// in a space-separated timetable of [Day-]HH:MM,RATE entries.
var rcloneBwlimitRE = regexp.MustCompile(`^(((Mon|Tue|Wed|Thu|Fri|Sat|Sun)-)?\d{2}:\d{2},)?` +
	rcloneRate + `(:` + rcloneRate + `)?$`)

const rcloneRate = `(off|\d+(\.\d+)?([bBkKmMgGtTpP](i[bB]?)?)?)`

func checkRcloneBwlimit(v any) error {
	entries := strings.Fields(v.(string))
	for _, e := range entries {
		if !rcloneBwlimitRE.MatchString(e) {
			return fmt.Errorf("must be a rate such as \"10M\", \"10M:1M\" (upload:download) or a timetable such as \"08:00,512k 19:00,off\", not %q", v)
		}
	}
	if len(entries) == 0 {
		return errors.New("must not be empty")
	}
	return nil
}

// rcloneIsRemote tells an rclone remote path ("b2:bucket", ":sftp:dir") from a
// local one, as rclone does: a colon before the first slash.
func rcloneIsRemote(p string) bool {
	head, _, _ := strings.Cut(p, "/")
	return strings.Contains(head, ":")
}

func (Driver) Validate(t *drivers.Target) error {
	for _, key := range []string{"source", "destination"} {
		p := t.Settings.Str(key)
		if !rcloneIsRemote(p) {
			if !filepath.IsAbs(p) {
				return drivers.KeyErr(key, "a local path must be absolute (cron and systemd start in another directory), not %q", p)
			}
			continue
		}
		// "remote,key=value:path" puts backend settings, often credentials,
		// on the command line for every user of the machine to read.
		// (The name of an on-the-fly remote follows a leading colon.)
		if name, _, _ := strings.Cut(strings.TrimPrefix(p, ":"), ":"); strings.Contains(name, ",") {
			// The value is not shown: it may hold the very credentials.
			return drivers.KeyErr(key, "connection-string parameters (remote,key=value:path) would put remote settings, often credentials, in argv; define the remote in the rclone.conf, or in `env` as RCLONE_CONFIG_<REMOTE>_<KEY>")
		}
	}
	src, dst := t.Settings.Str("source"), t.Settings.Str("destination")
	if !rcloneIsRemote(src) && !rcloneIsRemote(dst) {
		s, d := filepath.Clean(src), filepath.Clean(dst)
		if s == d || rcloneWithin(s, d) || rcloneWithin(d, s) {
			return drivers.KeyErr("destination", "%s and the source %s overlap", d, s)
		}
	} else if src == dst {
		return drivers.KeyErr("destination", "is the same as the source")
	}
	if rcloneMode(t) != "sync" {
		for _, k := range []string{"max_delete", "max_delete_percent", "allow_empty_source"} {
			if t.Settings.Has(k) {
				return drivers.KeyErr(k, "only applies to mode = \"sync\" (copy never deletes)")
			}
		}
	}
	if set := drivers.FirstSet(t.Settings, "config_password_file", "config_password_command"); len(set) > 1 {
		return drivers.KeyErr("config_password_file", "set only one of %s", drivers.QuoteList(set))
	}
	return nil
}

// rcloneWithin reports whether path lies inside dir (both clean and absolute).
func rcloneWithin(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && filepath.IsLocal(rel)
}

func rcloneMode(t *drivers.Target) string {
	if m := t.Settings.Str("mode"); m != "" {
		return m
	}
	return rcloneDefaultMode
}

// rcloneEnv is how rclone learns the config password: the value read from
// config_password_file (secret, masked everywhere), or the command that
// prints it (not a secret).
func rcloneEnv(t *drivers.Target, configPass string) []proc.EnvVar {
	var env []proc.EnvVar
	if configPass != "" {
		env = append(env, proc.EnvVar{Name: "RCLONE_CONFIG_PASS", Value: configPass, Secret: true})
	}
	if c := t.Settings.Str("config_password_command"); c != "" {
		env = append(env, proc.EnvVar{Name: "RCLONE_PASSWORD_COMMAND", Value: c})
	}
	return append(env, t.EnvVars()...)
}

// rcloneSecrets does the I/O every rclone run needs first: it refuses an
// rclone.conf or password file that group or others can read (rclone reads
// a 0644 config silently) and reads the config password.
func rcloneSecrets(t *drivers.Target) ([]proc.EnvVar, error) {
	if err := drivers.CheckSecretMode(t.Settings.Str("config")); err != nil {
		return nil, drivers.KeyErr("config", "%v", err)
	}
	pass := ""
	if path := t.Settings.Str("config_password_file"); path != "" {
		var err error
		if pass, err = drivers.ReadSecretFile(path); err != nil {
			return nil, drivers.KeyErr("config_password_file", "%v", err)
		}
	}
	return rcloneEnv(t, pass), nil
}

// rcloneStepsEnv stands in for rcloneSecrets in --dry-run, which does no I/O:
// the password variable is shown (masked) without reading the file.
func rcloneStepsEnv(t *drivers.Target) []proc.EnvVar {
	pass := ""
	if path := t.Settings.Str("config_password_file"); path != "" {
		pass = "<read from " + path + ">"
	}
	return rcloneEnv(t, pass)
}

// cmd builds one rclone invocation. Every value goes as --flag=value and
// the paths after "--", so nothing from the plan can become an option.
func (Driver) cmd(t *drivers.Target, env []proc.EnvVar, sub string, flags []string, paths ...string) proc.Command {
	args := []string{sub}
	if c := t.Settings.Str("config"); c != "" {
		args = append(args, "--config="+c)
	}
	// Never prompt for the config password (under cron a prompt fails
	// obscurely), and log without the date and time, which only clutter
	// the stderr tail shown in errors.
	args = append(args, "--ask-password=false", "--log-format=")
	args = append(args, flags...)
	args = append(append(args, "--"), paths...)
	// rclone 1.60 dies of SIGTERM and SIGINT alike (no cleanup either way).
	return proc.Command{Program: "rclone", Args: args, Env: env, Stop: syscall.SIGTERM}
}

// rcloneExcludes are the filters of every transfer, listing and check:
// first the recovery-point marker's (marker.go), then the plan's.
func rcloneExcludes(t *drivers.Target) []string {
	out := []string{markerExclude}
	for _, e := range t.Settings.List("exclude") {
		out = append(out, "--exclude="+e)
	}
	return out
}

func rcloneBwlimit(t *drivers.Target) []string {
	if b := t.Settings.Str("bwlimit"); b != "" {
		return []string{"--bwlimit=" + b}
	}
	return nil
}

// transferCommand is the backup itself: rclone sync or copy. rclone 1.60
// exits 1 for most failures, 3 for a missing directory and 7 (fatal)
// when --max-delete is reached; every non-zero exit is a failure. It logs
// each file it copies (-v) and, when the run records the destination's
// files, each it finds unchanged (-vv) to log, which reads them as they
// come (transferlog.go).
func (r Driver) transferCommand(t *drivers.Target, env []proc.EnvVar, log *rcloneTransferLog) proc.Command {
	level := "-v"
	if recorded(t) {
		level = "-vv"
	}
	flags := append([]string{level}, rcloneBwlimit(t)...)
	if rcloneMode(t) == "sync" && t.Settings.Has("max_delete") {
		flags = append(flags, "--max-delete="+strconv.Itoa(t.Settings.Int("max_delete", 0)))
	}
	flags = append(flags, rcloneExcludes(t)...)
	if t.Progress {
		// Stats once a second, at a level shown by default.
		flags = append(flags, "--stats=1s", "--stats-log-level=NOTICE")
	}
	c := r.cmd(t, env, rcloneMode(t), flags, t.Settings.Str("source"), t.Settings.Str("destination"))
	c.Codes = proc.ExitCodes{}.Override(t.ExitCodes)
	if log != nil {
		c.Progress = &proc.ProgressReader{Stderr: true, Parse: log.parse}
	}
	return c
}

// listCommand lists the destination's files for `snapshots`.
func (r Driver) listCommand(t *drivers.Target, env []proc.EnvVar) proc.Command {
	flags := append([]string{"--recursive", "--files-only", "--no-mimetype"}, rcloneExcludes(t)...)
	c := r.cmd(t, env, "lsjson", flags, t.Settings.Str("destination"))
	// 3 is "directory not found": nothing was copied there yet.
	c.Codes = proc.ExitCodes{OK: []int{3}}
	c.StdoutTail = 64 << 20
	return c
}

func (r Driver) Steps(t *drivers.Target) []drivers.Step {
	env := rcloneStepsEnv(t)
	var steps []drivers.Step
	if rcloneMode(t) == "sync" {
		if guardsByRecord(t) {
			steps = append(steps, drivers.Step{Phase: drivers.PhasePreflight, Note: fmt.Sprintf(
				"look up in the source each file of the mirror the last run's record (%s) lists, an lstat each: when not all and no more than %d%% are gone, go ahead; else (or with no record) list both sides:",
				recordName(t), t.Settings.Int("max_delete_percent", guard.DefaultMaxDeletePercent))})
		}
		guardCmd := r.guardCommand(t, env, nil)
		steps = append(steps, drivers.Step{Phase: drivers.PhasePreflight, Command: &guardCmd},
			drivers.Step{Phase: drivers.PhasePreflight, Note: guard.MirrorNote(t, "source")})
	}
	transfer := r.transferCommand(t, env, nil)
	take, seal := r.markerSteps(t, env)
	steps = append(append(steps, take...), drivers.Step{Phase: drivers.PhaseBackup, Command: &transfer})
	if recorded(t) {
		uses := "for the verification"
		if guardsByRecord(t) {
			uses = "for the verification and the next run's guard"
		}
		steps = append(steps, drivers.Step{Phase: drivers.PhaseBackup,
			Note: fmt.Sprintf("record the files the sync copied and those it found unchanged, from its log (%s), %s", recordName(t), uses)})
	}
	return append(append(steps, r.verifySteps(t, env)...), seal...)
}

var rcloneVersionRE = regexp.MustCompile(`rclone v(\d+)\.(\d+)\.(\d+)`)

func (Driver) CheckTools(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	v, err := toolversion.Probe(ctx, x, rcloneVersionRE, "rclone", "version")
	if err != nil {
		return err
	}
	if v.Less(1, 60) {
		return fmt.Errorf("rclone %s is too old; 1.60 or newer is needed", v)
	}
	return nil
}

// Init makes a local destination directory. A remote needs nothing: rclone
// creates the path on the first copy, and creating buckets is left to their
// owner (it fixes their region and visibility).
func (d Driver) Init(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	_, err := d.InitReport(ctx, x, t)
	return err
}

// InitReport creates a local destination, or finds it; a remote one is
// rclone's to create on the first copy.
func (Driver) InitReport(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.InitResult, error) {
	if dst := t.Settings.Str("destination"); !rcloneIsRemote(dst) {
		return drivers.MkdirInit(dst)
	}
	return drivers.InitResult{Nothing: true}, nil
}

// Backup syncs (or copies) the source to the destination. A sync is
// guarded first (guard.go): one that would empty the mirror or delete
// most of it is refused before anything is written. Then one rclone sync
// or copy, whose log names the files it copied (what the run sent) and,
// in the record, every file of the destination after it (record.go).
func (r Driver) Backup(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.Artifact, error) {
	env, err := rcloneSecrets(t)
	if err != nil {
		return drivers.Artifact{}, err
	}
	if src := t.Settings.Str("source"); !rcloneIsRemote(src) {
		if _, err := os.Stat(src); err != nil {
			return drivers.Artifact{}, drivers.KeyErr("source", "%v (refusing to %s without it)", err, rcloneMode(t))
		}
	}
	if rcloneMode(t) == "sync" {
		if err := r.guard(ctx, x, t, env); err != nil {
			return drivers.Artifact{}, err
		}
	}
	// From here on the destination changes: it holds no point until this
	// run is verified and sealed (Seal).
	if err := r.takeMarker(ctx, x, t, env); err != nil {
		return drivers.Artifact{}, err
	}
	var record *rcloneRecord
	var recordErr error
	if recorded(t) {
		if record, recordErr = newRcloneRecord(t); recordErr != nil {
			os.Remove(recordPath(t)) // it would describe the mirror before this run
		}
	}
	log := newRcloneTransferLog(t.Progress, record)
	res, err := x.Run(ctx, r.transferCommand(t, env, log))
	if err != nil {
		record.abandon()
		return drivers.Artifact{}, err
	}
	if recordErr == nil {
		recordErr = record.finish()
	}
	// The size of the mirror is not known without listing it again (the
	// sync's stats count what it transferred): Snapshots lists it.
	a := drivers.Artifact{ID: t.Settings.Str("destination"), Bytes: -1, Written: log.copied}
	switch {
	case record != nil && recordErr == nil:
		// The record names what the sync copied; the verify reads it
		// there, and hashes everything when it is gone.
		a.Written = []string{record.path}
	case record != nil:
		// It could not be completed (a full disk under KeepDir): what
		// was sent is not known, so the verify lists both sides, as a
		// verify on its own does (the warning below says so).
		a.Written = nil
	}
	if res.Class == proc.ClassWarning {
		a.Warnings = append(a.Warnings, fmt.Sprintf("rclone exited %d: %s", res.ExitCode, proc.LastLines(res.Stderr, 5)))
	}
	if recordErr != nil {
		a.Warnings = append(a.Warnings, fmt.Sprintf("could not record the destination's files (%v): the verification lists both sides instead, and so does the next run's guard", recordErr))
	}
	return a, nil
}

// rcloneCombinedLine reads one line of a --combined report: its kind
// ('=' the same on both sides, '*' different, '+' only in the source,
// '-' only in the destination, '!' unreadable) and the file's path.
func rcloneCombinedLine(l string) (kind byte, path string, err error) {
	if len(l) < 3 || l[1] != ' ' || !strings.ContainsRune("=*+-!", rune(l[0])) {
		return 0, "", fmt.Errorf("rclone check --combined: cannot read %q", l)
	}
	return l[0], l[2:], nil
}

// rcloneCheckFailure turns a failed check into an error that leads with what
// differs: rclone's summary ("N differences found", "N files missing")
// and its first few ERROR lines naming files.
func rcloneCheckFailure(sub string, res proc.Result, err error) error {
	var te *proc.ToolError
	if !errors.As(err, &te) || !strings.Contains(string(res.Stderr), "differences found") {
		return err
	}
	var summary, files []string
	for _, l := range strings.Split(string(res.Stderr), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "ERROR : ") && len(files) < 5:
			files = append(files, strings.TrimPrefix(l, "ERROR : "))
		case strings.HasPrefix(l, "NOTICE: ") && (strings.Contains(l, "differences found") ||
			strings.Contains(l, "files missing") || strings.Contains(l, "errors while checking") ||
			strings.Contains(l, "hashes could not be checked")):
			if _, after, ok := strings.Cut(l, ": "); ok {
				// "NOTICE: <remote>: 1 differences found" → "1 differences found"
				if i := strings.LastIndex(after, ": "); i >= 0 {
					after = after[i+2:]
				}
				summary = append(summary, after)
			}
		}
	}
	msg := fmt.Sprintf("rclone %s exited %d: %s", sub, res.ExitCode, strings.Join(summary, ", "))
	if len(files) > 0 {
		msg += " (" + strings.Join(files, "; ") + ")"
	}
	return errors.New(msg)
}

// Prune does nothing: a mirror or copy keeps no history to thin.
func (Driver) Prune(ctx context.Context, x proc.Executor, t *drivers.Target, dryRun bool) (drivers.PruneResult, error) {
	return drivers.PruneResult{}, nil
}

type rcloneListEntry struct {
	Size    int64     `json:"Size"`
	ModTime time.Time `json:"ModTime"`
}

// Snapshots lists the destination as the one backup there is: its size,
// its recovery point and as its time when its last verified sync ended,
// from its marker (marker.go). Without a marker it is in no point, and
// its time is the newest file's modification time (rclone keeps the
// source's times, so this is "data as of", not when the copy ran). A
// destination that is missing or has no files yet has no backup.
func (r Driver) Snapshots(ctx context.Context, x proc.Executor, t *drivers.Target) ([]drivers.Snapshot, error) {
	env, err := rcloneSecrets(t)
	if err != nil {
		return nil, err
	}
	res, err := x.Run(ctx, r.listCommand(t, env))
	if err != nil {
		return nil, err
	}
	if res.ExitCode == 3 {
		return nil, nil
	}
	var entries []rcloneListEntry
	if err := json.Unmarshal(res.Stdout, &entries); err != nil {
		return nil, fmt.Errorf("rclone lsjson: unreadable JSON: %v", err)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	var bytes int64
	for _, e := range entries {
		bytes += e.Size
	}
	mark, note, err := r.readMarker(ctx, x, t, env)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("%s of %s (no history): %d files", rcloneMode(t), t.Settings.Str("source"), len(entries))
	if note != "" {
		what += " (" + note + ")"
	}
	return []drivers.Snapshot{pointmark.Snapshot(t.Settings.Str("destination"), mark, bytes, what)}, nil
}

func (Driver) Facts() drivers.Facts {
	return drivers.Facts{
		// The runbook brings the offsite copy back before anything is
		// restored from the repositories it holds.
		Role:     drivers.RoleOffsite,
		Programs: []drivers.Program{{Name: "rclone", Package: "rclone"}},
		// 5: a temporary error.
		TransientCodes: []int{5},
	}
}

func (Driver) Resources(t *drivers.Target) drivers.Resources {
	s := t.Settings
	var r drivers.Resources
	// rclone.conf holds the remotes' credentials.
	r.Secrets = drivers.WithSecret(r.Secrets, t, "config", drivers.ConfigFile)
	r.Secrets = drivers.WithSecret(r.Secrets, t, "config_password_file", drivers.PasswordFile)
	r.Paths = []drivers.Path{
		drivers.SourcePath(t, "source", s.Str("source"), "source of "+t.Name),
		{Path: s.Str("destination"), Write: true, Why: "destination of " + t.Name},
	}
	return r
}

func (Driver) PlainRestore(t *drivers.Target) []drivers.Step {
	c := Driver{}.cmd(t, rcloneStepsEnv(t), "copy", []string{markerExclude}, t.Settings.Str("destination"), t.Settings.Str("source"))
	return []drivers.Step{drivers.RestoreCmd(c)}
}
