package pgdump

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

var _ drivers.RestoreProver = Driver{}

// ProveRestore counts every table of req.Database (default the plan's)
// exactly and compares the counts with the manifest of the dump req.From
// (default the newest), as a drill does with its scratch database: after
// `recover`, the database holds what the dump held, table by table. A dump
// without a manifest cannot prove anything: that is an error.
func (d Driver) ProveRestore(ctx context.Context, x proc.Executor, t *drivers.Target, req drivers.RestoreRequest) (drivers.RestoreProof, error) {
	m, name, err := d.dumpManifest(ctx, x, t, req.From)
	if err != nil {
		return drivers.RestoreProof{}, err
	}
	into, err := pgRestoreTarget(t, req.Database)
	if err != nil {
		return drivers.RestoreProof{}, err
	}
	conn, err := connect(ctx, into)
	if err != nil {
		return drivers.RestoreProof{}, err
	}
	counts, err := pgCountTables(ctx, conn)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return drivers.RestoreProof{}, err
	}
	if err := compareCounts(m, counts, name); err != nil {
		return drivers.RestoreProof{}, err
	}
	return drivers.RestoreProof{Checked: len(counts),
		Detail: fmt.Sprintf("%d tables, %d rows match the manifest of %s", len(counts), m.TotalRows(), name)}, nil
}

// dumpManifest reads the manifest of one of t's dumps (from, as
// `snapshots` lists it; "" the newest): beside it in `dir`, or out of the
// repository a streamed dump went into. It returns the dump's name too.
func (d Driver) dumpManifest(ctx context.Context, x proc.Executor, t *drivers.Target, from string) (*drivers.DumpManifest, string, error) {
	if t.Into != nil {
		store := streamStore(t)
		if err := store.Ready(t); err != nil {
			return nil, "", err
		}
		dump, err := streamFind(ctx, x, t, from)
		if err != nil {
			return nil, "", err
		}
		m, err := store.ReadManifest(ctx, x, t, dump)
		if err == nil && m == nil {
			err = fmt.Errorf("dump %s has no manifest, so its row counts cannot be compared", dump.ID)
		}
		return m, dump.ID, err
	}
	dump, err := d.resolveDump(t, from)
	if err != nil {
		return nil, "", err
	}
	m, err := readManifest(dump)
	if err == nil && m == nil {
		err = fmt.Errorf("%s has no manifest (%s), so its row counts cannot be compared", dump, filepath.Base(manifestPath(dump)))
	}
	return m, filepath.Base(dump), err
}
