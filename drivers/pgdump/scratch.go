package pgdump

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/atomicfile"
	"github.com/jackc/pgx/v5"
)

// A drill killed by SIGKILL (or the OOM killer, or a power loss) cannot
// drop its scratch database, which may be as large as the database it
// restored. So before creating it the drill records it in a marker file in
// the target's TempDir (state_dir/tmp), and removes the marker only once
// the database is dropped. The next command that takes the run lock finds
// the markers (nothing else of that state_dir runs then, so each is a dead
// drill's) and drops what they name with DropScratchDatabase.
//
// A marker, not the name prefix, says what may be dropped: other plan
// files and other hosts drill on the same server, and this state_dir's
// lock does not exclude them.

// ScratchMarker is what a marker file holds. It names the target, not its
// connection: the sweep reaches the server with the target's current
// settings (never a password written to disk), and checks that it is still
// the same server.
type ScratchMarker struct {
	Database  string    `json:"database"`
	Target    string    `json:"target"`
	Server    string    `json:"server"` // PgServer of the target when the drill ran
	PID       int       `json:"pid"`
	CreatedAt time.Time `json:"created_at"`
}

const scratchMarkerPrefix, scratchMarkerSuffix = "scratch-database-", ".json"

// IsScratchMarker reports whether a file name in a TempDir is a scratch
// database marker: the sweep of temporary files must leave it to the
// sweep of scratch databases.
func IsScratchMarker(name string) bool {
	return strings.HasPrefix(name, scratchMarkerPrefix) && strings.HasSuffix(name, scratchMarkerSuffix)
}

// ReadScratchMarker reads one marker file.
func ReadScratchMarker(path string) (ScratchMarker, error) {
	var m ScratchMarker
	data, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	if m.Database == "" || m.Target == "" {
		return m, fmt.Errorf("%s: names no database or no target", path)
	}
	return m, nil
}

// writeScratchMarker records the scratch database name of a drill of t
// and returns the marker's path. It is on disk (synced) before it returns:
// the database must never exist without it. Without a TempDir (a Target
// built by hand, as in tests) there is no marker, and "" is returned:
// nothing would ever read it.
func writeScratchMarker(t *drivers.Target, name string) (string, error) {
	if t.TempDir == "" {
		return "", nil
	}
	data, err := json.MarshalIndent(ScratchMarker{Database: name, Target: t.Name, Server: PgServer(t),
		PID: os.Getpid(), CreatedAt: time.Now().UTC().Truncate(time.Second)}, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(t.TempDir, scratchMarkerPrefix+name+scratchMarkerSuffix)
	if err := atomicfile.Write(path, append(data, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("recording the scratch database before creating it: %w", err)
	}
	return path, nil
}

// PgServer names the server a pg_dump target connects to, as host:port
// (host may be a socket directory), from its `database` and `env` as
// connect reads them; never with a password.
func PgServer(t *drivers.Target) string {
	connString, err := pgxConnString(t.Settings.Str("database"), t.Env)
	if err != nil {
		return "(unknown: " + err.Error() + ")"
	}
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return "(unknown: the database setting does not parse)"
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

// IsScratchName reports whether name is one a drill gives its scratch
// database: PgDrillPrefix and 16 hex digits. Nothing else is ever dropped.
func IsScratchName(name string) bool {
	return pgDrillName.MatchString(name)
}

// refuseScratchName is the one check between a name and DROP DATABASE.
func refuseScratchName(name string) error {
	if !IsScratchName(name) {
		return fmt.Errorf("refusing to drop database %q: only a drill's scratch database (%s<16 hex digits>) is ever dropped", name, PgDrillPrefix)
	}
	return nil
}

// DropScratchDatabase drops the scratch database name that a drill of the
// pg_dump target t left behind, connecting as the drill did (t's
// `database`, `env` and `password_file`). It refuses any name a drill does
// not make, before connecting; a database already gone is no error. ctx
// bounds the whole drop.
func DropScratchDatabase(ctx context.Context, t *drivers.Target, name string) error {
	if err := refuseScratchName(name); err != nil {
		return err
	}
	if t == nil || t.Driver != (Driver{}).Name() {
		return errors.New("only a pg_dump target's scratch database can be dropped")
	}
	return dropDrillDatabase(ctx, t, name)
}

// ScratchDropTimeout bounds the drop of one leftover scratch database: an
// unreachable server must not hold up the backup for long.
const ScratchDropTimeout = 30 * time.Second

// SweepMarker drops the scratch database a killed drill recorded in the
// marker at path, then removes the marker. When it cannot (the target is
// gone from the plan or now points to another server, the server does not
// answer) it says so and keeps the marker: the next run tries again. A
// marker naming a database no drill would create is refused, and kept.
func (Driver) SweepMarker(ctx context.Context, log *slog.Logger, path string, target func(string) *drivers.Target) bool {
	if !IsScratchMarker(filepath.Base(path)) {
		return false
	}
	m, err := ReadScratchMarker(path)
	if err != nil {
		log.Warn("could not read the record of a drill's scratch database", "path", path, "error", err)
		return true
	}
	keep := func(msg string, args ...any) {
		log.Warn(msg, append([]any{"database", m.Database, "server", m.Server, "target", m.Target, "marker", path}, args...)...)
	}
	if !IsScratchName(m.Database) {
		keep("refusing to drop a database that is not a drill's scratch database; remove the marker")
		return true
	}
	byHand := "DROP DATABASE IF EXISTS " + m.Database + " WITH (FORCE)" // safe: 16 hex digits
	t := target(m.Target)
	switch {
	case t == nil || t.Facts().Role != drivers.RoleDatabase:
		keep("an interrupted drill left a scratch database, and its target is no longer a pg_dump target of the plan: drop the database by hand, then remove the marker", "fix", byHand)
		return true
	case PgServer(t) != m.Server:
		keep("an interrupted drill left a scratch database on a server its target no longer uses: drop the database there by hand, then remove the marker",
			"fix", byHand, "target_server", PgServer(t))
		return true
	}
	dctx, cancel := context.WithTimeout(ctx, ScratchDropTimeout)
	err = DropScratchDatabase(dctx, t, m.Database)
	cancel()
	if err != nil {
		keep("could not drop the scratch database of an interrupted drill; the next run tries again", "error", err)
		return true
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		keep("dropped the scratch database of an interrupted drill, but could not remove its marker", "error", err)
		return true
	}
	log.Warn("removed a leftover of an interrupted run", "what", "scratch database of a drill", "database", m.Database, "server", m.Server, "target", m.Target, "path", path)
	return true
}
