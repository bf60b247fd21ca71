package pgdump

// Dump manifests: what a dump holds, written beside it, so that a restore
// can refuse a damaged dump and a drill can prove a restore exactly.
//
// The pieces are meant to be reused by every way of making a dump (a file in
// `dir`, or a stream into restic or borg):
//
//	snap, err := openDumpSnapshot(ctx, t)   // REPEATABLE READ tx, snapshot exported
//	defer snap.Close()
//	... run pg_dump with "--snapshot="+snap.ID() (dumpCommand does) ...
//	counts, err := snap.Counts(ctx)          // exact counts, same snapshot as the dump
//	snap.Close()                             // release the snapshot as soon as possible
//	m := snap.Manifest(counts)               // then fill in Dump, Format, Bytes, SHA256, PgDumpVersion
//	data, err := m.Marshal()                 // or writeManifest(dumpPath, m) for a file dump
//
// and on the way back m.CheckDump(path) / m.CheckSum(bytes, sha256) before a
// restore, and m.CompareCounts(restored) after a drill's restore.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/stamped"
	"github.com/jackc/pgx/v5"
)

// dumpSnapshot is an open REPEATABLE READ, READ ONLY transaction whose
// snapshot has been exported with pg_export_snapshot(). pg_dump run with
// --snapshot=ID() while it stays open dumps exactly what Counts counts, even
// while the application keeps writing. Close it as soon as pg_dump has
// finished and Counts was taken: an open snapshot holds back vacuum.
//
// It is not safe for concurrent use (one pgx connection): call Counts from
// one goroutine, before or after pg_dump ran, not both at once.
type dumpSnapshot struct {
	conn             *pgx.Conn
	tx               pgx.Tx
	id               string
	createdAt        time.Time
	database         string
	target           string
	serverVersion    string
	serverVersionNum int
}

// openDumpSnapshot connects with the target's settings (as pg_dump will)
// and opens the transaction. The session gets the settings pg_dump gives
// its own: no statement, lock or idle timeout (the transaction stays idle
// for as long as the dump takes), and row_security off, so a table whose
// rows row-level security would hide makes the count fail as it makes
// pg_dump fail, instead of quietly counting fewer rows.
func openDumpSnapshot(ctx context.Context, t *drivers.Target) (*dumpSnapshot, error) {
	conn, err := connect(ctx, t)
	if err != nil {
		return nil, err
	}
	s := &dumpSnapshot{conn: conn, createdAt: drivers.Now().UTC(), database: t.Settings.Str("database"), target: t.Name}
	fail := func(what string, err error) (*dumpSnapshot, error) {
		s.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// Through pg_settings, so a server without one of them (older than
	// 9.6 has no idle_in_transaction_session_timeout) is no error.
	if _, err := conn.Exec(ctx, `SELECT pg_catalog.set_config(name, CASE name WHEN 'row_security' THEN 'off' ELSE '0' END, false)
		FROM pg_catalog.pg_settings
		WHERE name IN ('statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'row_security')`); err != nil {
		return fail("preparing the snapshot session", err)
	}
	s.tx, err = conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fail("opening the snapshot transaction", err)
	}
	err = s.tx.QueryRow(ctx, "SELECT pg_export_snapshot(), current_setting('server_version'), current_setting('server_version_num')::int").
		Scan(&s.id, &s.serverVersion, &s.serverVersionNum)
	if err != nil {
		return fail("exporting the snapshot", err)
	}
	return s, nil
}

// ID is the exported snapshot's identifier, for pg_dump --snapshot.
func (s *dumpSnapshot) ID() string { return s.id }

// Counts counts the rows of every table in the snapshot, exactly.
func (s *dumpSnapshot) Counts(ctx context.Context) ([]drivers.TableCount, error) {
	if s.tx == nil {
		return nil, errors.New("the snapshot is closed")
	}
	return pgCountTables(ctx, s.tx)
}

// Manifest starts the dump's manifest with what the snapshot knows; the
// caller adds Dump, Format, Bytes, SHA256 and PgDumpVersion.
func (s *dumpSnapshot) Manifest(counts []drivers.TableCount) *drivers.DumpManifest {
	return &drivers.DumpManifest{
		Version: drivers.ManifestVersion, Target: s.target, CreatedAt: s.createdAt, Database: s.database,
		ServerVersion: s.serverVersion, ServerVersionNum: s.serverVersionNum, Snapshot: s.id, Tables: counts,
	}
}

