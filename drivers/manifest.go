package drivers

// Dump manifests: what a dump holds (every table's exact row count, the
// dump's size and SHA-256), kept beside the dump, so that a restore can
// refuse a damaged dump and a drill can prove a restore exactly. pg_dump
// writes them; the stores a dump streams into (DumpStore) keep them.

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// ManifestVersion is the version of the manifest format written today.
const ManifestVersion = 1

// DumpManifest describes one dump: where it came from, exactly how many
// rows each table had in the snapshot the dump was taken from, and a
// checksum of the dump's bytes.
//
// It is stored as JSON beside a file dump (`<dump>.manifest.json`, see
// drivers/pgdump) and, for a streamed dump, in the repository next to it. The
// JSON field names are a contract: other tools and older versions read them.
type DumpManifest struct {
	Version int `json:"manifest_version"`
	// Target is the plan's target name.
	Target string `json:"target"`
	// Dump is the dump's base name (file or directory), without a path: a
	// manifest stays right when both are copied elsewhere together.
	Dump string `json:"dump"`
	// Format is pg_dump's format as the plan names it: custom, sql,
	// directory or tar (sql may be gzip-compressed: Dump ends in .sql.gz).
	Format string `json:"format"`
	// Bytes is the size of the dump (for a directory: of all its files).
	Bytes int64 `json:"bytes"`
	// SHA256 is hex SHA-256 of the dump's bytes: `sha256sum DUMP` for a
	// single file, or for a directory dump the SHA-256 of the sha256sum
	// listing of its files in byte order of their names,
	// `cd DUMP && LC_ALL=C sha256sum * | sha256sum` (see hashDump in drivers/pgdump).
	SHA256 string `json:"sha256"`
	// CreatedAt is when the dump's snapshot was taken.
	CreatedAt time.Time `json:"created_at"`
	// Database is the plan's database string (it never holds a password:
	// validation refuses one).
	Database string `json:"database"`
	// ServerVersion is the server's version string, e.g.
	// "15.18 (Debian 15.18-0+deb12u1)"; ServerVersionNum e.g. 150018.
	ServerVersion    string `json:"server_version"`
	ServerVersionNum int    `json:"server_version_num"`
	// PgDumpVersion is `pg_dump --version`, e.g.
	// "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)".
	PgDumpVersion string `json:"pg_dump_version"`
	// Snapshot is the exported snapshot pg_dump ran with (for the record:
	// it is meaningless once the transaction ended).
	Snapshot string `json:"snapshot"`
	// Point is the recovery point of the run that made the dump (see
	// drivers.NewPoint); "" outside a run.
	Point string `json:"point,omitempty"`
	// Tables are the exact row counts of every ordinary and partitioned
	// table outside the system schemas, sorted by schema and name.
	Tables []TableCount `json:"tables"`
}

// TableCount is the exact number of rows of one table.
type TableCount struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
	Rows   int64  `json:"rows"`
	// Partitioned marks a partitioned table: its count is the sum of its
	// partitions' rows (which are listed themselves too), so TotalRows
	// leaves it out.
	Partitioned bool `json:"partitioned,omitempty"`
}

// QualifiedName is schema.name, each part quoted only when it needs to be,
// for messages.
func (c TableCount) QualifiedName() string {
	return pgIdentForMessage(c.Schema) + "." + pgIdentForMessage(c.Name)
}

func pgIdentForMessage(s string) string {
	plain := s != ""
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '_' || (i > 0 && r >= '0' && r <= '9')) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return pgx.Identifier{s}.Sanitize()
}

// TotalRows is the number of rows in all tables, each row counted once.
func (m *DumpManifest) TotalRows() int64 {
	var n int64
	for _, c := range m.Tables {
		if !c.Partitioned {
			n += c.Rows
		}
	}
	return n
}

// Marshal renders the manifest as indented JSON ending in a newline.
func (m *DumpManifest) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseDumpManifest reads a manifest. It refuses a manifest of a newer
// format version (whose fields this version may misread) and one without a
// checksum.
func ParseDumpManifest(data []byte) (*DumpManifest, error) {
	var m DumpManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not a dump manifest: %w", err)
	}
	switch {
	case m.Version < 1:
		return nil, errors.New("not a dump manifest: no manifest_version")
	case m.Version > ManifestVersion:
		return nil, fmt.Errorf("manifest_version %d is newer than this alexandria-backup understands (%d)", m.Version, ManifestVersion)
	case len(m.SHA256) != sha256.Size*2:
		return nil, errors.New("the manifest has no valid sha256")
	}
	return &m, nil
}

// CheckSum compares a dump's size and SHA-256 with the manifest.
func (m *DumpManifest) CheckSum(bytes int64, sum string) error {
	if sum != m.SHA256 {
		return fmt.Errorf("its SHA-256 is %s but the manifest says %s (%d bytes now, %d in the manifest): the dump was damaged after it was written", sum, m.SHA256, bytes, m.Bytes)
	}
	if bytes != m.Bytes {
		return fmt.Errorf("it has %d bytes but the manifest says %d", bytes, m.Bytes)
	}
	return nil
}

// CompareCounts compares restored row counts with the manifest's, table by
// table, and returns one line per difference: a table whose count differs
// (naming both counts), a table that is missing, and one that the manifest
// does not know. No lines means an exact match.
func (m *DumpManifest) CompareCounts(restored []TableCount) []string {
	key := func(c TableCount) string { return c.Schema + "\x00" + c.Name }
	got := map[string]TableCount{}
	for _, c := range restored {
		got[key(c)] = c
	}
	var diffs []string
	for _, want := range m.Tables {
		have, ok := got[key(want)]
		delete(got, key(want))
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("table %s is missing (the manifest has %d rows)", want.QualifiedName(), want.Rows))
		case have.Rows != want.Rows:
			diffs = append(diffs, fmt.Sprintf("table %s has %d rows, the manifest says %d", want.QualifiedName(), have.Rows, want.Rows))
		}
	}
	var extra []TableCount
	for _, c := range got {
		extra = append(extra, c)
	}
	sortTableCounts(extra)
	for _, c := range extra {
		diffs = append(diffs, fmt.Sprintf("table %s (%d rows) is not in the manifest", c.QualifiedName(), c.Rows))
	}
	return diffs
}

func sortTableCounts(c []TableCount) {
	sort.Slice(c, func(i, j int) bool {
		if c[i].Schema != c[j].Schema {
			return c[i].Schema < c[j].Schema
		}
		return c[i].Name < c[j].Name
	})
}
