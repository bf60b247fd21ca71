package pgdump

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var _ drivers.Restorer = Driver{}

// Restore brings a dump back into a database: req.From (one of this
// target's dumps, as `snapshots` lists it or by base name; default the
// newest) or req.File (a dump from anywhere) into req.Database (default the
// plan's database; a bare name means that database on the plan's server,
// with the plan's user and settings).
//
// What it promises:
//   - A dump is restored only when the manifest beside it holds its size
//     and SHA-256 and they match, checked before the database is touched;
//     without a manifest, or when it does not match, only with
//     req.Unverified (the operator's word that it need not be checked).
//   - req.From never reaches outside the target's own dumps: a path, a
//     `..`, a symlink in dir, another target's dump are not its IDs.
//   - The database must exist: it is not created, because its owner,
//     encoding and locale are the operator's choice (and after a server
//     loss the application's migrations usually create it).
//   - A database that already has tables is refused unless req.Clean.
//   - The restore is one transaction: any error (a damaged dump, a missing
//     role, an object in the way) rolls everything back, --clean's drops
//     included, so the database is either fully restored or unchanged.
//   - Ownership and privileges are restored as dumped (no --no-owner): the
//     application's role must own its tables, or its next migration fails.
//     On a new server, create the roles first; the error says so.
//
// Archive formats go through `pg_restore --exit-on-error
// --single-transaction`, with `--clean --if-exists` for Clean (which drops
// the objects the dump contains; objects the dump does not know stay).
// Plain SQL (and .sql.gz, decompressed here) is piped into `psql` with
// ON_ERROR_STOP, wrapped in BEGIN ... COMMIT by us; for Clean, the same
// transaction first drops every non-system schema and recreates an empty
// `public`, since a plain dump has no DROP statements of its own.
func (d Driver) Restore(ctx context.Context, x proc.Executor, t *drivers.Target, req drivers.RestoreRequest) (drivers.RestoreResult, error) {
	if req.To != "" {
		return drivers.RestoreResult{}, errors.New("a pg_dump target restores into a database, not a directory: give the database instead")
	}
	if req.From != "" && req.File != "" {
		return drivers.RestoreResult{}, errors.New("name the dump either by its ID (--from) or by its path (--file), not both")
	}
	if t.Into != nil && req.File == "" {
		return d.streamRestore(ctx, x, t, req)
	}
	var dump string
	var err error
	if req.File != "" {
		dump, err = resolveDumpFile(req.File)
	} else {
		dump, err = d.resolveDump(t, req.From)
	}
	if err != nil {
		return drivers.RestoreResult{}, err
	}
	format, err := sniffDumpFormat(dump)
	if err != nil {
		return drivers.RestoreResult{}, err
	}
	// With Unverified the manifest is not even read: the operator said the
	// checksum is not to be checked (a manifest that is missing, unreadable
	// or that the dump no longer matches).
	var m *drivers.DumpManifest
	if !req.Unverified {
		if m, err = readManifest(dump); err != nil {
			return drivers.RestoreResult{}, err
		}
		if m == nil {
			return drivers.RestoreResult{}, fmt.Errorf("%s has no manifest (%s), so its SHA-256 cannot be checked; the database was not touched. Restore a dump that has one, or this one unchecked with --unverified",
				dump, filepath.Base(manifestPath(dump)))
		}
	}
	if err := checkBeforeRestore(dump, format, m); err != nil {
		hint := ""
		if m != nil {
			hint = " (restore another dump, or this one unchecked with --unverified)"
		}
		return drivers.RestoreResult{}, fmt.Errorf("refusing to restore a damaged dump (the database was not touched): %w%s", err, hint)
	}
	into, err := pgRestoreTarget(t, req.Database)
	if err != nil {
		return drivers.RestoreResult{}, err
	}
	db := into.Settings.Str("database")

	conn, err := pgConnectExisting(ctx, into)
	if errors.Is(err, errNoDatabase) && req.CreateDatabase {
		if err = createDatabase(ctx, into); err == nil {
			conn, err = connect(ctx, into)
		}
	}
	if err != nil {
		return drivers.RestoreResult{}, err
	}
	var name string
	var serverNum int
	err = conn.QueryRow(ctx, "SELECT current_database(), current_setting('server_version_num')::int").Scan(&name, &serverNum)
	var tables []drivers.TableCount
	if err == nil {
		tables, err = pgListTables(ctx, conn)
	}
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return drivers.RestoreResult{}, err
	}
	if err := refuseTables(name, tables, req.Clean); err != nil {
		return drivers.RestoreResult{}, err
	}

	env, cleanup, err := pgEnv(t)
	if err != nil {
		return drivers.RestoreResult{}, err
	}
	defer cleanup()
	var cmd proc.Command
	if format == "sql" {
		prelude := ""
		if req.Clean {
			prelude = dropSchemasSQL(serverNum)
		}
		input, closer, err := sqlRestoreInput(dump, prelude)
		if err != nil {
			return drivers.RestoreResult{}, err
		}
		defer closer.Close()
		cmd = psqlRestoreCommand(t, db, input, env)
	} else {
		cmd = pgRestoreCommand(t, format, dump, db, pgRestoreOptions{Clean: req.Clean}, env)
		in, err := pgRestoreInput(t, format, dump)
		if err != nil {
			return drivers.RestoreResult{}, err
		}
		if in != nil {
			defer in.Close()
			cmd.Stdin = in
		}
	}
	if _, err := x.Run(ctx, cmd); err != nil {
		return drivers.RestoreResult{}, fmt.Errorf("restoring %s into %q failed; it ran as one transaction, so nothing was changed: %w%s",
			filepath.Base(dump), name, err, pgRestoreHint(err))
	}

	// Report what the database holds now.
	conn, err = connect(ctx, into)
	if err != nil {
		return drivers.RestoreResult{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if tables, err = pgListTables(ctx, conn); err != nil {
		return drivers.RestoreResult{}, err
	}
	return drivers.RestoreResult{From: dump, Where: db, Files: len(tables)}, nil
}

// resolveDump finds one of this target's own dumps: the newest, or the one
// named by id exactly as `snapshots` lists it (its path) or by its base
// name. Anything else, a path from elsewhere, a name with `..`, another
// target's dump or a symlink planted in dir, is not an ID: such a file is
// restored through --file (resolveDumpFile), whose rules say so.
func (d Driver) resolveDump(t *drivers.Target, id string) (string, error) {
	dumps, err := d.list(t)
	if err != nil {
		return "", err
	}
	if id == "" {
		if len(dumps) == 0 {
			return "", fmt.Errorf("no dumps of target %q in %s", t.Name, t.Settings.Str("dir"))
		}
		return filepath.Abs(dumps[0].Path)
	}
	// Clean forgives a directory dump's trailing slash (as a shell
	// completes it); it cannot turn a path outside dir into one inside.
	clean := filepath.Clean(id)
	for _, f := range dumps {
		if clean == filepath.Base(f.Path) || clean == filepath.Clean(f.Path) {
			return filepath.Abs(f.Path)
		}
	}
	return "", fmt.Errorf("--from %q is not one of target %s's dumps in %s (see `snapshots %s`); to restore a dump from anywhere else, give its path as --file PATH",
		id, t.Name, t.Settings.Str("dir"), t.Name)
}

// resolveDumpFile checks a dump given by path (--file). The result is
// absolute, so it can never be read as an option.
func resolveDumpFile(file string) (string, error) {
	path, err := filepath.Abs(file)
	if err != nil {
		return "", err
	}
	switch {
	case strings.HasSuffix(path, ".partial"):
		return "", fmt.Errorf("%s is an unfinished dump (a backup is running, or one was interrupted): it is never restored", path)
	case strings.HasSuffix(path, ".manifest.json"):
		return "", fmt.Errorf("%s is a dump's manifest: restore the dump itself, %s", path, strings.TrimSuffix(filepath.Base(path), ".manifest.json"))
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no dump %s: %w", path, err)
	}
	return path, nil
}

// sniffDumpFormat tells a dump's format from its content, whatever its name
// (a dump made by hand, or renamed): a directory with a toc.dat, pg_dump's
// "PGDMP" magic, a tar header, else SQL (plain or gzip-compressed:
// sqlRestoreInput tells them apart).
func sniffDumpFormat(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "toc.dat")); err != nil {
			return "", fmt.Errorf("%s is a directory but not a pg_dump directory dump (no toc.dat)", path)
		}
		return "directory", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("PGDMP")):
		return "custom", nil
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return "tar", nil
	}
	return "sql", nil
}

