// Package pgdump is the pg_dump driver: dumps of a PostgreSQL database
// into stamped files with a manifest of exact row counts, or streamed into
// a restic or borg repository (`into`, through that driver's DumpSink);
// their verification, restore into a live or scratch database, and drills.
package pgdump

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/stamped"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/jackc/pgx/v5"
)

// Driver backs a PostgreSQL database up with pg_dump into dated files in a
// directory. A dump is written under a temporary name (mode 0600), read back
// whole, and only then renamed into place.
type Driver struct{}

var _ drivers.Preflighter = Driver{}

// pgDefaultFormat is format's default.
const pgDefaultFormat = "custom"

func (Driver) Name() string { return "pg_dump" }

func (Driver) Options() []drivers.Option {
	return []drivers.Option{
		{Name: "database", Kind: drivers.String, Required: true, Check: checkNoPassword,
			Help: "The database: a postgres:// URL, a libpq key=value string or a database name. A password here is rejected."},
		{Name: "password_file", Kind: drivers.String,
			Help: "A file holding only the database password (mode 0600). Otherwise libpq's PGPASSFILE, ~/.pgpass or PG* environment is used."},
		{Name: "exec_prefix", Kind: drivers.StringList, Check: checkExecPrefix,
			Help: "Run pg_dump, pg_restore and psql (and their --version) behind this argv, such as [\"docker\", \"compose\", \"-f\", \"/srv/alexandria/compose.yaml\", \"exec\", \"-T\", \"db\"]: inside the database's container. The dump streams through standard output and a restore through standard input, so format = \"directory\" and password_file are refused; the container supplies the tools' credentials. The driver's own connection (pgx) still goes from this host to `database`."},
		{Name: "dir", Kind: drivers.String, Help: "Directory the dump files are kept in (or set into)."},
		{Name: "into", Kind: drivers.String, Help: "Instead of dir: stream the dump (custom format) straight into this restic or borg target's repository, with no temporary file, its manifest beside it. keep_last and keep_days then apply to the dumps there."},
		{Name: "format", Kind: drivers.String, Default: pgDefaultFormat, Enum: []string{"custom", "sql", "directory", "tar"},
			Help: "pg_dump output format: custom, sql (plain SQL), directory or tar."},
		{Name: "compress", Kind: drivers.Int, Min: 0, Max: 9, Default: "pg_dump's default; 0 with into",
			Help: "Compression level 0-9 (custom, directory, sql; not tar). A dump streamed into restic or borg is uncompressed by default: they compress and deduplicate it themselves, much faster."},
		{Name: "jobs", Kind: drivers.Int, Min: 1, Max: 64, Default: "1", Help: "Parallel dump jobs (directory format only)."},
		{Name: "keep_last", Kind: drivers.Int, Min: 1, Max: 100000, Help: "Keep this many newest dumps in dir."},
		{Name: "keep_days", Kind: drivers.Int, Min: 1, Max: 100000, Help: "Keep dumps younger than this many days. The newest dump is always kept."},
		{Name: drillCheckKey, Kind: drivers.StringList,
			Help: "The application's own check of a drill's restore, an argv list (never a shell) such as [\"uv\", \"run\", \"librarian\", \"check\"]: after the row counts matched, it runs against the scratch database (PGDATABASE, ALEXANDRIA_DB_NAME, ALEXANDRIA_BACKUP_DRILL_DSN; PGHOST, PGPORT, PGUSER and the password as pg_restore gets it), which is dropped afterwards. A non-zero exit fails the drill."},
	}
}

func checkNoPassword(v any) error {
	s := v.(string)
	if strings.TrimSpace(s) == "" {
		return errors.New("must not be empty")
	}
	if isURL(s) {
		u, err := url.Parse(s)
		if err != nil {
			return errors.New("is not a valid postgres:// URL")
		}
		if drivers.HasPassword(s, false) || u.Query().Has("password") || u.Query().Has("sslpassword") {
			return drivers.PasswordErr(pgPasswordAdvice)
		}
		return nil
	}
	if passwordKey.MatchString(s) {
		return drivers.PasswordErr(pgPasswordAdvice)
	}
	return nil
}

const pgPasswordAdvice = "put it in password_file (mode 0600), PGPASSFILE or ~/.pgpass instead"

var passwordKey = regexp.MustCompile(`(^|\s)(password|sslpassword)\s*=`)

func isURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

