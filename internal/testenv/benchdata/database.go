package benchdata

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// schemaSQL: a wide table that holds most of the bytes (a catalogue with a
// text body per row, as descriptions and extracted text are) and a narrow
// one with many small rows (reading events), each with its indexes.
const schemaSQL = `
CREATE TABLE books (
	id         bigint PRIMARY KEY,
	title      text NOT NULL,
	author     text NOT NULL,
	body       text NOT NULL,
	meta       jsonb NOT NULL,
	updated_at timestamptz NOT NULL
);
CREATE INDEX books_author_idx ON books (author);
CREATE TABLE reading_events (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	book_id bigint NOT NULL REFERENCES books (id),
	user_id integer NOT NULL,
	kind    text NOT NULL,
	at      timestamptz NOT NULL
);
CREATE INDEX reading_events_book_idx ON reading_events (book_id);
`

// batchRows is how many books one INSERT adds; the size is checked after
// each batch.
const batchRows = 2000

// insertSQL adds books $1..$2 and three reading events per book, all
// derived from the seed $3 (md5 text compresses about as well as prose).
const insertSQL = `
WITH b AS (
	INSERT INTO books
	SELECT g,
	       'Title ' || md5($3::text || ':t:' || g),
	       'Author ' || (g % 5000),
	       (SELECT string_agg(md5($3::text || ':' || g || ':' || k), ' ') FROM generate_series(1, 24) k),
	       jsonb_build_object('pages', g % 900 + 10, 'lang', 'en', 'isbn', 9780000000000 + g),
	       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute'
	FROM generate_series($1::bigint, $2::bigint) g
	RETURNING id
)
INSERT INTO reading_events (book_id, user_id, kind, at)
SELECT b.id, (b.id * 7 + e) % 1000, (ARRAY['open', 'page', 'close'])[e],
       timestamptz '2026-06-01 00:00:00+00' + (b.id * 3 + e) * interval '1 second'
FROM b, generate_series(1, 3) e`

// Database is what BuildDatabase made.
type Database struct {
	Books, Events int64 // rows
	Bytes         int64 // pg_database_size
}

// BuildDatabase creates the schema in the empty database connString points
// to and adds books until the database holds at least size bytes.
func BuildDatabase(ctx context.Context, connString string, size, seed int64) (Database, error) {
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return Database{}, fmt.Errorf("benchdata: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, schemaSQL); err != nil {
		return Database{}, fmt.Errorf("benchdata: schema: %w", err)
	}
	var db Database
	for {
		if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&db.Bytes); err != nil {
			return db, fmt.Errorf("benchdata: %w", err)
		}
		if db.Bytes >= size {
			break
		}
		if _, err := conn.Exec(ctx, insertSQL, db.Books+1, db.Books+batchRows, fmt.Sprint(seed)); err != nil {
			return db, fmt.Errorf("benchdata: inserting books: %w", err)
		}
		db.Books += batchRows
		db.Events += 3 * batchRows
	}
	// Set hint bits and the visibility map now, and fresh statistics, so
	// the first measured dump does not pay for what loading left behind.
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
		return db, fmt.Errorf("benchdata: vacuum: %w", err)
	}
	return db, nil
}

// ChangeDatabase updates one book in every (modulus) from (seed, round), as
// a day of cataloguing does, and returns how many rows it updated.
func ChangeDatabase(ctx context.Context, connString string, round, modulus int, seed int64) (int64, error) {
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return 0, fmt.Errorf("benchdata: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tag, err := conn.Exec(ctx, `
UPDATE books
SET body = (SELECT string_agg(md5($3::text || ':' || id || ':' || $2::bigint || ':' || k), ' ') FROM generate_series(1, 24) k),
    updated_at = updated_at + interval '1 day'
WHERE id % $1::bigint = $2::bigint % $1::bigint`, modulus, round, fmt.Sprint(seed))
	if err != nil {
		return 0, fmt.Errorf("benchdata: changing books: %w", err)
	}
	return tag.RowsAffected(), nil
}
