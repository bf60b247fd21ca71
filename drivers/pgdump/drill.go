package pgdump

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var _ drivers.Driller = Driver{}

// PgDrillPrefix starts the name of every scratch database a drill creates.
// Nothing without it is ever dropped.
const PgDrillPrefix = "alexandria_drill_"

// pgDrillName matches exactly the names newPgDrillName makes.
var pgDrillName = regexp.MustCompile(`^` + PgDrillPrefix + `[0-9a-f]{16}$`)

func newPgDrillName() string {
	b := make([]byte, 8)
	rand.Read(b) // never fails (crypto/rand)
	return PgDrillPrefix + hex.EncodeToString(b)
}

// Drill proves the newest dump restores exactly:
//  1. when it has a manifest, its size and SHA-256 must match (a damaged
//     dump fails here, before any database is created; a tar dump's
//     structure is read through too, see checkBeforeRestore);
//  2. a scratch database alexandria_drill_<16 hex> is created on the plan's
//     server (TEMPLATE template0, with the source database's encoding and
//     locale), and the dump is restored into it as one transaction that
//     stops at the first error: pg_restore --exit-on-error
//     --single-transaction --no-owner --no-privileges (the drill's role
//     owns what it restores; roles need not exist), or psql for plain SQL
//     (which restores ownership as dumped: the drill's role must be allowed
//     to, as it is on the server the dump came from);
//  3. every table is counted exactly and compared with the manifest: a
//     table whose count differs, a missing table and an extra one are each
//     named in the error, with both counts;
//  4. when drill_check is set, the application's own check runs against
//     the scratch database (see drillCheckCommand): it must exit 0;
//  5. the scratch database is always dropped (WITH (FORCE)), also after a
//     failure and after ctx was cancelled; it is recorded in a marker in
//     TempDir first, so that the next run drops it after a SIGKILL too.
//
// A dump without a manifest (made before manifests existed) is still
// restored, but the drill fails, saying the restore worked and the counts
// could not be compared: a drill that passes must have proven the counts.
func (d Driver) Drill(ctx context.Context, x proc.Executor, t *drivers.Target) (res drivers.DrillResult, err error) {
	if t.Into != nil {
		return d.streamDrill(ctx, x, t)
	}
	dumps, err := d.list(t)
	if err != nil {
		return res, err
	}
	if len(dumps) == 0 {
		return res, fmt.Errorf("no dumps of target %q in %s to drill", t.Name, t.Settings.Str("dir"))
	}
	dump := dumps[0].Path
	base := filepath.Base(dump)
	res.Artifact = dump
	m, err := readManifest(dump)
	if err != nil {
		return res, err
	}
	format, err := sniffDumpFormat(dump)
	if err != nil {
		return res, err
	}
	if err := checkBeforeRestore(dump, format, m); err != nil {
		return res, fmt.Errorf("drill: %w", err)
	}

	name := newPgDrillName()
	// Recorded before CREATE DATABASE and forgotten only once dropped: a
	// drill killed in between leaves the marker, and the next run that
	// takes the run lock drops the database (see pgdump_scratch.go).
	marker, err := writeScratchMarker(t, name)
	if err != nil {
		return res, err
	}
	// Registered before CREATE DATABASE: if ctx ends while it runs, the
	// server may have created the database all the same.
	defer func() {
		if derr := dropDrillDatabase(context.WithoutCancel(ctx), t, name); derr != nil {
			err = errors.Join(err, derr)
			return // the marker stays: the next run tries again
		}
		if marker != "" {
			// A marker left over here only costs the next run a DROP
			// DATABASE IF EXISTS of a name no one else uses.
			_ = os.Remove(marker)
		}
	}()
	if err := createDrillDatabase(ctx, t, name); err != nil {
		return res, err
	}
	plan := t.Settings.Str("database")
	scratchDB, err := pgDatabaseOn(plan, name)
	if err != nil {
		return res, err
	}
	scratch := pgWithDatabase(t, scratchDB)
	// The scratch connection string is made from the plan's; make sure it
	// really reaches the scratch database before restoring anything there.
	conn, err := connect(ctx, scratch)
	if err != nil {
		return res, fmt.Errorf("connecting to the scratch database: %w", err)
	}
	var current string
	err = conn.QueryRow(ctx, "SELECT current_database()").Scan(&current)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return res, err
	}
	if current != name {
		return res, fmt.Errorf("the connection meant for the scratch database %s reached %q instead; not restoring (check `database` and the PG* environment)", name, current)
	}

	env, cleanup, err := pgEnv(t)
	if err != nil {
		return res, err
	}
	defer cleanup()
	var cmd proc.Command
	if format == "sql" {
		input, closer, err := sqlRestoreInput(dump, "")
		if err != nil {
			return res, err
		}
		defer closer.Close()
		cmd = psqlRestoreCommand(t, scratchDB, input, env)
	} else {
		cmd = pgRestoreCommand(t, format, dump, scratchDB, pgRestoreOptions{NoOwner: true}, env)
		in, err := pgRestoreInput(t, format, dump)
		if err != nil {
			return res, err
		}
		if in != nil {
			defer in.Close()
			cmd.Stdin = in
		}
	}
	if _, err := x.Run(ctx, cmd); err != nil {
		return res, fmt.Errorf("drill: %s does not restore: %w", base, err)
	}

	conn, err = connect(ctx, scratch)
	if err != nil {
		return res, fmt.Errorf("connecting to the scratch database: %w", err)
	}
	counts, err := pgCountTables(ctx, conn)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return res, err
	}
	if m == nil {
		return res, fmt.Errorf("drill: %s restored into a scratch database without errors (%d tables), but it has no manifest (made before manifests existed, or its manifest could not be written), so its row counts could not be compared; the next backup writes one", base, len(counts))
	}
	if err := compareCounts(m, counts, base); err != nil {
		return res, fmt.Errorf("drill: %w", err)
	}
	res.Checked = len(counts)
	res.Detail = fmt.Sprintf("%d tables, %d rows match the manifest of %s", len(counts), m.TotalRows(), base)
	if t.Settings.Has(drillCheckKey) {
		passed, err := runDrillCheck(ctx, x, t, name, scratchDB, env)
		if err != nil {
			return res, fmt.Errorf("drill: %s, but %w", res.Detail, err)
		}
		res.Detail += "; " + passed
	}
	return res, nil
}