// checkBeforeRestore refuses a dump that does not match its manifest (when
// it has one), and a tar dump whose archive structure is damaged: pg_restore
// 15 spins forever at 100% CPU on a truncated tar archive (measured here),
// which matters for old dumps without a manifest.
func checkBeforeRestore(dump, format string, m *drivers.DumpManifest) error {
	if m != nil {
		if err := checkDump(m, dump); err != nil {
			return err
		}
	}
	if format == "tar" {
		return checkTar(dump)
	}
	return nil
}

// pgRestoreTarget is t pointed at the database a restore goes into.
func pgRestoreTarget(t *drivers.Target, database string) (*drivers.Target, error) {
	plan := t.Settings.Str("database")
	switch {
	case database == "":
		database = plan
	case checkNoPassword(database) != nil:
		// The message must not repeat the value: it holds a password.
		return nil, fmt.Errorf("the database to restore into %w", drivers.PasswordErr(pgPasswordAdvice))
	case !isURL(database) && !strings.Contains(database, "="):
		var err error
		if database, err = pgDatabaseOn(plan, database); err != nil {
			return nil, drivers.KeyErr("database", "%v", err)
		}
	}
	return pgWithDatabase(t, database), nil
}

// pgWithDatabase returns a copy of t whose `database` is database.
func pgWithDatabase(t *drivers.Target, database string) *drivers.Target {
	c := *t
	c.Settings = make(drivers.Values, len(t.Settings))
	for k, v := range t.Settings {
		c.Settings[k] = v
	}
	c.Settings["database"] = database
	return &c
}

