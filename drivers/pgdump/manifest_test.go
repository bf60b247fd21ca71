package pgdump

// Unit tests of the manifest, snapshot and restore building blocks (inside
// the package: they are unexported). The end-to-end tests are in
// pgdump_*_integration_test.go.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/pgserver"
	"github.com/jackc/pgx/v5"
)

func TestPgDumpManifestCompareCounts(t *testing.T) {
	m := &drivers.DumpManifest{Tables: []drivers.TableCount{
		{Schema: "public", Name: "books", Rows: 3000},
		{Schema: "public", Name: "users", Rows: 100},
		{Schema: "Odd Schema", Name: `we"ird`, Rows: 2},
		{Schema: "public", Name: "parts", Rows: 50, Partitioned: true},
		{Schema: "public", Name: "parts_1", Rows: 50},
	}}
	if got := m.TotalRows(); got != 3152 {
		t.Errorf("TotalRows = %d, want 3152 (partitioned parent not counted twice)", got)
	}
	same := append([]drivers.TableCount(nil), m.Tables...)
	for _, tc := range []struct {
		name     string
		restored []drivers.TableCount
		want     []string
	}{
		{"exact", same, nil},
		{"order does not matter", []drivers.TableCount{same[4], same[3], same[2], same[1], same[0]}, nil},
		{"one row fewer", pgReplaceCount(same, 0, drivers.TableCount{Schema: "public", Name: "books", Rows: 2999}),
			[]string{"table public.books has 2999 rows, the manifest says 3000"}},
		{"missing and extra", append(same[1:], drivers.TableCount{Schema: "public", Name: "book", Rows: 3000}),
			[]string{"table public.books is missing (the manifest has 3000 rows)", "table public.book (3000 rows) is not in the manifest"}},
		{"quoted names", pgReplaceCount(same, 2, drivers.TableCount{Schema: "Odd Schema", Name: `we"ird`, Rows: 0}),
			[]string{`table "Odd Schema"."we""ird" has 0 rows, the manifest says 2`}},
		{"nothing restored", nil, []string{
			"table public.books is missing (the manifest has 3000 rows)", "table public.users is missing (the manifest has 100 rows)",
			`table "Odd Schema"."we""ird" is missing (the manifest has 2 rows)`, "table public.parts is missing (the manifest has 50 rows)",
			"table public.parts_1 is missing (the manifest has 50 rows)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := m.CompareCounts(tc.restored)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func pgReplaceCount(c []drivers.TableCount, i int, v drivers.TableCount) []drivers.TableCount {
	out := append([]drivers.TableCount(nil), c...)
	out[i] = v
	return out
}

func TestPgDumpManifestParse(t *testing.T) {
	good := &drivers.DumpManifest{Version: 1, Dump: "database-20261126T020000Z.dump", Format: "custom", Bytes: 3,
		SHA256: strings.Repeat("ab", 32), Tables: []drivers.TableCount{{Schema: "public", Name: "books", Rows: 1}}}
	data, err := good.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"manifest_version": 1`, `"sha256": "abab`, `"tables": [`, `"rows": 1`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("manifest JSON lacks %s:\n%s", want, data)
		}
	}
	back, err := drivers.ParseDumpManifest(data)
	if err != nil || back.Dump != good.Dump || back.Tables[0] != good.Tables[0] {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	for _, tc := range []struct{ name, json, want string }{
		{"not json", "{", "not a dump manifest"},
		{"no version", `{"sha256":"` + strings.Repeat("ab", 32) + `"}`, "no manifest_version"},
		{"newer", `{"manifest_version":2,"sha256":"` + strings.Repeat("ab", 32) + `"}`, "newer than this"},
		{"no sha", `{"manifest_version":1}`, "no valid sha256"},
	} {
		if _, err := drivers.ParseDumpManifest([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	if err := good.CheckSum(3, strings.Repeat("cd", 32)); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("a wrong checksum passed: %v", err)
	}
	if err := good.CheckSum(4, good.SHA256); err == nil {
		t.Error("a wrong size passed")
	}
}

// writeManifest writes atomically (no temporary file left), 0600, beside
// the dump; readManifest says "none" for a dump without one.
func TestPgDumpManifestWriteRead(t *testing.T) {
	dir := t.TempDir()
	dump := filepath.Join(dir, "database-20261126T020000Z.dir")
	if m, err := readManifest(dump); m != nil || err != nil {
		t.Fatalf("no manifest yet: %v %v", m, err)
	}
	m := &drivers.DumpManifest{Version: 1, Dump: filepath.Base(dump), SHA256: strings.Repeat("0", 64)}
	if err := writeManifest(dump+"/", m); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "database-20261126T020000Z.dir.manifest.json" {
		t.Fatalf("dir holds %v", entries)
	}
	if fi, _ := entries[0].Info(); fi.Mode().Perm() != 0o600 {
		t.Errorf("manifest mode %v", fi.Mode().Perm())
	}
	back, err := readManifest(dump)
	if err != nil || back.Dump != m.Dump {
		t.Fatalf("%+v %v", back, err)
	}
	os.WriteFile(manifestPath(dump), []byte("garbage"), 0o600)
	if _, err := readManifest(dump); err == nil || !strings.Contains(err.Error(), "move it aside") {
		t.Fatalf("a damaged manifest: %v", err)
	}
}

// hashDump is what the manifest documents: sha256sum of a file, and for a
// directory the SHA-256 of `LC_ALL=C sha256sum *` run inside it.
func TestPgDumpHashDump(t *testing.T) {
	dir := t.TempDir()
	file := pgWriteTestFile(t, dir, "one.dump", "hello dump")
	n, sum, err := hashDump(file)
	want := sha256.Sum256([]byte("hello dump"))
	if err != nil || n != 10 || sum != hex.EncodeToString(want[:]) {
		t.Fatalf("file: %d %s %v", n, sum, err)
	}

	d := filepath.Join(dir, "database.dir")
	pgWriteTestFile(t, d, "toc.dat", "toc")
	pgWriteTestFile(t, d, "3001.dat.gz", "data one")
	pgWriteTestFile(t, d, "3002.dat.gz", "data two!")
	n, sum, err = hashDump(d)
	if err != nil || n != 3+8+9 {
		t.Fatalf("dir: %d %v", n, err)
	}
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("no sha256sum to compare with")
	}
	cmd := exec.Command("sha256sum", "--", "3001.dat.gz", "3002.dat.gz", "toc.dat")
	cmd.Dir = d
	listing, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if outer := sha256.Sum256(listing); sum != hex.EncodeToString(outer[:]) {
		t.Fatalf("directory hash %s is not sha256 of the sha256sum listing:\n%s", sum, listing)
	}
}

func pgWriteTestFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPgDumpDatabaseOn(t *testing.T) {
	for _, tc := range []struct{ plan, name, want string }{
		{"postgres://alexandria@db.example:5432/alexandria?sslmode=verify-full", "alexandria_drill_00",
			"postgres://alexandria@db.example:5432/alexandria_drill_00?sslmode=verify-full"},
		// A dbname in the query would win over the path: it must go.
		{"postgresql://u@h/alexandria?dbname=alexandria&sslmode=disable", "scratch", "postgresql://u@h/scratch?sslmode=disable"},
		{"host=/run/postgresql dbname=alexandria user=backup", "it's", `host=/run/postgresql dbname=alexandria user=backup dbname='it\'s'`},
		{"alexandria", "other", "other"},
	} {
		got, err := pgDatabaseOn(tc.plan, tc.name)
		if err != nil || got != tc.want {
			t.Errorf("pgDatabaseOn(%q, %q) = %q, %v; want %q", tc.plan, tc.name, got, err, tc.want)
		}
	}
	// A key=value string reaches the new name: the later keyword wins in pgx
	// (and libpq; the drill checks current_database() before restoring).
	s, _ := pgDatabaseOn("host=/run/postgresql dbname=alexandria", "scratch")
	cfg, err := pgx.ParseConfig(s)
	if err != nil || cfg.Database != "scratch" {
		t.Fatalf("%q parses to database %q (%v)", s, cfg.Database, err)
	}
}

func TestPgDumpRestoreTarget(t *testing.T) {
	tg := &drivers.Target{Name: "database", Settings: drivers.Values{"database": "postgres://alexandria@localhost/alexandria", "dir": "/d"}}
	for _, tc := range []struct{ req, want string }{
		{"", "postgres://alexandria@localhost/alexandria"},
		{"alexandria_test", "postgres://alexandria@localhost/alexandria_test"},
		{"host=/tmp dbname=x", "host=/tmp dbname=x"},
	} {
		got, err := pgRestoreTarget(tg, tc.req)
		if err != nil || got.Settings.Str("database") != tc.want {
			t.Errorf("pgRestoreTarget(%q) = %v, %v; want %q", tc.req, got, err, tc.want)
		}
	}
	if tg.Settings.Str("database") != "postgres://alexandria@localhost/alexandria" {
		t.Error("pgRestoreTarget changed the plan's target")
	}
	for _, db := range []string{"postgres://alexandria:hunter2@localhost/alexandria", "postgres://a@h/db?sslpassword=hunter2",
		"host=h password=hunter2 dbname=x"} {
		_, err := pgRestoreTarget(tg, db)
		if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "password") {
			t.Fatalf("a password in the restore database: %v", err)
		}
	}
}

// The argv of restores, pinned: exit on the first error, one transaction,
// --clean with --if-exists, the drill's --no-owner, the database as one
// --dbname word, the path last.
func TestPgDumpRestoreCommands(t *testing.T) {
	env := []proc.EnvVar{{Name: "PGPASSFILE", Value: "/tmp/pgpass-1"}}
	here := &drivers.Target{Settings: drivers.Values{}}
	docker := &drivers.Target{Settings: drivers.Values{"exec_prefix": []string{"docker", "exec", "-i", "db"}}}
	for _, tc := range []struct {
		name string
		cmd  proc.Command
		want string
	}{
		{"restore", pgRestoreCommand(here, "custom", "/b/database-1.dump", "postgres://a@h/db", pgRestoreOptions{}, env),
			"PGPASSFILE=/tmp/pgpass-1 pg_restore --format=custom --exit-on-error --single-transaction --no-password --dbname=postgres://a@h/db /b/database-1.dump"},
		{"clean", pgRestoreCommand(here, "directory", "/b/database-1.dir", "db", pgRestoreOptions{Clean: true}, nil),
			"pg_restore --format=directory --exit-on-error --single-transaction --clean --if-exists --no-password --dbname=db /b/database-1.dir"},
		{"drill", pgRestoreCommand(here, "tar", "/b/database-1.tar", "--file=/x", pgRestoreOptions{NoOwner: true}, nil),
			"pg_restore --format=tar --exit-on-error --single-transaction --no-owner --no-privileges --no-password --dbname=--file=/x /b/database-1.tar"},
		{"plain", psqlRestoreCommand(here, "host=/tmp dbname=x", strings.NewReader(""), nil),
			"psql --no-psqlrc --no-password --quiet --set=ON_ERROR_STOP=1 --file=- '--dbname=host=/tmp dbname=x'"},
		// Behind a prefix, the archive comes on standard input: no path.
		{"prefixed restore", pgRestoreCommand(docker, "custom", "/b/database-1.dump", "postgres://a@h/db", pgRestoreOptions{}, nil),
			"docker exec -i db pg_restore --format=custom --exit-on-error --single-transaction --no-password --dbname=postgres://a@h/db"},
		{"prefixed plain", psqlRestoreCommand(docker, "db", strings.NewReader(""), nil),
			"docker exec -i db psql --no-psqlrc --no-password --quiet --set=ON_ERROR_STOP=1 --file=- --dbname=db"},
	} {
		if got := tc.cmd.String(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
		if !tc.cmd.Codes.IsZero() {
			t.Errorf("%s: a restore's exit codes must not be reclassified (any non-zero is a failed restore)", tc.name)
		}
	}
}

// The plain-SQL input commits only after the whole dump, with its trailer
// (and a good gzip stream), was read.
func TestPgDumpSQLRestoreInput(t *testing.T) {
	dir := t.TempDir()
	complete := "SET x = 1;\nCREATE TABLE t ();\n--\n" + sqlTrailer + "\n--\n\n"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(complete))
	zw.Close()
	badGz := append([]byte(nil), gz.Bytes()...)
	badGz[len(badGz)-6] ^= 0xff // inside the CRC32
	for _, tc := range []struct {
		name, content, prelude string
		wantErr                string
	}{
		{"complete", complete, "", ""},
		{"with prelude", complete, "DROP SCHEMA x;\n", ""},
		{"truncated at a statement", complete[:strings.Index(complete, "--")], "", "is incomplete"},
		{"gzip", gz.String(), "", ""},
		{"gzip truncated", gz.String()[:gz.Len()/2], "", "unexpected EOF"},
		{"gzip bad checksum", string(badGz), "", "checksum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pgWriteTestFile(t, dir, strings.ReplaceAll(tc.name, " ", "-")+".sql", tc.content)
			r, c, err := sqlRestoreInput(p, tc.prelude)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			out, err := io.ReadAll(r)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
				if bytes.Contains(out, []byte("COMMIT")) {
					t.Fatalf("COMMIT sent after a failure:\n%s", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := "BEGIN;\n" + tc.prelude + complete + "\nCOMMIT;\n"
			if string(out) != want {
				t.Fatalf("input:\n%s\nwant:\n%s", out, want)
			}
		})
	}
}

// Nothing without the drill prefix is ever dropped, whatever the caller
// passes; the refusal comes before any connection.
func TestPgDumpDrillDropRefusesOtherNames(t *testing.T) {
	for _, name := range []string{"alexandria", "postgres", PgDrillPrefix, PgDrillPrefix + "0123", "x" + PgDrillPrefix + "0123456789abcdef",
		PgDrillPrefix + "0123456789abcdef; DROP DATABASE alexandria", PgDrillPrefix + "0123456789ABCDEF"} {
		err := dropDrillDatabase(context.Background(), nil, name)
		if err == nil || !strings.Contains(err.Error(), "refusing to drop") {
			t.Errorf("%q: got %v", name, err)
		}
	}
	if n := newPgDrillName(); !pgDrillName.MatchString(n) || len(n) > 63 {
		t.Errorf("newPgDrillName() = %q", n)
	}
}

// The snapshot API: counts are those of the exported snapshot, whatever was
// written after it was opened; Close ends it (twice is fine).
func TestPgDumpSnapshotCounts(t *testing.T) {
	t.Parallel()
	srv := pgserver.ForTest(t)
	ctx := context.Background()
	if err := srv.CreateDatabase(ctx, "snap"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Exec(ctx, "snap", `CREATE TABLE books (id int); INSERT INTO books SELECT generate_series(1, 1000);
		CREATE SCHEMA "Odd Schema"; CREATE TABLE "Odd Schema"."we""ird" (x int); INSERT INTO "Odd Schema"."we""ird" VALUES (1), (2);
		CREATE TABLE parts (id int) PARTITION BY RANGE (id);
		CREATE TABLE parts_1 PARTITION OF parts FOR VALUES FROM (0) TO (100); INSERT INTO parts SELECT generate_series(1, 50);
		CREATE TEMP TABLE not_counted (x int);`); err != nil {
		t.Fatal(err)
	}
	tg := &drivers.Target{Name: "database", Settings: drivers.Values{"database": srv.URL("snap")}}
	snap, err := openDumpSnapshot(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if snap.ID() == "" {
		t.Fatal("no snapshot id")
	}
	// Written after the snapshot: neither counted nor (with --snapshot) dumped.
	if err := srv.Exec(ctx, "snap", `INSERT INTO books SELECT generate_series(1, 500); INSERT INTO parts VALUES (7);
		CREATE TABLE later (x int)`); err != nil {
		t.Fatal(err)
	}
	counts, err := snap.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []drivers.TableCount{{Schema: "Odd Schema", Name: `we"ird`, Rows: 2}, {Schema: "public", Name: "books", Rows: 1000},
		{Schema: "public", Name: "parts", Rows: 50, Partitioned: true}, {Schema: "public", Name: "parts_1", Rows: 50}}
	if len(counts) != len(want) {
		t.Fatalf("counts %+v, want %+v", counts, want)
	}
	for i := range want {
		if counts[i] != want[i] {
			t.Errorf("counts[%d] = %+v, want %+v", i, counts[i], want[i])
		}
	}
	m := snap.Manifest(counts)
	if m.ServerVersionNum < 90200 || m.ServerVersion == "" || m.Snapshot != snap.ID() || m.Target != "database" || m.TotalRows() != 1052 {
		t.Errorf("manifest %+v", m)
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
	if err := snap.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := snap.Counts(ctx); err == nil {
		t.Fatal("counts after close")
	}
	// The snapshot is gone with its transaction.
	conn, err := pgx.Connect(ctx, srv.ConnString("snap"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, _ := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+snap.ID()+"'"); err == nil {
		t.Fatal("the snapshot is still importable after Close")
	}
}

// A read error while psql is fed (here: the dump is cut short) fails the
// command even though psql itself exits 0.
func TestPgDumpStdinErrorFailsCommand(t *testing.T) {
	if _, err := exec.LookPath("cat"); err != nil {
		t.Skip("no cat")
	}
	_, err := proc.ProcessExecutor{}.Run(context.Background(), proc.Command{Program: "cat", Stdin: io.MultiReader(strings.NewReader("x"), pgFailingReader{})})
	if err == nil || !errors.Is(err, pgErrCutShort) {
		t.Fatalf("got %v", err)
	}
}

var pgErrCutShort = errors.New("cut short")

type pgFailingReader struct{}

func (pgFailingReader) Read([]byte) (int, error) { return 0, pgErrCutShort }

func TestPgDumpSniffFormat(t *testing.T) {
	dir := t.TempDir()
	tarHeader := make([]byte, 512)
	copy(tarHeader, "toc.dat")
	copy(tarHeader[257:], "ustar\x0000")
	for _, tc := range []struct{ name, content, want string }{
		{"backup.sql", "PGDMP\x01\x0e", "custom"}, // the content wins over the name
		{"database-1.dump", "PGDMP\x01\x0e", "custom"},
		{"x.tar", string(tarHeader), "tar"},
		{"x.dump", "--\n-- PostgreSQL database dump\n", "sql"},
		{"x.sql.gz", "\x1f\x8b", "sql"},
		{"empty", "", "sql"},
	} {
		p := pgWriteTestFile(t, dir, tc.name, tc.content)
		if got, err := sniffDumpFormat(p); err != nil || got != tc.want {
			t.Errorf("%s: %q %v, want %q", tc.name, got, err, tc.want)
		}
	}
	d := filepath.Join(dir, "db.dir")
	os.Mkdir(d, 0o700)
	if _, err := sniffDumpFormat(d); err == nil {
		t.Error("a directory without toc.dat is a dump")
	}
	pgWriteTestFile(t, d, "toc.dat", "PGDMP")
	if got, err := sniffDumpFormat(d); err != nil || got != "directory" {
		t.Errorf("directory: %q %v", got, err)
	}
}
