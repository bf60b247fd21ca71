// Package command is the command driver: a backup made by a program of
// the operator's own (the application's `librarian backup FILE`, tar, ...),
// kept as stamped files in a directory, verified and restored by the
// operator's own commands.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/stamped"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Driver backs up with a program of the operator's own: the application's
// `librarian backup FILE`, tar, sqlite3 .backup... It runs an argv (never a
// shell) that writes one file, kept in dir like pg_dump's dumps: written
// under a temporary name (mode 0600), renamed into place only after the
// command succeeded, wrote something, and verify_command passed. Exit
// codes, timeout, retries, dry-run and reporting are the shared code's.
type Driver struct{}

// The words replaced in the plan's argv lists: by the new backup file in
// command and verify_command, by the file to restore in restore_command.
// Either may be a whole argument or part of one (--file={output}), and
// appears at most once in a command.
const (
	cmdOutputWord = "{output}"
	cmdInputWord  = "{input}"
)

// cmdDefaultExtension is extension's default.
const cmdDefaultExtension = "backup"

func (Driver) Name() string { return "command" }

func (Driver) Options() []drivers.Option {
	return []drivers.Option{
		{Name: "command", Kind: drivers.StringList, Required: true,
			Help: "The program and its arguments (an argv list, never a shell) that writes one backup, such as [\"librarian\", \"backup\", \"{output}\"]. {output} (a whole argument or part of one, such as --file={output}) becomes a new file in dir, created empty with mode 0600, for the command to write; without {output}, the command's standard output is the backup. The file is kept only when the command exits 0 (or as exit_codes say), wrote something, and verify_command passed."},
		{Name: "dir", Kind: drivers.String, Required: true,
			Help: "Absolute directory the backup files are kept in, named TARGET-YYYYMMDDTHHMMSSZ.EXTENSION."},
		{Name: "extension", Kind: drivers.String, Default: cmdDefaultExtension, Check: cmdCheckExtension,
			Help: "The backup files' extension, such as \"tar.gz\" or \"sqlite3\": letters, digits, \".\", \"_\" and \"-\"."},
		{Name: "verify_command", Kind: drivers.StringList,
			Help: "A command that checks a backup file and exits 0 when it is good, such as [\"gzip\", \"-t\", \"{output}\"]: {output} is the file (without it, the file is the command's standard input). It checks every new file before it is kept, and the latest on verify and before a restore. Without it, verification only reads the file back whole."},
		{Name: "restore_command", Kind: drivers.StringList,
			Help: "A command that brings a backup back, such as [\"librarian\", \"restore\", \"{input}\"]: {input} is the file (without it, the file is the command's standard input). `restore TARGET --yes` runs it on the latest file, or the one --from names; without it, restore refuses."},
		{Name: "keep_last", Kind: drivers.Int, Min: 1, Max: 100000, Help: "Keep this many newest backup files in dir."},
		{Name: "keep_days", Kind: drivers.Int, Min: 1, Max: 100000, Help: "Keep backup files younger than this many days. The newest file is always kept."},
	}
}

var cmdExtensionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$`)

// cmdCheckExtension keeps the extension a part of a file name in dir: no
// "/", no "..", nothing a glob or a shell would read.
func cmdCheckExtension(v any) error {
	if s := v.(string); len(s) > 32 || !cmdExtensionRE.MatchString(s) {
		return errors.New(`must be letters, digits, "_" and "-", in parts joined by single dots (such as "tar.gz"), at most 32 characters`)
	}
	return nil
}

func (Driver) Validate(t *drivers.Target) error {
	v := t.Settings
	for _, c := range []struct {
		key           string
		word, foreign string
	}{
		{"command", cmdOutputWord, cmdInputWord},
		{"verify_command", cmdOutputWord, cmdInputWord},
		{"restore_command", cmdInputWord, cmdOutputWord},
	} {
		if !v.Has(c.key) && c.key != "command" {
			continue
		}
		if err := cmdCheckArgv(c.key, v.List(c.key), c.word, c.foreign); err != nil {
			return err
		}
	}
	if dir := v.Str("dir"); !filepath.IsAbs(dir) {
		return drivers.KeyErr("dir", "must be an absolute path")
	}
	if t.Drill {
		return drivers.KeyErr("drill", "a command target cannot be drilled: its restore_command restores where it restores, not into scratch space; test it by hand")
	}
	return nil
}

// cmdCheckArgv refuses an argv list that names no program, whose program
// could be read as an option or depends on the directory the run starts
// in, or that uses its placeholder more than once or another's at all.
func cmdCheckArgv(key string, argv []string, word, foreign string) error {
	if len(argv) > 0 && strings.Contains(argv[0], "{") {
		return drivers.KeyErr(key, "the program (the first word) must be a program, not %s", word)
	}
	if err := drivers.CheckArgv(key, argv); err != nil {
		return err
	}
	n := 0
	for _, a := range argv {
		n += strings.Count(a, word)
		if strings.Contains(a, foreign) {
			return drivers.KeyErr(key, "%s is not replaced here (only %s is)", foreign, word)
		}
	}
	if n > 1 {
		return drivers.KeyErr(key, "%s may appear only once", word)
	}
	return nil
}

func commandExt(t *drivers.Target) string {
	if e := t.Settings.Str("extension"); e != "" {
		return e
	}
	return cmdDefaultExtension
}

// commandName matches the names of the backup files this driver makes
// with extension ext.
func commandName(ext string) *regexp.Regexp {
	return regexp.MustCompile(`^(.+)-(\d{8}T\d{6}Z)(?:-(\d+))?\.` + regexp.QuoteMeta(ext) + `$`)
}

// cmdUses reports whether word appears in argv.
func cmdUses(argv []string, word string) bool {
	for _, a := range argv {
		if strings.Contains(a, word) {
			return true
		}
	}
	return false
}

// cmdArgv is the plan's argv list under key, with word replaced by
// path, as a Command with the target's env. When word is not in it,
// the caller connects path to the command's standard input or output.
func cmdArgv(t *drivers.Target, key, word, path string) proc.Command {
	argv := t.Settings.List(key)
	args := make([]string, len(argv)-1)
	for i, a := range argv[1:] {
		args[i] = strings.ReplaceAll(a, word, path)
	}
	return proc.Command{Program: argv[0], Args: args, Env: t.EnvVars()}
}

// cmdBackupCommand is the backup command writing to path; the plan's
// exit_codes apply to it.
func cmdBackupCommand(t *drivers.Target, path string) proc.Command {
	c := cmdArgv(t, "command", cmdOutputWord, path)
	c.Codes = proc.ExitCodes{}.Override(t.ExitCodes)
	return c
}

func (Driver) Steps(t *drivers.Target) []drivers.Step {
	dir := t.Settings.Str("dir")
	final := stamped.Path(dir, t.Name, commandExt(t), drivers.Now())
	tmp := stamped.PartialPath(final)
	backup := cmdBackupCommand(t, tmp)
	steps := []drivers.Step{
		{Phase: drivers.PhaseBackup, Note: "create " + tmp + " (mode 0600, empty)"},
		{Phase: drivers.PhaseBackup, Command: &backup},
	}
	if !cmdUses(t.Settings.List("command"), cmdOutputWord) {
		steps = append(steps, drivers.Step{Phase: drivers.PhaseBackup, Note: "the command's standard output goes into " + tmp})
	}
	steps = append(steps, drivers.Step{Phase: drivers.PhaseBackup, Note: "refuse an empty " + tmp})
	if t.Settings.Has("verify_command") {
		steps = append(steps, cmdCheckSteps(t, drivers.PhaseBackup, tmp)...)
	}
	after := "the command succeeded and wrote something"
	if t.Settings.Has("verify_command") {
		after = "the command succeeded, wrote something, and verify_command passed"
	}
	steps = append(steps, drivers.Step{Phase: drivers.PhaseBackup, Note: "rename " + tmp + " to " + final + " (only after " + after + ")"})
	if !t.Settings.Has("verify_command") {
		steps = append(steps, cmdCheckSteps(t, drivers.PhaseVerify, final)...)
	}
	if note := commandRetentionNote(t); note != "" {
		steps = append(steps, drivers.Step{Phase: drivers.PhasePrune, Note: note})
	}
	return steps
}

// cmdCheckSteps are how a backup file is checked: verify_command, or a read.
func cmdCheckSteps(t *drivers.Target, phase drivers.Phase, path string) []drivers.Step {
	if !t.Settings.Has("verify_command") {
		return []drivers.Step{{Phase: phase, Note: "read " + path + " back whole (no verify_command)"}}
	}
	c := cmdArgv(t, "verify_command", cmdOutputWord, path)
	steps := []drivers.Step{{Phase: phase, Command: &c}}
	if !cmdUses(t.Settings.List("verify_command"), cmdOutputWord) {
		steps = append(steps, drivers.Step{Phase: phase, Note: "with " + path + " as its standard input"})
	}
	return steps
}

func commandRetentionNote(t *drivers.Target) string {
	rules := stamped.KeepRules(t)
	if rules == "" {
		return ""
	}
	return fmt.Sprintf("remove %s/%s-*.%s files except %s (the newest is always kept)", t.Settings.Str("dir"), t.Name, commandExt(t), rules)
}

func (d Driver) Init(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	_, err := d.InitReport(ctx, x, t)
	return err
}

// InitReport creates the directory of the backup files, or finds it.
func (Driver) InitReport(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.InitResult, error) {
	return drivers.MkdirInit(t.Settings.Str("dir"))
}

// CheckTools finds every program the target's commands name.
func (Driver) CheckTools(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	for _, key := range []string{"command", "verify_command", "restore_command"} {
		if argv := t.Settings.List(key); len(argv) > 0 {
			if err := cmdFindProgram(argv[0]); err != nil {
				return drivers.KeyErr(key, "%v", err)
			}
		}
	}
	return nil
}

// cmdFindProgram looks prog up as exec would: an absolute path as is, a name
// in PATH. (Only internal/proc imports os/exec.)
func cmdFindProgram(prog string) error {
	executable := func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
	}
	if filepath.IsAbs(prog) {
		if !executable(prog) {
			return fmt.Errorf("%s is not an executable file", prog)
		}
		return nil
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir != "" && executable(filepath.Join(dir, prog)) {
			return nil
		}
	}
	return fmt.Errorf("program %q not found in PATH", prog)
}

// Backup runs the command into a temporary file and renames it into place
// only when the command succeeded, wrote something, and verify_command
// passed. Anything else removes the temporary file: a partial backup is
// never kept.
func (c Driver) Backup(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.Artifact, error) {
	dir := t.Settings.Str("dir")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return drivers.Artifact{}, err
	}
	sweepCommandPartials(t)
	final, err := stamped.FreePath(dir, t.Name, commandExt(t))
	if err != nil {
		return drivers.Artifact{}, err
	}
	tmp := stamped.PartialPath(final)
	promoted := false
	defer func() {
		if !promoted {
			os.RemoveAll(tmp)
		}
	}()
	// Created here, 0600: the command would create it 0644 under the
	// usual umask.
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return drivers.Artifact{}, err
	}
	defer f.Close()
	cmd := cmdBackupCommand(t, tmp)
	if !cmdUses(t.Settings.List("command"), cmdOutputWord) {
		cmd.Stdout = f
	}
	stopWatching := stamped.WatchGrowth(ctx, tmp)
	res, err := x.Run(ctx, cmd)
	stopWatching()
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return drivers.Artifact{}, err
	}
	var warnings []string
	if res.Class == proc.ClassWarning {
		// With what it said: the operator reads the why in the report or
		// cron's mail, not in a log they must go and find.
		w := fmt.Sprintf("%s exited %d, which exit_codes calls a warning", cmd.Program, res.ExitCode)
		if said := proc.LastLines(res.Stderr, 5); said != "" {
			w += ": " + said
		}
		warnings = append(warnings, w)
	}
	// The command may have replaced the file (written another and renamed
	// it over ours): what is kept must be one private regular file.
	fi, err := os.Lstat(tmp)
	switch {
	case err != nil:
		return drivers.Artifact{}, fmt.Errorf("%s left no backup file at %s: %w", cmd.Program, tmp, err)
	case !fi.Mode().IsRegular():
		return drivers.Artifact{}, fmt.Errorf("what %s left at %s is not a regular file: not kept", cmd.Program, tmp)
	case fi.Size() == 0:
		return drivers.Artifact{}, fmt.Errorf("%s succeeded but wrote nothing: an empty backup is not kept", cmd.Program)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return drivers.Artifact{}, err
	}
	verified := false
	if t.Settings.Has("verify_command") {
		if err := c.check(ctx, x, t, tmp); err != nil {
			return drivers.Artifact{}, fmt.Errorf("verify_command refused the new backup, which was not kept: %w", err)
		}
		verified = true
	}
	if err := os.Rename(tmp, final); err != nil {
		return drivers.Artifact{}, err
	}
	promoted = true
	stamped.SyncDir(dir)
	return drivers.Artifact{ID: final, Bytes: fi.Size(), Verified: verified, Warnings: warnings}, nil
}

// sweepCommandPartials removes what a backup of t killed outright (SIGKILL,
// power loss) left in dir: its own temporary files, by their exact names.
// Backups of a target never overlap (the run lock), so none is running.
func sweepCommandPartials(t *drivers.Target) {
	dir := t.Settings.Str("dir")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if (Driver{}).IsPartial(t, e.Name()) {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// IsPartial: see drivers.PartialBackups. Only the target's own temporary
// names, never another target's in the same dir.
func (Driver) IsPartial(t *drivers.Target, name string) bool {
	re := regexp.MustCompile(`^\.` + regexp.QuoteMeta(t.Name) + `-\d{8}T\d{6}Z(-\d+)?\.` + regexp.QuoteMeta(commandExt(t)) + `\.partial$`)
	return re.MatchString(name)
}

// check checks one backup file: verify_command, or a whole read that
// must find a byte.
func (Driver) check(ctx context.Context, x proc.Executor, t *drivers.Target, path string) error {
	if !t.Settings.Has("verify_command") {
		return cmdReadBack(path)
	}
	c := cmdArgv(t, "verify_command", cmdOutputWord, path)
	if !cmdUses(t.Settings.List("verify_command"), cmdOutputWord) {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		c.Stdin = f
	}
	_, err := x.Run(ctx, c)
	return err
}

// cmdReadBack reads a file whole: an unreadable block shows as an error, and
// so does an empty file.
func cmdReadBack(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(io.Discard, f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if n == 0 {
		return fmt.Errorf("%s is empty", path)
	}
	return nil
}

func (c Driver) list(t *drivers.Target) ([]stamped.File, error) {
	return stamped.List(t.Settings.Str("dir"), t.Name, commandName(commandExt(t)), false)
}

// Verify checks a backup file, the given one or the newest.
func (c Driver) Verify(ctx context.Context, x proc.Executor, t *drivers.Target, a drivers.Artifact) error {
	path := a.ID
	if path == "" {
		files, err := c.list(t)
		if err != nil {
			return err
		}
		if len(files) == 0 {
			return fmt.Errorf("no backups of target %s in %s to verify", t.Name, t.Settings.Str("dir"))
		}
		path = files[0].Path
	}
	return c.check(ctx, x, t, path)
}

// Prune keeps the newest keep_last files and those younger than keep_days,
// and always the newest one. It looks only at the names this driver makes
// for this target.
func (c Driver) Prune(ctx context.Context, x proc.Executor, t *drivers.Target, dryRun bool) (drivers.PruneResult, error) {
	files, err := c.list(t)
	if err != nil {
		return drivers.PruneResult{}, err
	}
	return stamped.Prune(t, files, dryRun, os.Remove)
}

func (c Driver) Snapshots(ctx context.Context, x proc.Executor, t *drivers.Target) ([]drivers.Snapshot, error) {
	files, err := c.list(t)
	if err != nil {
		return nil, err
	}
	out := make([]drivers.Snapshot, 0, len(files))
	for _, f := range files {
		out = append(out, drivers.Snapshot{ID: f.Path, Time: f.Stamp, Bytes: stamped.DiskSize(f.Path)})
	}
	return out, nil
}

func (Driver) Facts() drivers.Facts {
	// No programs of its own: they are the plan's, which CheckTools finds
	// per target.
	return drivers.Facts{Role: drivers.RoleCommand}
}

func (Driver) Resources(t *drivers.Target) drivers.Resources {
	return drivers.Resources{Paths: []drivers.Path{{Path: t.Settings.Str("dir"), Write: true, Dumps: true, Why: "backup files of " + t.Name}}}
}
