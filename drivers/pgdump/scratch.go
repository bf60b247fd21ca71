package pgdump

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