func (Driver) Validate(t *drivers.Target) error {
	if t.Settings.Has(drillCheckKey) {
		if err := drivers.CheckArgv(drillCheckKey, t.Settings.List(drillCheckKey)); err != nil {
			return err
		}
	}
	format := pgFormat(t)
	if t.Settings.Has("jobs") && format != "directory" {
		return drivers.KeyErr("jobs", "only works with format = \"directory\" (pg_dump can only dump in parallel into a directory)")
	}
	if t.Settings.Has("compress") && format == "tar" {
		return drivers.KeyErr("compress", "the tar format cannot be compressed by pg_dump; use format = \"custom\"")
	}
	// A pg_dump that exited non-zero left a partial dump at best; calling
	// that exit ok or a warning would keep it as a backup. Calling a
	// clean exit a warning or an error is the operator's choice.
	for _, code := range append(append([]int{}, t.ExitCodes.OK...), t.ExitCodes.Warning...) {
		if code != 0 {
			return drivers.KeyErr("exit_codes", "pg_dump exit %d cannot be called ok or a warning: a dump whose pg_dump failed is never kept (only 0 may be reclassified, as a warning or an error)", code)
		}
	}
	if err := validateExecPrefix(t); err != nil {
		return err
	}
	switch set := drivers.FirstSet(t.Settings, "dir", "into"); {
	case len(set) != 1:
		return drivers.KeyErr("dir", "set exactly one of `dir` (dump files) or `into` (stream into a restic or borg target)")
	case set[0] == "dir" && !filepath.IsAbs(t.Settings.Str("dir")):
		return drivers.KeyErr("dir", "must be an absolute path")
	case set[0] == "into" && format != "custom":
		return drivers.KeyErr("format", "a dump streamed with `into` is always in the custom format (pg_restore reads it from a pipe), not %q", format)
	}
	return nil
}

func pgFormat(t *drivers.Target) string {
	if f := t.Settings.Str("format"); f != "" {
		return f
	}
	return pgDefaultFormat
}

// pgExt is the file extension each format's dumps get.
func pgExt(t *drivers.Target) string {
	switch pgFormat(t) {
	case "sql":
		if t.Settings.Int("compress", 0) > 0 {
			return "sql.gz"
		}
		return "sql"
	case "directory":
		return "dir"
	case "tar":
		return "tar"
	}
	return "dump"
}

// dumpCommand is the pg_dump invocation writing to path; behind an
// exec_prefix it writes to standard output instead, which the caller puts
// into path (the container cannot see the host's files). The database is
// passed as one --dbname=VALUE word, so no value can become an option.
// snapshot, when set, is an exported snapshot (see openDumpSnapshot) pg_dump
// dumps instead of taking its own, so the manifest's row counts describe
// exactly this dump.
func dumpCommand(t *drivers.Target, path, snapshot string, env []proc.EnvVar) proc.Command {
	args := []string{"--format=" + map[string]string{"custom": "custom", "sql": "plain", "directory": "directory", "tar": "tar"}[pgFormat(t)]}
	if t.Settings.Has("compress") {
		args = append(args, "--compress="+strconv.Itoa(t.Settings.Int("compress", 0)))
	}
	// Unset, no --jobs: pg_dump's one job is jobs' default.
	if n, ok := t.Settings["jobs"].(int); ok {
		args = append(args, "--jobs="+strconv.Itoa(n))
	}
	args = append(args, "--no-password")
	if len(execPrefix(t)) == 0 {
		args = append(args, "--file="+path)
	}
	if snapshot != "" {
		args = append(args, "--snapshot="+snapshot)
	}
	args = append(args, "--dbname="+t.Settings.Str("database"))
	// SIGTERM: pg_dump (its --jobs workers too) just dies, and the driver
	// never keeps what it wrote. Behind a prefix, its program gets the
	// signal (docker exec does not pass it on); what pg_dump wrote is not
	// kept either way.
	return pgTool(t, proc.Command{Program: "pg_dump", Args: args, Env: env, Codes: proc.ExitCodes{}.Override(t.ExitCodes), Stop: syscall.SIGTERM})
}

// readCommand reads a whole custom, tar or directory archive, decompressing
// every data block. (`pg_restore --list` only reads the table of contents
// and passes a truncated file.) Never behind an exec_prefix: there, every
// archive is read from standard input (stdinReadCommand).
func readCommand(format, path string, env []proc.EnvVar) proc.Command {
	return proc.Command{Program: "pg_restore", Args: []string{"--format=" + format, "--file=/dev/null", path}, Env: env}
}

// stdinReadCommand is readCommand for an archive on standard input, behind
// the target's exec_prefix if any (/dev/null is the container's own).
func stdinReadCommand(t *drivers.Target, format string, env []proc.EnvVar) proc.Command {
	return pgTool(t, proc.Command{Program: "pg_restore", Args: []string{"--format=" + format, "--file=/dev/null"}, Env: env})
}

