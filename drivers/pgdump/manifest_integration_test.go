package pgdump_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/pgserver"
	"github.com/jackc/pgx/v5"
)

// pgCounts counts every user table of db exactly: "schema.table" → rows.
func pgCounts(t *testing.T, srv *pgserver.Server, db string) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.ConnString(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'`)
	if err != nil {
		t.Fatal(err)
	}
	var names [][2]string
	for rows.Next() {
		var s, n string
		rows.Scan(&s, &n)
		names = append(names, [2]string{s, n})
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	out := map[string]int64{}
	for _, n := range names {
		var c int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{n[0], n[1]}.Sanitize()).Scan(&c); err != nil {
			t.Fatal(err)
		}
		out[n[0]+"."+n[1]] = c
	}
	return out
}

func manifestCounts(m *drivers.DumpManifest) map[string]int64 {
	out := map[string]int64{}
	for _, c := range m.Tables {
		out[c.Schema+"."+c.Name] = c.Rows
	}
	return out
}

func sameCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func pgReadManifest(t *testing.T, dump string) *drivers.DumpManifest {
	t.Helper()
	data, err := os.ReadFile(dump + ".manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := drivers.ParseDumpManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func pgWriteManifest(t *testing.T, dump string, m *drivers.DumpManifest) {
	t.Helper()
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dump+".manifest.json", data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// pgFlipByte inverts one byte in the middle of a file, keeping its size and
// modification time.
func pgFlipByte(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// pgExecutor runs the real tools, calling before (if set) ahead of each,
// and running rewrite(c) instead of c when rewrite is set.
type pgExecutor struct {
	proc.ProcessExecutor
	before  func(ctx context.Context, c proc.Command)
	rewrite func(c proc.Command) proc.Command
}

func (p pgExecutor) Run(ctx context.Context, c proc.Command) (proc.Result, error) {
	if p.before != nil {
		p.before(ctx, c)
	}
	if p.rewrite != nil {
		c = p.rewrite(c)
	}
	return p.ProcessExecutor.Run(ctx, c)
}

// One server for the manifest tests (starting one costs about a second).
func TestPgDumpManifest(t *testing.T) {
	t.Parallel()
	f := drivertest.NewPgRestoreFixture(t)
	t.Run("written", func(t *testing.T) { testPgManifestWritten(t, f) })
	t.Run("verify checks it", func(t *testing.T) { testPgVerifyChecksManifest(t, f) })
	// Last: it writes to the source database.
	t.Run("snapshot consistency", func(t *testing.T) { testPgManifestSnapshotConsistency(t, f) })
}

// Every dump gets a manifest beside it: exact counts, versions, format,
// size and SHA-256 of the dump's bytes, 0600.
func testPgManifestWritten(t *testing.T, f *drivertest.PgFixture) {
	ctx := context.Background()
	d := pgdump.Driver{}
	want := pgCounts(t, f.Srv, "alexandria")
	for _, tc := range []struct {
		name, format string
		settings     drivers.Values
	}{
		{"custom", "custom", drivers.Values{}},
		{"sql.gz", "sql", drivers.Values{"format": "sql", "compress": 3}},
		{"directory", "directory", drivers.Values{"format": "directory", "jobs": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.settings["dir"] = filepath.Join(f.Dir, "manifest-"+tc.name)
			tg := f.Target(t, tc.settings)
			before := time.Now().Add(-time.Second)
			a, err := d.Backup(ctx, f.X, tg)
			if err != nil || len(a.Warnings) > 0 {
				t.Fatalf("%+v %v", a, err)
			}
			fi, err := os.Stat(a.ID + ".manifest.json")
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("manifest mode %v", fi.Mode().Perm())
			}
			m := pgReadManifest(t, a.ID)
			if !sameCounts(manifestCounts(m), want) {
				t.Errorf("manifest counts %v, live %v", manifestCounts(m), want)
			}
			if m.TotalRows() != 3000+100+7+400 {
				t.Errorf("total rows %d", m.TotalRows())
			}
			bytes, sum := pgHash(t, a.ID)
			if m.Bytes != bytes || m.SHA256 != sum || a.Bytes != bytes {
				t.Errorf("manifest says %d bytes %s, the dump is %d bytes %s (artifact %d)", m.Bytes, m.SHA256, bytes, sum, a.Bytes)
			}
			if m.Dump != filepath.Base(a.ID) || m.Format != tc.format || m.Database != f.Srv.URL("alexandria") || m.Target != "database" || m.Version != 1 {
				t.Errorf("manifest %+v", m)
			}
			if m.ServerVersionNum < 150000 || !strings.HasPrefix(m.ServerVersion, "15") || !strings.HasPrefix(m.PgDumpVersion, "pg_dump (PostgreSQL) ") || m.Snapshot == "" {
				t.Errorf("versions: %q %d %q %q", m.ServerVersion, m.ServerVersionNum, m.PgDumpVersion, m.Snapshot)
			}
			if m.CreatedAt.Before(before) || m.CreatedAt.After(time.Now()) {
				t.Errorf("created_at %v", m.CreatedAt)
			}
			// No password can be in it: the plan refuses one; and the JSON
			// keys are the documented ones.
			var raw map[string]any
			data, _ := os.ReadFile(a.ID + ".manifest.json")
			json.Unmarshal(data, &raw)
			for _, k := range []string{"manifest_version", "target", "dump", "format", "bytes", "sha256", "created_at", "database",
				"server_version", "server_version_num", "pg_dump_version", "snapshot", "tables"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("manifest has no %q", k)
				}
			}
			snaps, err := d.Snapshots(ctx, f.X, tg)
			if err != nil || len(snaps) != 1 || snaps[0].ID != a.ID || snaps[0].Info != "7 tables, 3507 rows" {
				t.Errorf("snapshots list manifests or miss the info: %+v %v", snaps, err)
			}
		})
	}
}

// pgHash is sha256sum of a file, or the documented digest of a directory
// dump (sha256sum listing of its files, hashed).
func pgHash(t *testing.T, path string) (int64, string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() {
		b, _ := os.ReadFile(path)
		s := sha256.Sum256(b)
		return int64(len(b)), hex.EncodeToString(s[:])
	}
	entries, _ := os.ReadDir(path) // sorted by name
	var listing strings.Builder
	var total int64
	for _, e := range entries {
		n, s := pgHash(t, filepath.Join(path, e.Name()))
		total += n
		listing.WriteString(s + "  " + e.Name() + "\n")
	}
	s := sha256.Sum256([]byte(listing.String()))
	return total, hex.EncodeToString(s[:])
}

// The counts come from the dump's own snapshot: rows inserted after the
// snapshot was exported, before pg_dump ran and before the counts were
// taken, are in neither the manifest nor the dump, while the live table has
// them. The restored dump and the manifest agree exactly.
func testPgManifestSnapshotConsistency(t *testing.T, f *drivertest.PgFixture) {
	ctx := context.Background()
	inserted := false
	x := pgExecutor{before: func(ctx context.Context, c proc.Command) {
		if c.Program != "pg_dump" || inserted || len(c.Args) == 1 && c.Args[0] == "--version" {
			return
		}
		snapshot := false
		for _, a := range c.Args {
			snapshot = snapshot || strings.HasPrefix(a, "--snapshot=")
		}
		if !snapshot {
			t.Errorf("pg_dump runs without --snapshot: %s", c.String())
		}
		inserted = true
		if err := f.Srv.Exec(ctx, "alexandria", `INSERT INTO books (title) SELECT 'late ' || g FROM generate_series(1, 500) g;
			INSERT INTO loans VALUES (9999, '2026-03-01'); CREATE TABLE too_late (x int)`); err != nil {
			t.Error(err)
		}
	}}
	d := pgdump.Driver{}
	tg := f.Target(t, drivers.Values{"dir": filepath.Join(f.Dir, "consistency")})
	a, err := d.Backup(ctx, x, tg)
	if err != nil {
		t.Fatal(err)
	}
	if !inserted {
		t.Fatal("the concurrent insert did not happen")
	}
	m := pgReadManifest(t, a.ID)
	live := pgCounts(t, f.Srv, "alexandria")
	if got := manifestCounts(m)["public.books"]; got != 3000 || live["public.books"] != 3500 {
		t.Fatalf("manifest counts books %d (want 3000, the snapshot's), live %d (want 3500)", got, live["public.books"])
	}
	if _, ok := manifestCounts(m)["public.too_late"]; ok {
		t.Fatal("a table created after the snapshot is in the manifest")
	}
	if err := f.Srv.CreateDatabase(ctx, "restored"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{Database: "restored"}); err != nil {
		t.Fatal(err)
	}
	if restored := pgCounts(t, f.Srv, "restored"); !sameCounts(restored, manifestCounts(m)) {
		t.Fatalf("restored %v, manifest %v", restored, manifestCounts(m))
	}
	// And a drill agrees.
	res, err := d.Drill(ctx, f.X, tg)
	if err != nil || res.Checked != 7 {
		t.Fatalf("drill: %+v %v", res, err)
	}
}

// Retention removes a dump's manifest with it (never leaving a manifest
// without its dump); a dry run removes neither.
func TestPgDumpManifestPrunedWithDump(t *testing.T) {
	dir := t.TempDir()
	names := []string{"database-20261120T010000Z.dump", "database-20261121T010000Z.sql.gz", "database-20261122T010000Z.dir"}
	for _, n := range names {
		if strings.HasSuffix(n, ".dir") {
			drivertest.WriteFile(t, filepath.Join(dir, n), "toc.dat", "x", 0o600)
		} else {
			drivertest.WriteFile(t, dir, n, "x", 0o600)
		}
		drivertest.WriteFile(t, dir, n+".manifest.json", "{}", 0o600)
	}
	drivertest.WriteFile(t, dir, "other-20261120T010000Z.dump.manifest.json", "{}", 0o600)
	tg := &drivers.Target{Name: "database", Settings: drivers.Values{"dir": dir, "keep_last": 1}}
	res, err := pgdump.Driver{}.Prune(context.Background(), nil, tg, true)
	if err != nil || len(res.Removed) != 2 || len(drivertest.DirNames(t, dir)) != 7 {
		t.Fatalf("dry run: %+v %v %v", res, err, drivertest.DirNames(t, dir))
	}
	if _, err := (pgdump.Driver{}).Prune(context.Background(), nil, tg, false); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(drivertest.DirNames(t, dir), " ")
	if got != "database-20261122T010000Z.dir database-20261122T010000Z.dir.manifest.json other-20261120T010000Z.dump.manifest.json" {
		t.Fatalf("left %s", got)
	}
}

// With a manifest, verify catches what reading the dump cannot: a flipped
// byte in an uncompressed SQL dump still reads back and has its trailer.
func testPgVerifyChecksManifest(t *testing.T, f *drivertest.PgFixture) {
	ctx := context.Background()
	d := pgdump.Driver{}
	tg := f.Target(t, drivers.Values{"format": "sql", "dir": filepath.Join(f.Dir, "verify")})
	a, err := d.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(ctx, f.X, tg, drivers.Artifact{}); err != nil {
		t.Fatalf("verify of a good dump: %v", err)
	}
	pgFlipByte(t, a.ID)
	err = d.Verify(ctx, f.X, tg, drivers.Artifact{})
	if err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("verify passed a dump with a flipped byte: %v", err)
	}
	t.Logf("verify failed as it must: %v", err)
	// Without the manifest only the read-back is left, and it passes: the
	// manifest is what catches this.
	os.Remove(a.ID + ".manifest.json")
	if err := d.Verify(ctx, f.X, tg, drivers.Artifact{}); err != nil {
		t.Logf("(the read-back alone also failed: %v)", err)
	}
}
