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
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/toolversion"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Driver mirrors (sync) or copies a directory to an rclone remote or a local
// path. The destination has no history: it is one copy, replaced each run,
// so the driver guards it: a sync that would empty the mirror or delete most
// of it is refused before rclone replaces or deletes anything there (see
// Backup), max_delete caps deletions, and verification (verify.go) hashes
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

func rcloneExcludes(t *drivers.Target) []string {
	var out []string
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

// rcloneRecordsUnchanged reports whether a backup of t records the files
// it finds unchanged: for the verify that follows it, when that verify
// hashes a slice of them (not all: verify_cycle = 1).
func rcloneRecordsUnchanged(t *drivers.Target) bool {
	return t.Verify && t.VerifyCycle != 1
}

// rclonePass is one rclone sync or copy of a backup (see Backup).
type rclonePass int

const (
	// rcloneAddOnly adds the files new to the mirror and changes nothing
	// it holds: --immutable refuses to replace a file (an error, which
	// --retries=1 does not repeat), --max-delete=0 stops rclone, exit 7,
	// at the first deletion it would make, after every transfer (sync
	// deletes after transferring); --ignore-errors lets it reach the
	// deletions despite the files it refused to replace, so the pass
	// tells both.
	rcloneAddOnly rclonePass = iota
	// rcloneNoDelete also replaces files changed in place, and still
	// deletes nothing.
	rcloneNoDelete
	// rcloneFinal is the sync as it always was (max_delete its only
	// limit), or the copy.
	rcloneFinal
)

// transferCommand is one pass of the backup: rclone sync or copy. rclone
// 1.60 exits 1 for most failures, 3 for a missing directory and 7 (fatal)
// when --max-delete is reached; every non-zero exit is a failure. It logs
// each file it copies and each it finds unchanged (-vv) to log, which
// reads them as they come (transferlog.go).
func (r Driver) transferCommand(t *drivers.Target, env []proc.EnvVar, pass rclonePass, log *rcloneTransferLog) proc.Command {
	// -v logs the files copied; -vv the unchanged ones too.
	level := "-v"
	if rcloneRecordsUnchanged(t) {
		level = "-vv"
	}
	flags := append([]string{level}, rcloneBwlimit(t)...)
	switch {
	case rcloneMode(t) != "sync":
	case pass == rcloneAddOnly:
		flags = append(flags, "--max-delete=0", "--immutable", "--ignore-errors", "--retries=1")
	case pass == rcloneNoDelete:
		flags = append(flags, "--max-delete=0")
	case t.Settings.Has("max_delete"):
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
	step := func(c proc.Command) { steps = append(steps, drivers.Step{Phase: drivers.PhaseBackup, Command: &c}) }
	note := func(n string) { steps = append(steps, drivers.Step{Phase: drivers.PhaseBackup, Note: n}) }
	if rcloneMode(t) == "sync" {
		step(r.transferCommand(t, env, rcloneAddOnly, nil))
		note("add the files new to the mirror, replacing and deleting none; with nothing else to do (the everyday run), the backup ends here")
		step(r.transferCommand(t, env, rcloneNoDelete, nil))
		note("only when files changed in place: replace them, still deleting none")
		step(r.guardCommand(t, env, nil))
		note("only when rclone held deletions back (exit 7, --max-delete threshold reached), or the source held no file: " +
			guard.MirrorNote(t, "source") + " (the mirror as it was before this run added to it)")
		step(r.transferCommand(t, env, rcloneFinal, nil))
		note("only when the mirror guard let it: delete what the source no longer holds")
	} else {
		step(r.transferCommand(t, env, rcloneFinal, nil))
	}
	return append(steps, r.verifySteps(t, env)...)
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
func (Driver) Init(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	if dst := t.Settings.Str("destination"); !rcloneIsRemote(dst) {
		return os.MkdirAll(dst, 0o700)
	}
	return nil
}

// Backup syncs (or copies) the source to the destination, in passes that
// cost one walk of each side when nothing is to be deleted, and refuses
// a sync that would empty or gut the mirror before anything the mirror
// holds is replaced or deleted:
//
//  1. rcloneAddOnly adds the new files and stops short of any deletion.
//     Nothing else to do (the everyday run): done.
//  2. Files changed in place, which it refused to replace: rcloneNoDelete
//     replaces them, still deleting nothing.
//  3. Deletions held back: the mirror guard lists both sides (guard) and
//     refuses, or lets rcloneFinal delete (max_delete still applies).
//
// The guard judges the mirror as it was before this run: the files the
// passes added are taken off its count, so that a wrong disk's files,
// added first, cannot make the real library's deletion look small. A
// source that held no file refuses as the guard always did (nothing was
// held back: the mirror held none either). The files copied by every
// pass are what the run sent.
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
	var record *rcloneUnchangedRecord
	if rcloneRecordsUnchanged(t) {
		if record, err = newRcloneUnchangedRecord(t); err != nil {
			return drivers.Artifact{}, fmt.Errorf("the record of the files found unchanged: %w", err)
		}
	}
	log := newRcloneTransferLog(t.Progress, record)
	res, err := r.transfer(ctx, x, t, env, log)
	if err != nil {
		record.abandon()
		return drivers.Artifact{}, err
	}
	record.finish()
	// The size of the mirror is not known without listing it again (the
	// sync's stats count what it transferred): Snapshots lists it.
	a := drivers.Artifact{ID: t.Settings.Str("destination"), Bytes: -1, Written: log.copied}
	if res.Class == proc.ClassWarning {
		a.Warnings = append(a.Warnings, fmt.Sprintf("rclone exited %d: %s", res.ExitCode, proc.LastLines(res.Stderr, 5)))
	}
	return a, nil
}

// transfer runs the passes of Backup; the result is the last pass's.
func (r Driver) transfer(ctx context.Context, x proc.Executor, t *drivers.Target, env []proc.EnvVar, log *rcloneTransferLog) (proc.Result, error) {
	run := func(pass rclonePass) (proc.Result, error) {
		log.startPass()
		return x.Run(ctx, r.transferCommand(t, env, pass, log))
	}
	if rcloneMode(t) != "sync" {
		return run(rcloneFinal)
	}
	// held: rclone stopped at the first deletion, and for nothing else
	// it could not get past (exit 7 is its fatal error).
	held := func(res proc.Result) bool { return log.held && res.ExitCode == 7 }
	res, err := run(rcloneAddOnly)
	if ctx.Err() != nil {
		return res, err
	}
	if res.ExitCode != 0 && !held(res) {
		// Files it refused to replace, or an error it may get past
		// on a try of its own: a sync that deletes nothing yet.
		if res, err = run(rcloneNoDelete); ctx.Err() != nil {
			return res, err
		}
	}
	if held(res) {
		if err := r.guard(ctx, x, t, env, log.added); err != nil {
			return res, err
		}
		return run(rcloneFinal)
	}
	if err != nil {
		return res, err
	}
	if log.files == 0 {
		return res, r.guard(ctx, x, t, env, log.added)
	}
	return res, nil
}

// guardCommand compares the source with the destination by listing them
// (--size-only: no file is read or hashed), with the target's excludes, so
// it sees what sync sees: regular files, no symlinks, no empty
// directories. It prints a line per file: "= " the same on both sides,
// "* " on both sides but different, "+ " only in the source, "- " only in
// the destination (what a sync deletes), "! " unreadable. rclone exits 1
// when the two differ, the usual state before a sync. The lines are
// counted as they come (a line per file: 100,000 files are megabytes).
func (r Driver) guardCommand(t *drivers.Target, env []proc.EnvVar, counts *proc.Lines) proc.Command {
	flags := append([]string{"--size-only", "--combined=-"}, rcloneExcludes(t)...)
	c := r.cmd(t, env, "check", flags, t.Settings.Str("source"), t.Settings.Str("destination"))
	c.Codes = proc.ExitCodes{OK: []int{1}}
	if counts != nil {
		c.Stdout = counts
	}
	return c
}

// combinedCounter counts the lines of a --combined report (proc.Lines
// hands them over as they come); bad is how many files could not be
// read, err the first line it could not read.
type combinedCounter struct {
	guard.MirrorCounts
	bad int64
	err error
}

func (c *combinedCounter) line(b []byte) {
	if len(b) == 0 || c.err != nil {
		return
	}
	kind, _, err := rcloneCombinedLine(string(b))
	if err != nil {
		c.err = err
		return
	}
	switch kind {
	case '=', '*':
		c.Source++
		c.Mirror++
	case '+':
		c.Source++
	case '-':
		c.Mirror++
		c.Deletes++
	case '!':
		c.bad++
	}
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

// guard refuses a sync that would empty the mirror or delete most of it,
// before rclone deletes, from what rclone itself lists on both sides. It
// refuses too when it cannot tell. added is how many files this run
// already added to the mirror (new, never replacing one): they are not
// counted as the mirror's, so that it is judged as it was before the run.
func (r Driver) guard(ctx context.Context, x proc.Executor, t *drivers.Target, env []proc.EnvVar, added int64) error {
	src := t.Settings.Str("source")
	if fi, err := os.Stat(src); err == nil && !fi.IsDir() {
		return nil // one local file: rclone syncs that file alone
	}
	var c combinedCounter
	lines := &proc.Lines{Fn: c.line}
	res, err := x.Run(ctx, r.guardCommand(t, env, lines))
	lines.Close()
	cannot := func(format string, args ...any) error {
		return drivers.KeyErr("source", "cannot compare %s with the mirror %s, refusing to sync: %s", src, t.Settings.Str("destination"), fmt.Sprintf(format, args...))
	}
	switch {
	case err != nil:
		return cannot("%v", err)
	case res.ExitCode == 1 && !strings.Contains(string(res.Stderr), "differences found"):
		return cannot("rclone check exited 1: %s", proc.LastLines(res.Stderr, 3))
	case c.err != nil:
		return cannot("%v", c.err)
	case c.bad > 0:
		return cannot("%s could not be read", guard.CountFiles(c.bad))
	}
	c.Mirror = max(c.Mirror-added, c.Deletes)
	return guard.RefuseMassDelete(t, "source", c.MirrorCounts)
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
// and as its time the newest file's modification time (rclone keeps the
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
	s := drivers.Snapshot{ID: t.Settings.Str("destination")}
	for _, e := range entries {
		s.Bytes += e.Size
		if e.ModTime.After(s.Time) {
			s.Time = e.ModTime
		}
	}
	s.Info = fmt.Sprintf("%s of %s (no history): %d files; the time is the newest file's modification time", rcloneMode(t), t.Settings.Str("source"), len(entries))
	return []drivers.Snapshot{s}, nil
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
		{Path: s.Str("source"), Why: "source of " + t.Name},
		{Path: s.Str("destination"), Write: true, Why: "destination of " + t.Name},
	}
	return r
}

func (Driver) PlainRestore(t *drivers.Target) []drivers.Step {
	c := Driver{}.cmd(t, rcloneStepsEnv(t), "copy", nil, t.Settings.Str("destination"), t.Settings.Str("source"))
	return []drivers.Step{drivers.RestoreCmd(c)}
}
