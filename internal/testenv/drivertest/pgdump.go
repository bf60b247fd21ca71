package drivertest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/pgserver"
)

type PgFixture struct {
	Srv *pgserver.Server
	Dir string
	X   proc.Executor
}

// NewPgFixture starts a real PostgreSQL (one per test) with a small
// "alexandria" database, and a fresh dump directory.
func NewPgFixture(t *testing.T) *PgFixture {
	RequireTool(t, "pg_dump", "pg_restore")
	srv := pgserver.ForTest(t)
	ctx := context.Background()
	if err := srv.CreateDatabase(ctx, "alexandria"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Exec(ctx, "alexandria", `
		CREATE TABLE books (id serial PRIMARY KEY, title text NOT NULL, body text);
		INSERT INTO books (title, body) SELECT 'Book ' || g, repeat(md5(g::text), 50) FROM generate_series(1, 3000) g;
		CREATE TABLE users (id serial PRIMARY KEY, name text);
		INSERT INTO users (name) SELECT 'reader ' || g FROM generate_series(1, 100) g;`); err != nil {
		t.Fatal(err)
	}
	return &PgFixture{Srv: srv, Dir: t.TempDir(), X: proc.ProcessExecutor{}}
}

func (f *PgFixture) Target(t *testing.T, settings drivers.Values) *drivers.Target {
	v := drivers.Values{"database": f.Srv.URL("alexandria"), "dir": filepath.Join(f.Dir, "dumps")}
	for k, x := range settings {
		v[k] = x
	}
	tmp := filepath.Join(f.Dir, "tmp")
	os.MkdirAll(tmp, 0o700)
	return &drivers.Target{Name: "database", Driver: "pg_dump", Impl: pgdump.Driver{}, Verify: true, Settings: v, TempDir: tmp}
}

// DirNames lists a directory's entries.
func DirNames(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// NewPgRestoreFixture is NewPgFixture plus what makes counting and
// restoring interesting: a second schema, names that need quoting, a
// partitioned table, an empty table.
func NewPgRestoreFixture(t *testing.T) *PgFixture {
	f := NewPgFixture(t)
	if err := f.Srv.Exec(context.Background(), "alexandria", `
		CREATE SCHEMA "Cata log";
		CREATE TABLE "Cata log"."Shelf ""A""" (id int PRIMARY KEY, label text);
		INSERT INTO "Cata log"."Shelf ""A""" SELECT g, 'shelf ' || g FROM generate_series(1, 7) g;
		CREATE TABLE loans (id int, at date) PARTITION BY RANGE (at);
		CREATE TABLE loans_2025 PARTITION OF loans FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
		CREATE TABLE loans_2026 PARTITION OF loans FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
		INSERT INTO loans SELECT g, date '2025-06-01' + g FROM generate_series(1, 400) g;
		CREATE TABLE empty_table (x int);`); err != nil {
		t.Fatal(err)
	}
	return f
}