// pgDatabaseOn returns the plan's database string (URL, key=value or bare
// name) pointed at database name on the same server, with the same user and
// options. A dbname in a URL's query, which would win over its path, is
// removed; in a key=value string a later keyword wins (libpq and pgx).
func pgDatabaseOn(database, name string) (string, error) {
	switch {
	case isURL(database):
		u, err := url.Parse(database)
		if err != nil {
			return "", err
		}
		u.Path, u.RawPath = "/"+name, ""
		if q := u.Query(); q.Has("dbname") {
			q.Del("dbname")
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	case strings.Contains(database, "="):
		return database + " dbname=" + kvQuote(name), nil
	}
	return name, nil
}

// errNoDatabase marks the error of a connection to a database the server
// does not have.
var errNoDatabase = errors.New("no such database")

// pgConnectExisting connects, turning "database does not exist" into advice.
func pgConnectExisting(ctx context.Context, t *drivers.Target) (*pgx.Conn, error) {
	conn, err := connect(ctx, t)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" {
		return nil, fmt.Errorf("%s: restore does not create databases (owner, encoding and locale are your choice): create it first, e.g. `createdb --owner=ROLE NAME`, then restore (`recover` creates it): %w", pgErr.Message, errNoDatabase)
	}
	return conn, err
}

// maintenanceDB is the database every PostgreSQL server has, which a
// connection can reach while the one it is meant for does not exist yet.
const maintenanceDB = "postgres"

// createDatabase creates the database t names, on a server that has none
// of that name (a new server after a complete loss). It connects to the
// maintenance database as t's role, which therefore owns the new
// database, as the application's role owned the lost one when it
// connected as that role. TEMPLATE template0: nothing of template1's
// local additions can collide with what the dump creates.
func createDatabase(ctx context.Context, t *drivers.Target) error {
	name, maint, err := pgCreateNames(t)
	if err != nil {
		return err
	}
	conn, err := connect(ctx, pgWithDatabase(t, maint))
	if err != nil {
		return fmt.Errorf("database %q does not exist; connecting to the server's %q database to create it: %w", name, maintenanceDB, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" {
			return fmt.Errorf("creating database %q: %w: the role needs CREATEDB (ALTER ROLE ... CREATEDB), or create it by hand: createdb --owner=ROLE %s", name, err, name)
		}
		return fmt.Errorf("creating database %q: %w", name, err)
	}
	return nil
}

