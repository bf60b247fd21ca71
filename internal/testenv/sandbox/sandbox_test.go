package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/testenv/pgserver"
	"github.com/jackc/pgx/v5"
)

// treeEntry describes one file or directory for tree comparisons.
type treeEntry struct {
	mode  fs.FileMode
	mtime time.Time
	size  int64
	sum   string // sha256 of the content, files only
}

func readTree(t *testing.T, root string) map[string]treeEntry {
	t.Helper()
	tree := map[string]treeEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := treeEntry{mode: fi.Mode(), mtime: fi.ModTime()}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			e.size, e.sum = fi.Size(), hex.EncodeToString(s[:])
		}
		tree[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func TestGenerateLibraryDeterministic(t *testing.T) {
	const books, seed = 150, 42
	dirA, dirB := t.TempDir(), t.TempDir()
	filesA, bytesA, err := GenerateLibrary(dirA, books, seed)
	if err != nil {
		t.Fatal(err)
	}
	filesB, bytesB, err := GenerateLibrary(dirB, books, seed)
	if err != nil {
		t.Fatal(err)
	}
	if filesA != filesB || bytesA != bytesB {
		t.Fatalf("runs differ: %d files/%d bytes vs %d files/%d bytes", filesA, bytesA, filesB, bytesB)
	}

	a, b := readTree(t, dirA), readTree(t, dirB)
	for p, ea := range a {
		if eb, ok := b[p]; !ok {
			t.Errorf("%s: only in first tree", p)
		} else if ea != eb {
			t.Errorf("%s: %+v vs %+v", p, ea, eb)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			t.Errorf("%s: only in second tree", p)
		}
	}

	// The reported totals match the tree, and the tree has the promised
	// shape.
	var files int
	var size int64
	sums := map[string]int{}
	for p, e := range a {
		if e.mode.IsDir() {
			continue
		}
		files++
		size += e.size
		sums[e.sum]++
		if e.mtime.After(time.Now().Add(-24*time.Hour)) || e.mtime.Before(epoch) {
			t.Errorf("%s: mtime %v not in the fabricated past", p, e.mtime)
		}
		switch {
		case strings.HasPrefix(p, "books/"):
			if e.size < 2<<10 || e.size > 60<<10 {
				t.Errorf("%s: size %d outside 2–60 KiB", p, e.size)
			}
		case strings.HasPrefix(p, "covers/"):
			if e.size < 1<<10 || e.size > 8<<10 || !strings.HasSuffix(p, ".jpg") {
				t.Errorf("%s: size %d outside 1–8 KiB or not a .jpg", p, e.size)
			}
		case strings.HasPrefix(p, ".returns/"), strings.HasPrefix(p, "cache/"):
		default:
			t.Errorf("%s: unexpected file", p)
		}
	}
	if files != filesA || size != bytesA {
		t.Errorf("GenerateLibrary reported %d files/%d bytes, tree has %d/%d", filesA, bytesA, files, size)
	}
	dups := 0
	for _, n := range sums {
		if n > 1 {
			dups++
		}
	}
	if dups == 0 {
		t.Error("no duplicate files")
	}
	for _, d := range []string{".returns", "cache", "covers"} {
		if e, ok := a[d]; !ok || !e.mode.IsDir() {
			t.Errorf("missing directory %s", d)
		}
	}

	// A different seed gives a different library.
	dirC := t.TempDir()
	if _, _, err := GenerateLibrary(dirC, books, seed+1); err != nil {
		t.Fatal(err)
	}
	if c := readTree(t, dirC); fmt.Sprint(c) == fmt.Sprint(a) {
		t.Error("seed has no effect")
	}
}

func TestLoadSchema(t *testing.T) {
	ctx := t.Context()
	srv := pgserver.ForTest(t)
	if err := srv.CreateDatabase(ctx, "alexandria"); err != nil {
		t.Fatal(err)
	}
	const books, seed = 400, 7
	start := time.Now()
	counts, err := LoadSchema(ctx, srv.ConnString("alexandria"), books, seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("LoadSchema(%d books) took %v: %v", books, time.Since(start), counts)

	conn, err := pgx.Connect(ctx, srv.ConnString("alexandria"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	// Every base table is reported, with its exact row count.
	rows, err := conn.Query(ctx, `SELECT schemaname, tablename FROM pg_tables
		WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []pgx.Identifier
	for rows.Next() {
		var schema, name string
		if err := rows.Scan(&schema, &name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, pgx.Identifier{schema, name})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(tables) != len(counts) {
		t.Errorf("database has %d tables, LoadSchema reported %d", len(tables), len(counts))
	}
	for _, id := range tables {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+id.Sanitize()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		key := id[0] + "." + id[1]
		if got, ok := counts[key]; !ok || got != n {
			t.Errorf("%s: LoadSchema reported %d (present: %v), count(*) = %d", key, got, ok, n)
		}
		if n == 0 {
			t.Errorf("%s is empty", key)
		}
	}
	if counts["public.books"] != books || counts["public.users"] != books/20 {
		t.Errorf("books %d, users %d; want %d, %d", counts["public.books"], counts["public.users"], books, books/20)
	}

	// The view works, and the standalone sequence advanced with the rows.
	var viewRows, lastCatalogueNo int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM public.book_catalog").Scan(&viewRows); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT last_value FROM public.catalogue_number_seq").Scan(&lastCatalogueNo); err != nil {
		t.Fatal(err)
	}
	if viewRows != books || lastCatalogueNo != 100000+books-1 {
		t.Errorf("book_catalog has %d rows, catalogue_number_seq at %d", viewRows, lastCatalogueNo)
	}

	// book_files describes exactly the books/ files GenerateLibrary writes
	// with the same arguments.
	lib := t.TempDir()
	if _, _, err := GenerateLibrary(lib, books, seed); err != nil {
		t.Fatal(err)
	}
	rows, err = conn.Query(ctx, "SELECT path, size, sha256 FROM public.book_files")
	if err != nil {
		t.Fatal(err)
	}
	var path string
	var size int64
	var sum []byte
	n := 0
	_, err = pgx.ForEachRow(rows, []any{&path, &size, &sum}, func() error {
		n++
		b, err := os.ReadFile(filepath.Join(lib, path))
		if err != nil {
			return err
		}
		s := sha256.Sum256(b)
		if int64(len(b)) != size || !bytes.Equal(s[:], sum) {
			t.Errorf("%s: size %d sha256 %x in the database, %d %x on disk", path, size, sum, len(b), s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	onDisk := 0
	for p, e := range readTree(t, lib) {
		if strings.HasPrefix(p, "books/") && !e.mode.IsDir() {
			onDisk++
		}
	}
	if n != onDisk {
		t.Errorf("book_files has %d rows, books/ has %d files", n, onDisk)
	}

	// Loading twice fails cleanly rather than duplicating data.
	if _, err := LoadSchema(ctx, srv.ConnString("alexandria"), books, seed); err == nil {
		t.Error("second LoadSchema into the same database succeeded")
	}
}