func (d Driver) Steps(t *drivers.Target) []drivers.Step {
	if t.Into != nil {
		return d.streamSteps(t)
	}
	final := d.newDumpPath(t, drivers.Now())
	tmp := stamped.PartialPath(final)
	var env []proc.EnvVar
	if t.Settings.Has("password_file") {
		env = append(env, proc.EnvVar{Name: "PGPASSFILE", Value: "<private pgpass made from " + t.Settings.Str("password_file") + ">"})
	}
	dump := dumpCommand(t, tmp, "<exported snapshot>", append(env, t.EnvVars()...))
	steps := append(preflightSteps(t),
		drivers.Step{Phase: drivers.PhaseBackup, Note: "with pgx: open a REPEATABLE READ, READ ONLY transaction and export its snapshot (pg_export_snapshot)"},
		drivers.Step{Phase: drivers.PhaseBackup, Command: &dump})
	if len(execPrefix(t)) > 0 {
		steps = append(steps, drivers.Step{Phase: drivers.PhaseBackup, Note: "| its standard output into " + tmp + ", created 0600 here (the container cannot see the host's files)"})
	}
	steps = append(steps, drivers.Step{Phase: drivers.PhaseBackup, Note: "count every table's rows exactly in the same snapshot, then end the transaction"})
	switch format := pgFormat(t); {
	case format == "sql":
		steps = append(steps, drivers.Step{Phase: drivers.PhaseBackup, Note: "read " + tmp + " whole once: check pg_dump's completion trailer and take its SHA-256"})
	case readsFromStdin(t, format):
		read := stdinReadCommand(t, format, t.EnvVars())
		note := "read " + tmp + " whole once, through a SHA-256, into:"
		if format == "tar" {
			note = "read the tar structure of " + tmp + " to its end, then " + note
		}
		steps = append(steps, drivers.Step{Phase: drivers.PhaseBackup, Note: note},
			drivers.Step{Phase: drivers.PhaseBackup, Command: &read})
	default:
		read := readCommand(pgFormat(t), tmp, t.EnvVars())
		steps = append(steps, drivers.Step{Phase: drivers.PhaseBackup, Command: &read},
			drivers.Step{Phase: drivers.PhaseBackup, Note: "SHA-256 of " + tmp})
	}
	steps = append(steps,
		drivers.Step{Phase: drivers.PhaseBackup, Note: "rename " + tmp + " to " + final + " (only after both succeeded)"},
		drivers.Step{Phase: drivers.PhaseBackup, Note: "write " + manifestPath(final) + " (0600, atomically): row counts, versions, bytes, SHA-256"})
	if note := retentionNote(t); note != "" {
		steps = append(steps, drivers.Step{Phase: drivers.PhasePrune, Note: note})
	}
	return steps
}

// preflightSteps is the preflight, for --dry-run: behind an exec_prefix,
// the version probe shows where pg_dump runs.
func preflightSteps(t *drivers.Target) []drivers.Step {
	steps := []drivers.Step{{Phase: drivers.PhasePreflight, Note: "connect with pgx; refuse when pg_dump's major version is older than the server's"}}
	if len(execPrefix(t)) > 0 {
		version := pgTool(t, proc.Command{Program: "pg_dump", Args: []string{"--version"}})
		steps = append(steps, drivers.Step{Phase: drivers.PhasePreflight, Command: &version})
	}
	return steps
}

func retentionNote(t *drivers.Target) string {
	rules := stamped.KeepRules(t)
	if rules == "" {
		return ""
	}
	return fmt.Sprintf("remove %s/%s-* dumps (each with its manifest) except %s (the newest is always kept)", t.Settings.Str("dir"), t.Name, rules)
}

func (Driver) newDumpPath(t *drivers.Target, now time.Time) string {
	return stamped.Path(t.Settings.Str("dir"), t.Name, pgExt(t), now)
}

// IsPartialDump reports whether name, in a dump directory, is the
// temporary name (PartialPath) of a dump of target: what a killed run
// leaves behind, and never anyone's backup. The name is read as list reads
// finished dumps, so "db" does not claim the partial dumps of "db-old".
func IsPartialDump(target, name string) bool {
	inner, ok := strings.CutPrefix(name, ".")
	if !ok {
		return false
	}
	if inner, ok = strings.CutSuffix(inner, ".partial"); !ok {
		return false
	}
	m := dumpName.FindStringSubmatch(inner)
	return m != nil && m[1] == target
}

// IsPartial: see drivers.PartialBackups.
func (Driver) IsPartial(t *drivers.Target, name string) bool { return IsPartialDump(t.Name, name) }

func (d Driver) Init(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	_, err := d.InitReport(ctx, x, t)
	return err
}

// InitReport creates the dump directory, or finds it.
func (Driver) InitReport(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.InitResult, error) {
	if t.Into != nil {
		// The repository is the restic or borg target's to create.
		return drivers.InitResult{Nothing: true}, nil
	}
	return drivers.MkdirInit(t.Settings.Str("dir"))
}

// CheckTools asks pg_dump and pg_restore their versions, behind t's
// exec_prefix when it has one: where the tools run.
func (Driver) CheckTools(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	if _, err := pgToolMajor(ctx, x, t, "pg_dump"); err != nil {
		return err
	}
	_, err := pgToolMajor(ctx, x, t, "pg_restore")
	return err
}

// pgToolMajor runs `prog --version` ("pg_dump (PostgreSQL) 15.18 (Debian ...)")
// and returns the major version.
func pgToolMajor(ctx context.Context, x proc.Executor, t *drivers.Target, prog string) (int, error) {
	line, err := pgToolVersion(ctx, x, t, prog)
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`\(PostgreSQL\) (\d+)`).FindStringSubmatch(line)
	if m == nil {
		return 0, fmt.Errorf("%s --version: cannot read a version from %q", prog, line)
	}
	return strconv.Atoi(m[1])
}