// pgCreateNames are the name of the database t names and t's database
// string pointed at the server's maintenance database, from which it is
// created.
func pgCreateNames(t *drivers.Target) (name, maint string, err error) {
	connString, err := pgxConnString(t.Settings.Str("database"), t.Env)
	if err != nil {
		return "", "", drivers.KeyErr("database", "%v", err)
	}
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return "", "", drivers.KeyErr("database", "%v", err)
	}
	if cfg.Database == "" {
		return "", "", drivers.KeyErr("database", "names no database to create")
	}
	maint, err = pgDatabaseOn(t.Settings.Str("database"), maintenanceDB)
	if err != nil {
		return "", "", drivers.KeyErr("database", "%v", err)
	}
	return cfg.Database, maint, nil
}

type pgRestoreOptions struct {
	// Clean drops the dump's objects before recreating them.
	Clean bool
	// NoOwner skips ownership and privileges (a drill: the scratch database
	// belongs to whoever runs it, and roles may be missing).
	NoOwner bool
}

// pgRestoreCommand restores an archive (custom, directory, tar) into
// database as one transaction; --single-transaction also stops at the
// first error (it implies --exit-on-error, given anyway for clarity), so a
// half restore is never kept. path is absolute; the database is one
// --dbname=VALUE word. Behind t's exec_prefix, pg_restore reads the
// archive from standard input instead, which the caller opens
// (pgRestoreInput): the container cannot see the host's files.
func pgRestoreCommand(t *drivers.Target, format, path, database string, o pgRestoreOptions, env []proc.EnvVar) proc.Command {
	args := []string{"--format=" + format, "--exit-on-error", "--single-transaction"}
	if o.Clean {
		args = append(args, "--clean", "--if-exists")
	}
	if o.NoOwner {
		args = append(args, "--no-owner", "--no-privileges")
	}
	args = append(args, "--no-password", "--dbname="+database)
	if len(execPrefix(t)) == 0 {
		args = append(args, path)
	}
	return pgTool(t, proc.Command{Program: "pg_restore", Args: args, Env: env})
}

// pgRestoreInput is what pgRestoreCommand reads the archive at path from:
// nothing (the path is its argument), or behind an exec_prefix the file
// on standard input. The caller closes it.
func pgRestoreInput(t *drivers.Target, format, path string) (*os.File, error) {
	if len(execPrefix(t)) == 0 {
		return nil, nil
	}
	if format == "directory" {
		return nil, errPrefixDirectory
	}
	return os.Open(path)
}

// psqlRestoreCommand runs a plain SQL dump from stdin. Not psql's own
// --single-transaction: it COMMITs at the end of its input, and a dump cut
// short (or a gzip stream that fails) would end the input early and commit
// half a restore. The COMMIT comes from sqlRestoreInput instead, only after
// the whole dump was read. psql exits 3 on an SQL error (ON_ERROR_STOP), 2
// when the connection is lost, 1 on its own errors: all errors.
func psqlRestoreCommand(t *drivers.Target, database string, stdin io.Reader, env []proc.EnvVar) proc.Command {
	return pgTool(t, proc.Command{Program: "psql", Args: []string{"--no-psqlrc", "--no-password", "--quiet", "--set=ON_ERROR_STOP=1",
		"--file=-", "--dbname=" + database}, Env: env, Stdin: stdin})
}

// sqlRestoreInput is psql's input for a plain dump: BEGIN, prelude, the
// dump (gunzipped when it starts with gzip's magic), and COMMIT only once
// the dump was read to its end, its gzip checksum held and pg_dump's
// completion trailer was seen. Any failure before that makes the reader
// fail, psql sees its input end inside the transaction, and the server
// rolls it back.
func sqlRestoreInput(path, prelude string) (io.Reader, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	var body io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		body = zr
	}
	body = &sqlTrailerReader{r: body, tail: proc.NewTail(4096), name: filepath.Base(path)}
	return io.MultiReader(strings.NewReader("BEGIN;\n"+prelude), body, strings.NewReader("\nCOMMIT;\n")), f, nil
}