// Close ends the transaction (releasing the snapshot) and the connection.
// It is safe to call more than once, and works after ctx was cancelled.
func (s *dumpSnapshot) Close() error {
	if s.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s.tx != nil {
		s.tx.Rollback(ctx) // read only: nothing to keep
		s.tx = nil
	}
	err := s.conn.Close(ctx)
	s.conn = nil
	return err
}

// pgQuerier is what pgCountTables needs: a *pgx.Conn or a pgx.Tx.
type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// userTablesSQL lists the ordinary ('r') and partitioned ('p') tables
// outside the system schemas (pg_catalog, information_schema, pg_toast*,
// other sessions' pg_temp_*), sorted.
const userTablesSQL = `
SELECT n.nspname, c.relname, c.relkind = 'p'
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"`

// pgListTables returns the user tables (Rows left 0).
func pgListTables(ctx context.Context, q pgQuerier) ([]drivers.TableCount, error) {
	rows, err := q.Query(ctx, userTablesSQL)
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (drivers.TableCount, error) {
		var c drivers.TableCount
		err := r.Scan(&c.Schema, &c.Name, &c.Partitioned)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	return tables, nil
}

// pgCountTables counts every user table exactly with count(*) (the planner's
// reltuples is an estimate, -1 before the first ANALYZE). Ordinary tables
// are counted with ONLY, so rows of old-style inheritance children are not
// counted twice; a partitioned table's count includes its partitions.
func pgCountTables(ctx context.Context, q pgQuerier) ([]drivers.TableCount, error) {
	tables, err := pgListTables(ctx, q)
	if err != nil {
		return nil, err
	}
	for i, c := range tables {
		only := "ONLY "
		if c.Partitioned {
			only = ""
		}
		sql := "SELECT count(*) FROM " + only + pgx.Identifier{c.Schema, c.Name}.Sanitize()
		if err := q.QueryRow(ctx, sql).Scan(&tables[i].Rows); err != nil {
			return nil, fmt.Errorf("counting the rows of %s: %w", c.QualifiedName(), err)
		}
	}
	return tables, nil
}

// manifestPath is where a file dump's manifest lives: beside it (also beside
// a directory dump, not inside it, so it is not part of what it describes).
func manifestPath(dump string) string {
	return strings.TrimRight(dump, string(filepath.Separator)) + ".manifest.json"
}

// writeManifest stores m beside an already promoted dump: written to a
// temporary name (0600), synced, renamed into place, directory synced. It
// must run only after the dump is in place: a dump without a manifest is
// still a good dump (restore works, a drill says it cannot compare), while a
// manifest without its dump must never exist. Retention removes the
// manifest first for the same reason.
func writeManifest(dump string, m *drivers.DumpManifest) error {
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	final := manifestPath(dump)
	tmp := stamped.PartialPath(final)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	stamped.SyncDir(filepath.Dir(final))
	return nil
}

// readManifest reads the manifest beside a file dump; (nil, nil) when there
// is none (dumps made before manifests existed, or whose manifest could not
// be written).
func readManifest(dump string) (*drivers.DumpManifest, error) {
	data, err := os.ReadFile(manifestPath(dump))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := drivers.ParseDumpManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (move it aside to use the dump without its manifest)", manifestPath(dump), err)
	}
	return m, nil
}

// hashDump reads a dump whole and returns its size and hex SHA-256 (see
// DumpManifest.SHA256 for directory dumps): a read of its own, which
// readBack saves for custom and plain SQL dumps.
func hashDump(path string) (int64, string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, "", err
	}
	if !fi.IsDir() {
		return hashDumpFile(path, sha256.New())
	}
	var names []string
	err = filepath.WalkDir(path, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			rel, err := filepath.Rel(path, p)
			if err != nil {
				return err
			}
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	sort.Strings(names)
	var total int64
	listing := sha256.New()
	for _, n := range names {
		size, sum, err := hashDumpFile(filepath.Join(path, filepath.FromSlash(n)), sha256.New())
		if err != nil {
			return 0, "", err
		}
		total += size
		fmt.Fprintf(listing, "%s  %s\n", sum, n)
	}
	return total, hex.EncodeToString(listing.Sum(nil)), nil
}

// checkDump hashes the dump at path (a full read) and compares it with the
// manifest.
func checkDump(m *drivers.DumpManifest, path string) error {
	bytes, sum, err := hashDump(path)
	if err != nil {
		return err
	}
	if err := m.CheckSum(bytes, sum); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

func hashDumpFile(path string, h hash.Hash) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	n, err := io.Copy(h, bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return 0, "", fmt.Errorf("reading %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