// pgToolVersion returns the first line of `prog --version`, asked once
// per run and exec_prefix (the preflight and the dump's manifest both need
// it).
func pgToolVersion(ctx context.Context, x proc.Executor, t *drivers.Target, prog string) (string, error) {
	c := pgTool(t, proc.Command{Program: prog, Args: []string{"--version"}})
	res, err := proc.Remember(ctx, c.String(), func() (proc.Result, error) { return x.Run(ctx, c) })
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(res.Stdout)), "\n")
	return line, nil
}

// Preflight connects to the database and refuses to go on when pg_dump is
// older than the server (pg_dump refuses such servers, and the failure
// otherwise only shows at 2 AM).
func (Driver) Preflight(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	clientMajor, err := pgToolMajor(ctx, x, t, "pg_dump")
	if err != nil {
		return err
	}
	conn, err := connect(ctx, t)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var num int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&num); err != nil {
		return fmt.Errorf("reading the server version: %w", err)
	}
	if serverMajor := num / 10000; clientMajor < serverMajor {
		return fmt.Errorf("pg_dump %d is older than the PostgreSQL %d server and cannot dump it; install postgresql-client-%d", clientMajor, serverMajor, serverMajor)
	}
	return nil
}

// connect opens a pgx connection with the same settings pg_dump gets: the
// target's PG* environment, then the database string, then the password file.
func connect(ctx context.Context, t *drivers.Target) (*pgx.Conn, error) {
	connString, err := pgxConnString(t.Settings.Str("database"), t.Env)
	if err != nil {
		return nil, drivers.KeyErr("database", "%v", err)
	}
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		// pgx redacts passwords in parse errors only on a best-effort basis;
		// there is none in the string (validation rejects it), so this is safe.
		return nil, drivers.KeyErr("database", "%v", err)
	}
	if path := t.Settings.Str("password_file"); path != "" {
		pw, err := drivers.ReadSecretFile(path)
		if err != nil {
			return nil, drivers.KeyErr("password_file", "%v", err)
		}
		cfg.Password = pw
	}
	cfg.RuntimeParams["application_name"] = "alexandria-backup"
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the database: %w", err)
	}
	return conn, nil
}

// pgEnvKeys maps libpq environment variables to connection keywords, so the
// target's `env` table reaches pgx as it reaches pg_dump.
var pgEnvKeys = map[string]string{
	"PGHOST": "host", "PGPORT": "port", "PGDATABASE": "dbname", "PGUSER": "user",
	"PGPASSWORD": "password", "PGPASSFILE": "passfile", "PGSSLMODE": "sslmode",
	"PGSSLROOTCERT": "sslrootcert", "PGSSLCERT": "sslcert", "PGSSLKEY": "sslkey",
	"PGCONNECT_TIMEOUT": "connect_timeout", "PGSERVICE": "service", "PGAPPNAME": "application_name",
}

// pgxConnString turns the plan's database (URL, key=value or bare name) plus
// the target's PG* environment into one key=value string. Later keywords
// win, which gives libpq's precedence: the database string over the env.
func pgxConnString(database string, env map[string]string) (string, error) {
	var parts []string
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if kw, ok := pgEnvKeys[k]; ok {
			parts = append(parts, kw+"="+kvQuote(env[k]))
		}
	}
	switch {
	case isURL(database):
		u, err := url.Parse(database)
		if err != nil {
			return "", err
		}
		if u.User != nil && u.User.Username() != "" {
			parts = append(parts, "user="+kvQuote(u.User.Username()))
		}
		if h := u.Hostname(); h != "" {
			parts = append(parts, "host="+kvQuote(h))
		}
		if p := u.Port(); p != "" {
			parts = append(parts, "port="+kvQuote(p))
		}
		if db := strings.TrimPrefix(u.Path, "/"); db != "" {
			parts = append(parts, "dbname="+kvQuote(db))
		}
		q := u.Query()
		qk := make([]string, 0, len(q))
		for k := range q {
			qk = append(qk, k)
		}
		sort.Strings(qk)
		for _, k := range qk {
			parts = append(parts, k+"="+kvQuote(q.Get(k)))
		}
	case strings.Contains(database, "="):
		parts = append(parts, database)
	default:
		parts = append(parts, "dbname="+kvQuote(database))
	}
	return strings.Join(parts, " "), nil
}

func kvQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// privatePgpass writes the password file's secret into a 0600 pgpass file in
// the target's private temp dir, for libpq (which will not read a pipe). The
// caller removes it.
func privatePgpass(t *drivers.Target) (string, error) {
	pw, err := drivers.ReadSecretFile(t.Settings.Str("password_file"))
	if err != nil {
		return "", drivers.KeyErr("password_file", "%v", err)
	}
	f, err := os.CreateTemp(t.TempDir, "pgpass-*")
	if err != nil {
		return "", err
	}
	escaped := strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(pw)
	_, werr := fmt.Fprintf(f, "*:*:*:*:%s\n", escaped)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(f.Name())
		return "", werr
	}
	return f.Name(), nil
}