// sqlTrailerReader passes a plain dump through and, at its end, fails unless
// pg_dump's completion trailer was among the last bytes.
type sqlTrailerReader struct {
	r    io.Reader
	tail *proc.Tail
	name string
}

func (t *sqlTrailerReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.tail.Write(p[:n])
	if err == io.EOF && !bytes.Contains(t.tail.Bytes(), []byte(sqlTrailer)) {
		return n, fmt.Errorf("%s is incomplete (no %q at its end): not committing", t.name, sqlTrailer)
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("reading %s: %w", t.name, err)
	}
	return n, err
}

// dropSchemasSQL empties the database for a clean restore of a plain dump:
// every schema but the system ones is dropped with everything in it, and
// `public` is recreated as initdb makes it (owned by pg_database_owner with
// USAGE for everyone since PostgreSQL 15; before, owned by the restoring
// user with CREATE and USAGE for everyone), because pg_dump writes nothing
// for a default `public` schema. It runs in the restore's transaction.
func dropSchemasSQL(serverVersionNum int) string {
	public := "CREATE SCHEMA public;\nGRANT CREATE, USAGE ON SCHEMA public TO PUBLIC;\n"
	if serverVersionNum >= 150000 {
		public = "CREATE SCHEMA public AUTHORIZATION pg_database_owner;\nGRANT USAGE ON SCHEMA public TO PUBLIC;\n"
	}
	return `DO $alexandria_clean$
DECLARE s name;
BEGIN
  FOR s IN SELECT nspname FROM pg_catalog.pg_namespace
           WHERE nspname NOT IN ('pg_catalog', 'information_schema')
             AND nspname NOT LIKE 'pg\_toast%' AND nspname NOT LIKE 'pg\_temp\_%'
  LOOP
    EXECUTE pg_catalog.format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
END
$alexandria_clean$;
` + public + "COMMENT ON SCHEMA public IS 'standard public schema';\n"
}

// pgRestoreHint adds advice to a failed restore for the usual causes.
func pgRestoreHint(err error) string {
	var te *proc.ToolError
	if !errors.As(err, &te) {
		return ""
	}
	stderr := string(te.Stderr)
	switch {
	case strings.Contains(stderr, "role \"") && strings.Contains(stderr, "does not exist"):
		return " (roles are not part of a database dump: create the dump's roles on this server first, e.g. CREATE ROLE name LOGIN, or restore `pg_dumpall --globals-only` from the old server)"
	case strings.Contains(stderr, "already exists"):
		return " (the database already holds objects of the dump: use --clean to drop them first)"
	}
	return ""
}

// refuseTables refuses a restore into database name, which has tables,
// unless clean: pg_restore would fail on the first "already exists".
func refuseTables(name string, tables []drivers.TableCount, clean bool) error {
	if len(tables) == 0 || clean {
		return nil
	}
	return fmt.Errorf("database %q already has %d tables (e.g. %s): restoring into it would fail with \"already exists\"; use --clean to drop the dump's objects first, or restore into an empty database",
		name, len(tables), tables[0].QualifiedName())
}

var _ drivers.RestoreChecker = Driver{}

// CheckRestore refuses, changing nothing, what Restore of req would refuse
// for the database's state: one that has tables, unless req.Clean. A
// database that does not exist passes when req.CreateDatabase.
func (d Driver) CheckRestore(ctx context.Context, x proc.Executor, t *drivers.Target, req drivers.RestoreRequest) error {
	into, err := pgRestoreTarget(t, req.Database)
	if err != nil {
		return err
	}
	conn, err := pgConnectExisting(ctx, into)
	if errors.Is(err, errNoDatabase) && req.CreateDatabase {
		return nil
	}
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var name string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
		return err
	}
	tables, err := pgListTables(ctx, conn)
	if err != nil {
		return err
	}
	return refuseTables(name, tables, req.Clean)
}