// compareCounts compares the row counts of a restore of the dump named
// base with its manifest m: a table whose count differs, a missing table
// and an extra one are each named, with both counts (the first ten).
func compareCounts(m *drivers.DumpManifest, counts []drivers.TableCount, base string) error {
	diffs := m.CompareCounts(counts)
	if len(diffs) == 0 {
		return nil
	}
	const show = 10
	more := ""
	if len(diffs) > show {
		more = fmt.Sprintf("; and %d more", len(diffs)-show)
		diffs = diffs[:show]
	}
	return fmt.Errorf("the restore of %s differs from its manifest: %s%s", base, strings.Join(diffs, "; "), more)
}

// createDrillDatabase creates the scratch database from template0 (nothing
// of template1's local additions) with the source database's encoding and
// locale, so whatever the source holds can be stored. It connects to the
// plan's database: the role can surely do that, and CREATE DATABASE works
// from any database of the server.
func createDrillDatabase(ctx context.Context, t *drivers.Target, name string) error {
	conn, err := connect(ctx, t)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var enc, collate, ctype string
	err = conn.QueryRow(ctx, `SELECT pg_catalog.pg_encoding_to_char(encoding), datcollate, datctype
		FROM pg_catalog.pg_database WHERE datname = current_database()`).Scan(&enc, &collate, &ctype)
	if err != nil {
		return fmt.Errorf("reading the database's encoding: %w", err)
	}
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE template0 ENCODING " + pgLiteral(enc) +
		" LC_COLLATE " + pgLiteral(collate) + " LC_CTYPE " + pgLiteral(ctype)
	if _, err := conn.Exec(ctx, sql); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" {
			return fmt.Errorf("creating the scratch database: %w: a drill restores into a scratch database on the same server, so the role needs CREATEDB (ALTER ROLE ... CREATEDB)", err)
		}
		return fmt.Errorf("creating the scratch database: %w", err)
	}
	return nil
}

// pgLiteral quotes a string constant (standard_conforming_strings, on by
// default since PostgreSQL 9.1).
func pgLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// dropDrillDatabase drops a scratch database, terminating whatever is still
// connected to it (a pg_restore being stopped). It refuses any name that
// is not a drill's. ctx should not be cancelled (the caller passes
// context.WithoutCancel): the drop must happen after a cancellation too.
func dropDrillDatabase(ctx context.Context, t *drivers.Target, name string) error {
	if err := refuseScratchName(name); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	fail := func(err error) error {
		return fmt.Errorf("the scratch database %s could not be dropped: %w; the next run tries again (its record stays in state_dir/tmp), or drop it by hand: DROP DATABASE IF EXISTS %s WITH (FORCE)", name, err, name)
	}
	conn, err := connect(ctx, t)
	if err != nil {
		return fail(err)
	}
	defer conn.Close(ctx)
	var num int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&num); err != nil {
		return fail(err)
	}
	drop := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize()
	if num >= 130000 {
		drop += " WITH (FORCE)"
	} else if _, err := conn.Exec(ctx, "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE datname = $1", name); err != nil {
		return fail(err)
	}
	if _, err := conn.Exec(ctx, drop); err != nil {
		return fail(err)
	}
	return nil
}
