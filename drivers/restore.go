package drivers

import "context"

// RestoreRequest says what `restore` brings back and where.
type RestoreRequest struct {
	// From is the backup to restore: a dump file, snapshot id or archive
	// name as `snapshots` lists it; "" means the latest.
	From string
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
}

// RestoreResult says what was restored.
type RestoreResult struct {
	From  string // the backup that was restored
	Where string // the directory or database restored into
	Files int    // files or tables restored; -1 when unknown
}

// Restorer is implemented by drivers that can restore (all of them).
type Restorer interface {
	Restore(ctx context.Context, x Executor, t *Target, req RestoreRequest) (RestoreResult, error)
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
	Drill(ctx context.Context, x Executor, t *Target) (DrillResult, error)
}
