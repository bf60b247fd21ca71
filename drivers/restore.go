package drivers

import (
	"context"
	"fmt"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// RestoreRequest says what `restore` brings back and where.
type RestoreRequest struct {
	// From is the backup to restore, an ID exactly as `snapshots` lists it
	// for this target (for a pg_dump target in `dir`, also the dump's base
	// name); "" means the latest. It is never an arbitrary path: see File.
	From string
	// File is a pg_dump target's dump file or directory dump from anywhere
	// (a copy from another server, an old dump kept by hand). Like every
	// dump, it is restored only when the manifest beside it holds its
	// SHA-256, unless Unverified. Other drivers refuse it.
	File string
	// Unverified restores a pg_dump dump without checking its SHA-256
	// against a manifest (there is none, or the operator knows it does not
	// match). Without it, such a dump is refused.
	Unverified bool
	// To is the directory a file target restores into (absolute). It must
	// be empty unless Force is set; nothing is ever written outside it.
	To string
	// Database is where a pg_dump target restores (a URL, key=value string
	// or name); "" means the plan's database.
	Database string
	// Clean drops the database's existing objects before restoring; without
	// it, restoring into a database that has tables is refused.
	Clean bool
	// Force allows restoring into a non-empty directory.
	Force bool
	// Paths, for restic and borg targets, restores only these backed-up
	// paths (absolute, as the plan's `paths` names them) and what is
	// below them; empty means everything. `recover` restores each path
	// into a staging directory beside its destination. Each comes back
	// below To at its own path (To/srv/library/...), as restic and borg
	// lay it out; a mirror (rsync, rclone) holds one path, its source,
	// and with Paths it is laid out so too (without, its contents go
	// into To itself).
	Paths []string
	// Point, for a mirror, is the recovery point the restore (or its
	// proof) must bring back: a mirror holds only its newest state, so
	// it is refused unless the mirror's marker names that point. ""
	// takes the mirror as it is. Drivers whose backups are each one
	// point's (restic, borg, pg_dump: From names it) ignore it.
	Point string
	// CreateDatabase, for a pg_dump target, creates the database when the
	// server has none of that name (a new server after a complete loss),
	// owned by the role the target connects as; without it, a missing
	// database is an error.
	CreateDatabase bool
	// ContentVerified, for ProveRestore: the Restore that wrote these
	// files read every one back and checked its content against the
	// backup's own hashes as it went (RestoreResult.ContentVerified),
	// VerifiedFiles in all. A prover may then check that each file is in
	// place with its recorded type and size and that the counts agree,
	// without reading the backup's data a second time: on a 1 TB library
	// that second read would double the time to recover.
	ContentVerified bool
	VerifiedFiles   int
}

// RestoreResult says what was restored.
type RestoreResult struct {
	From  string // the backup that was restored
	Where string // the directory or database restored into
	Files int    // files or tables restored; -1 when unknown
	// ContentVerified: the restore read back every file it wrote and
	// checked it against the backup's hashes (restic's --verify); Files
	// is how many.
	ContentVerified bool
}

// Restorer is implemented by drivers that can restore (all of them).
type Restorer interface {
	Restore(ctx context.Context, x proc.Executor, t *Target, req RestoreRequest) (RestoreResult, error)
}

// RestoreChecker is implemented by drivers that can tell, changing
// nothing, whether Restore of req would be refused for the state of what
// it restores into (pg_dump: a database that has tables, without Clean).
// recover asks before its confirmation and before_restore, so such a
// refusal stops it before the application was stopped.
type RestoreChecker interface {
	CheckRestore(ctx context.Context, x proc.Executor, t *Target, req RestoreRequest) error
}

// DrillResult is the outcome of a restore drill that found nothing wrong.
type DrillResult struct {
	Artifact string // the backup drilled
	Checked  int    // tables or files compared
	Detail   string // one line for people: "12 tables, 18202 rows match the manifest"
}

// Driller is implemented by drivers that can prove a backup restores: they
// restore the latest backup into scratch space (a scratch database, a
// temporary directory), compare it with what was backed up, and always
// clean up, also on failure and cancellation. An error names what differs
// (the table and both counts, the file).
type Driller interface {
	Drill(ctx context.Context, x proc.Executor, t *Target) (DrillResult, error)
}

// RestoreProof is what a RestoreProver found when everything matched.
type RestoreProof struct {
	Checked int    // tables or files compared
	Detail  string // one line for people: "12 tables, 18202 rows match the manifest"
}

// RestoreProver is implemented by drivers that can prove a restore
// brought back exactly what the backup holds, by comparing what is now in
// place with the backup itself (not with the restore's own report):
//   - pg_dump: every table's row count in req.Database (default the
//     plan's) against the manifest of the dump req.From;
//   - file drivers: every regular file the backup req.From holds (only
//     below req.Paths when given) against the file at the same path below
//     req.To ("/" for the original places): its size and content.
//
// An error names what differs: the table and both counts, the file.
type RestoreProver interface {
	ProveRestore(ctx context.Context, x proc.Executor, t *Target, req RestoreRequest) (RestoreProof, error)
}

// FileRecoverer is implemented by file drivers whose backups `recover`
// puts back in their original places: each backed-up path is restored
// (RestoreRequest.Paths) into a staging directory beside its place, then
// renamed into it.
type FileRecoverer interface {
	// RecoverPaths are the absolute paths t's backups hold.
	RecoverPaths(t *Target) []string
	// RecoverRank orders the files targets of a recovery point, most
	// trustworthy source first (lowest): content-addressed snapshots that
	// check every chunk and carry their point before anything else.
	RecoverRank() int
}

// MirrorFrom checks a restore's --from against a mirror's one version: it
// may be empty or name the destination (trailing slashes aside).
func MirrorFrom(driver, from, dest string) error {
	if from == "" || strings.TrimRight(from, "/") == strings.TrimRight(dest, "/") {
		return nil
	}
	return fmt.Errorf("%s keeps one version, %s; --from %q names another (leave --from out)", driver, dest, from)
}