// pgEnv is the environment every libpq tool of the target gets: a private
// pgpass made from password_file (removed by cleanup), then the target's
// `env`.
func pgEnv(t *drivers.Target) (env []proc.EnvVar, cleanup func(), err error) {
	env = t.EnvVars()
	if !t.Settings.Has("password_file") {
		return env, func() {}, nil
	}
	pgpass, err := privatePgpass(t)
	if err != nil {
		return nil, nil, err
	}
	return append([]proc.EnvVar{{Name: "PGPASSFILE", Value: pgpass}}, env...), func() { os.Remove(pgpass) }, nil
}

// Backup dumps into a temporary name, reads the archive back whole, and
// renames it into place only when both succeeded. Anything else removes the
// temporary file: a partial dump is never promoted.
//
// pg_dump dumps a snapshot exported by a transaction of our own, in which
// every table is counted too; the counts, versions, size and SHA-256 go
// into a manifest written beside the dump once it is in place.
func (d Driver) Backup(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.Artifact, error) {
	if t.Into != nil {
		return d.streamBackup(ctx, x, t)
	}
	dir := t.Settings.Str("dir")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return drivers.Artifact{}, err
	}
	final, err := d.freeDumpPath(t)
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
	// Create the temporary name ourselves with mode 0600 (0700 for a
	// directory): pg_dump would create it 0644 under the usual umask.
	var out *os.File
	if pgFormat(t) == "directory" {
		if err := os.Mkdir(tmp, 0o700); err != nil {
			return drivers.Artifact{}, err
		}
	} else {
		if out, err = os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
			return drivers.Artifact{}, err
		}
		defer out.Close()
	}

	ds, err := openDumpSession(ctx, x, t)
	if err != nil {
		return drivers.Artifact{}, err
	}
	defer ds.Close()
	dump := dumpCommand(t, tmp, ds.snap.ID(), ds.env)
	if len(execPrefix(t)) > 0 {
		// pg_dump in the container writes to its standard output: the
		// file, handed to the prefix's program as is.
		dump.Stdout = out
	}
	stopWatching := stamped.WatchGrowth(ctx, tmp)
	res, err := x.Run(ctx, dump)
	stopWatching()
	if err == nil && out != nil {
		err = out.Close()
	}
	if err != nil {
		return drivers.Artifact{}, err
	}
	warnings := exitWarning(res)
	// Counted after the dump, still in its snapshot: rows written
	// meanwhile are neither dumped nor counted.
	counts, err := ds.snap.Counts(ctx)
	if err != nil {
		return drivers.Artifact{}, err
	}
	manifest := ds.snap.Manifest(counts)
	manifest.Point = t.Point
	ds.snap.Close() // release the snapshot: it holds back vacuum
	if manifest.Bytes, manifest.SHA256, err = d.readBack(ctx, x, t, tmp); err != nil {
		return drivers.Artifact{}, fmt.Errorf("the new dump does not read back: %w", err)
	}
	manifest.Dump, manifest.Format, manifest.PgDumpVersion = filepath.Base(final), pgFormat(t), ds.pgDumpVersion
	// A manifest left by a dump of this name deleted by hand must not
	// describe the new dump, not even until the new manifest is written.
	if err := os.Remove(manifestPath(final)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return drivers.Artifact{}, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return drivers.Artifact{}, err
	}
	promoted = true
	stamped.SyncDir(dir)
	a := drivers.Artifact{ID: final, Bytes: manifest.Bytes, Verified: true, Warnings: warnings}
	// The dump is good without its manifest; say so rather than fail it.
	if err := writeManifest(final, manifest); err != nil {
		a.Warnings = append(a.Warnings, fmt.Sprintf("the dump is good, but its manifest could not be written (%v): drills of it cannot compare row counts", err))
	}
	return a, nil
}

// exitWarning is the warning a pg_dump exit the plan's exit_codes calls a
// warning gives the target (Validate lets only exit 0 be one).
func exitWarning(res proc.Result) []string {
	if res.Class != proc.ClassWarning {
		return nil
	}
	w := fmt.Sprintf("pg_dump exited %d, which exit_codes calls a warning", res.ExitCode)
	if said := proc.LastLines(res.Stderr, 5); said != "" {
		w += ": " + said
	}
	return []string{w}
}

// dumpSession is what every dump needs before pg_dump starts, whether it
// goes to a file or into a repository: the libpq environment (with the
// private pgpass), pg_dump's version for the manifest, and the exported
// snapshot that pg_dump dumps and the rows are counted in.
type dumpSession struct {
	env           []proc.EnvVar
	pgDumpVersion string
	snap          *dumpSnapshot
	cleanup       func()
}

func openDumpSession(ctx context.Context, x proc.Executor, t *drivers.Target) (*dumpSession, error) {
	env, cleanup, err := pgEnv(t)
	if err != nil {
		return nil, err
	}
	version, err := pgToolVersion(ctx, x, t, "pg_dump")
	if err != nil {
		cleanup()
		return nil, err
	}
	snap, err := openDumpSnapshot(ctx, t)
	if err != nil {
		cleanup()
		return nil, err
	}
	return &dumpSession{env: env, pgDumpVersion: version, snap: snap, cleanup: cleanup}, nil
}

// Close ends the snapshot's transaction (closing twice is fine) and
// removes the private pgpass.
func (s *dumpSession) Close() {
	s.snap.Close()
	s.cleanup()
}

// freeDumpPath picks the dump's final name, adding -1, -2... when a dump of
// the same second already exists.
func (d Driver) freeDumpPath(t *drivers.Target) (string, error) {
	return stamped.FreePath(t.Settings.Str("dir"), t.Name, pgExt(t))
}

// readsFromStdin: pg_restore reads a custom archive from standard input,
// so the read and the hash are one pass; behind an exec_prefix a tar
// archive too (the container cannot see the file).
func readsFromStdin(t *drivers.Target, format string) bool {
	return format == "custom" || format == "tar" && len(execPrefix(t)) > 0
}

// readBack reads a dump whole, as readWhole does, and returns its size and
// SHA-256 (see hashDump). A custom or plain SQL dump is read once, the
// checks and the hash fed from the same pass (pg_restore reads a custom
// archive from standard input); a tar or directory dump is read twice
// (a tar dump behind an exec_prefix: its structure, then once through
// pg_restore's standard input).
// The sum is "" when the dump could not be read to its end.
func (d Driver) readBack(ctx context.Context, x proc.Executor, t *drivers.Target, path string) (int64, string, error) {
	format := dumpFormat(path, pgFormat(t))
	if format == "directory" && len(execPrefix(t)) > 0 {
		return 0, "", fmt.Errorf("%s: %w", path, errPrefixDirectory)
	}
	if format != "sql" && !readsFromStdin(t, format) {
		if err := d.readWhole(ctx, x, t, path); err != nil {
			return 0, "", err
		}
		return hashDump(path)
	}
	if format == "tar" {
		// pg_restore 15 spins forever at 100% CPU on a truncated tar
		// archive (readWhole).
		if err := checkTar(path); err != nil {
			return 0, "", err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	var n countWriter
	pass := io.TeeReader(bufio.NewReaderSize(f, 1<<20), io.MultiWriter(h, &n))
	var readErr error
	if format == "sql" {
		readErr = checkSQL(path, pass)
	} else {
		c := stdinReadCommand(t, format, t.EnvVars())
		c.Stdin = pass
		_, readErr = x.Run(ctx, c)
	}
	// Whatever the reader left (it failed early, or an archive's last
	// bytes it had no need of) still belongs in the sum.
	if _, err := io.Copy(io.Discard, pass); err != nil {
		return 0, "", fmt.Errorf("reading %s: %w", path, err)
	}
	return int64(n), hex.EncodeToString(h.Sum(nil)), readErr
}

// countWriter counts the bytes written to it.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// readWhole reads every byte of a dump: pg_restore into /dev/null for the
// archive formats, and for plain SQL a full read (through gzip when
// compressed, which checks its CRC) ending in pg_dump's completion trailer.
func (Driver) readWhole(ctx context.Context, x proc.Executor, t *drivers.Target, path string) error {
	format := dumpFormat(path, pgFormat(t))
	switch format {
	case "sql":
		return checkSQLDump(path)
	case "tar":
		// pg_restore 15 spins forever at 100% CPU on a truncated tar
		// archive, so read the tar structure to its end first.
		if err := checkTar(path); err != nil {
			return err
		}
	}
	_, err := x.Run(ctx, readCommand(format, path, t.EnvVars()))
	return err
}

// checkTar reads every member of a tar archive to the end; truncation or
// a damaged header shows as an error.
func checkTar(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(bufio.NewReaderSize(f, 1<<20))
	for {
		_, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err == nil {
			_, err = io.Copy(io.Discard, tr)
		}
		if err != nil {
			return fmt.Errorf("%s: the tar archive is damaged: %w", path, err)
		}
	}
}

// dumpFormat tells a dump's format from its name, so `verify` still reads
// old dumps after the plan's format changed.
func dumpFormat(path, def string) string {
	name := strings.TrimSuffix(path, ".partial")
	switch {
	case strings.HasSuffix(name, ".dump"):
		return "custom"
	case strings.HasSuffix(name, ".tar"):
		return "tar"
	case strings.HasSuffix(name, ".dir"):
		return "directory"
	case strings.HasSuffix(name, ".sql"), strings.HasSuffix(name, ".sql.gz"):
		return "sql"
	}
	return def
}

// sqlTrailer is the last comment pg_dump writes into a complete plain dump.
const sqlTrailer = "-- PostgreSQL database dump complete"

func checkSQLDump(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return checkSQL(path, bufio.NewReaderSize(f, 1<<20))
}

// checkSQL reads the plain SQL dump at path from r to its end.
func checkSQL(path string, r io.Reader) error {
	if strings.HasSuffix(strings.TrimSuffix(path, ".partial"), ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		r = zr
	}
	tail := proc.NewTail(4096)
	if _, err := io.Copy(tail, r); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !strings.Contains(string(tail.Bytes()), sqlTrailer) {
		return fmt.Errorf("%s: the SQL dump is incomplete (no %q at its end)", path, sqlTrailer)
	}
	return nil
}

// Verify reads a dump back whole, the given one or the newest, and when it
// has a manifest also checks its SHA-256 (which catches a flipped byte in
// an uncompressed SQL dump, which reads back fine).
func (d Driver) Verify(ctx context.Context, x proc.Executor, t *drivers.Target, a drivers.Artifact) error {
	if t.Into != nil {
		return d.streamVerify(ctx, x, t, a)
	}
	path := a.ID
	if path == "" {
		dumps, err := d.list(t)
		if err != nil {
			return err
		}
		if len(dumps) == 0 {
			return fmt.Errorf("no dumps in %s to verify", t.Settings.Str("dir"))
		}
		path = dumps[0].Path
	}
	m, err := readManifest(path)
	if err != nil {
		return err
	}
	size, sum, readErr := d.readBack(ctx, x, t, path)
	if m != nil && sum != "" {
		// A flipped byte in a plain SQL dump reads back fine: the sum
		// says it first.
		if err := m.CheckSum(size, sum); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
	}
	return readErr
}

var dumpName = regexp.MustCompile(`^(.+)-(\d{8}T\d{6}Z)(?:-(\d+))?\.(dump|sql|sql\.gz|tar|dir)$`)

// list returns this target's promoted dumps, newest first. Only names this
// driver makes are listed: retention never touches anything else. A
// symlink is never one (the driver makes files and directories): one
// planted in dir under a dump's name is not restored as the latest, nor
// accepted as an ID.
func (Driver) list(t *drivers.Target) ([]stamped.File, error) {
	return stamped.List(t.Settings.Str("dir"), t.Name, dumpName, true)
}

// Prune keeps the newest keep_last dumps and those younger than keep_days
// (a dump either rule keeps is kept), and always the newest one.
func (d Driver) Prune(ctx context.Context, x proc.Executor, t *drivers.Target, dryRun bool) (drivers.PruneResult, error) {
	if t.Into != nil {
		return d.streamPrune(ctx, x, t, dryRun)
	}
	dumps, err := d.list(t)
	if err != nil {
		return drivers.PruneResult{}, err
	}
	return stamped.Prune(t, dumps, dryRun, func(path string) error {
		// The manifest first: a crash in between leaves a dump without
		// a manifest (still usable), never a manifest without a dump.
		if err := os.Remove(manifestPath(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return os.RemoveAll(path)
	})
}

func (d Driver) Snapshots(ctx context.Context, x proc.Executor, t *drivers.Target) ([]drivers.Snapshot, error) {
	if t.Into != nil {
		return d.streamSnapshots(ctx, x, t)
	}
	dumps, err := d.list(t)
	if err != nil {
		return nil, err
	}
	out := make([]drivers.Snapshot, 0, len(dumps))
	for _, f := range dumps {
		info, point := "no manifest", ""
		if m, err := readManifest(f.Path); err != nil {
			info = "unreadable manifest"
		} else if m != nil {
			info = fmt.Sprintf("%d tables, %d rows", len(m.Tables), m.TotalRows())
			if drivers.ValidPoint(m.Point) {
				point = m.Point
			}
		}
		out = append(out, drivers.Snapshot{ID: f.Path, Time: f.Stamp, Bytes: stamped.DiskSize(f.Path), Info: info, Point: point})
	}
	return out, nil
}

func (Driver) Facts() drivers.Facts {
	return drivers.Facts{
		Role: drivers.RoleDatabase,
		Programs: []drivers.Program{
			{Name: "pg_dump", Package: "postgresql-client"},
			{Name: "pg_restore", Package: "postgresql-client"},
		},
		PasswordKey: "password_file",
	}
}

func (Driver) Resources(t *drivers.Target) drivers.Resources {
	r := drivers.Resources{Database: t.Settings.Str("database"), ToolPrefix: execPrefix(t)}
	r.Secrets = drivers.WithSecret(r.Secrets, t, "password_file", drivers.PasswordFile)
	// A streamed dump has no directory: it is in its `into` target's
	// repository.
	if dir := t.Settings.Str("dir"); t.Into == nil && dir != "" {
		r.Paths = []drivers.Path{{Path: dir, Write: true, Dumps: true, Why: "dumps of " + t.Name}}
	}
	return r
}

func (Driver) PlainRestore(t *drivers.Target) []drivers.Step {
	if t.Into != nil {
		return []drivers.Step{drivers.RestoreNote("the dump is streamed into %s's repository: restore it with `alexandria-backup restore %s`, or take it out of that repository as shown there", t.Into.Name, t.Name)}
	}
	var env []proc.EnvVar
	if f := t.Settings.Str("password_file"); f != "" {
		env = append(env, proc.EnvVar{Name: "PGPASSFILE", Value: "<a pgpass file with the password from " + f + ">"})
	}
	dir, format := t.Settings.Str("dir"), pgFormat(t)
	dump := filepath.Join(dir, t.Name+"-<TIME>."+pgExt(t))
	steps := []drivers.Step{drivers.RestoreNote("the newest dump: ls -1 %s | tail -n 1", proc.ShellQuote(filepath.Join(dir, t.Name+"-"))+"*."+pgExt(t))}
	db := "--dbname=" + t.Settings.Str("database")
	if len(execPrefix(t)) > 0 {
		// The tools are in the container: the dump goes in on standard
		// input.
		psql := pgTool(t, proc.Command{Program: "psql", Args: []string{"-X", "-v", "ON_ERROR_STOP=1", "--single-transaction", db}})
		restore := pgTool(t, proc.Command{Program: "pg_restore", Args: []string{"--exit-on-error", "--clean", "--if-exists", db}})
		switch {
		case format == "sql" && strings.HasSuffix(dump, ".gz"):
			return append(steps, drivers.RestoreNote("gunzip -c %s | %s  (into an empty database)", dump, psql.String()))
		case format == "sql":
			return append(steps, drivers.RestoreNote("%s < %s  (into an empty database)", psql.String(), dump))
		}
		return append(steps, drivers.RestoreNote("%s < %s", restore.String(), dump))
	}
	switch {
	case format == "sql" && strings.HasSuffix(dump, ".gz"):
		steps = append(steps, drivers.RestoreNote("gunzip -c %s | psql -X -v ON_ERROR_STOP=1 --single-transaction %s  (into an empty database)", dump, proc.ShellQuote(db)))
	case format == "sql":
		steps = append(steps, drivers.RestoreCmd(proc.Command{Program: "psql", Args: []string{"-X", "-v", "ON_ERROR_STOP=1", "--single-transaction", db, "--file=" + dump}, Env: env}))
	default:
		steps = append(steps, drivers.RestoreCmd(proc.Command{Program: "pg_restore", Args: []string{"--exit-on-error", "--clean", "--if-exists", db, dump}, Env: env}))
	}
	return steps
}

// PlainRecover is recover's database part in plain commands, on a server
// that has no such database: create it (as recover does, by the plan's
// role, from template0), find the newest dump, restore it in one
// transaction. None for a dump streamed into a repository or tools
// behind exec_prefix: PlainRestore says how those come back.
func (Driver) PlainRecover(t *drivers.Target) []drivers.Step {
	if t.Into != nil || len(execPrefix(t)) > 0 {
		return nil
	}
	name, maint, err := pgCreateNames(t)
	if err != nil {
		return []drivers.Step{drivers.RestoreNote("%v", err)}
	}
	var env []proc.EnvVar
	if f := t.Settings.Str("password_file"); f != "" {
		env = append(env, proc.EnvVar{Name: "PGPASSFILE", Value: "<a pgpass file with the password from " + f + ">"})
	}
	db := "--dbname=" + t.Settings.Str("database")
	create := proc.Command{Program: "createdb", Args: []string{"--maintenance-db=" + maint, "--template=template0", "--", name}, Env: env}
	// The dumps are named NAME-<UTC time>.EXT: the last in name order is
	// the newest, and the digit keeps another target's NAME-x- dumps out.
	newest := fmt.Sprintf("DUMP=$(ls -1d %s[0-9]*.%s | tail -n 1)", proc.ShellQuote(filepath.Join(t.Settings.Str("dir"), t.Name+"-")), pgExt(t))
	psql := proc.Command{Program: "psql", Args: []string{"--no-psqlrc", "--set=ON_ERROR_STOP=1", "--single-transaction", "--quiet", db}, Env: env}
	var restore string
	switch format := pgFormat(t); {
	case format == "sql" && strings.HasSuffix(pgExt(t), ".gz"):
		restore = `gunzip -c "$DUMP" | ` + drivers.ShellLine(psql)
	case format == "sql":
		restore = drivers.ShellLine(psql) + ` --file="$DUMP"`
	default:
		restore = drivers.ShellLine(proc.Command{Program: "pg_restore", Args: []string{"--format=" + format, "--exit-on-error", "--single-transaction", db}, Env: env}) + ` "$DUMP"`
	}
	return []drivers.Step{drivers.RestoreCmd(create), drivers.RestoreShell("%s", newest), drivers.RestoreShell("%s", restore)}
}

// TendLocks: a pg_dump target streaming into a repository whose tool
// keeps locks of its own (restic) keeps its dumps there.
func (Driver) TendLocks(ctx context.Context, x proc.Executor, t *drivers.Target) ([]string, error) {
	if t.Into == nil {
		return nil, nil
	}
	lt, ok := t.Into.Impl.(drivers.LockTender)
	if !ok {
		return nil, nil
	}
	return lt.TendLocks(ctx, x, t.Into)
}

// Custody: dump files in a local directory, as pg_dump writes them (a
// streamed dump's custody is its `into` target's: drivers.CustodyOf).
func (Driver) Custody(t *drivers.Target) drivers.Custody {
	return drivers.Custody{Offsite: drivers.No, Place: t.Settings.Str("dir"), Encrypted: drivers.No, Why: "pg_dump writes plain dump files"}
}
