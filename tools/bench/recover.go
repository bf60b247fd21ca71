package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The recovery scenario: issue 12's "time to recover the sandbox, against
// restoring by hand with the plain tools". After the everyday scenarios,
// one run of the database dump (db-dir) and the restic backup together
// makes a recovery point holding both; then, in pairs in alternating
// order, on an empty database and an empty root each time:
//
//   - recover: `alexandria-backup recover --yes --root ROOT`, which
//     creates the database, restores the dump in one transaction, restores
//     the library below ROOT through a staging directory, and proves both
//     (every table's row count against the dump's manifest; each file's
//     content by restic's --verify as it restores, then every node of the
//     snapshot in place by type and size);
//   - by hand: what an operator types from the guide, with restic's own
//     read-back of what it restored (`restore --verify`): createdb,
//     pg_restore of the newest dump in one transaction, restic restore of
//     the newest snapshot.
//
// Both restore from the run side's repository and dumps, with the run
// side's HOME (restic's cache), into a database of their own
// (recoverDB), which is dropped before each sample, as ROOT is emptied.

// recoveredTargets are the bench's targets whose point the scenario
// recovers: the dump in a directory and the restic backup of the library.
var recoveredTargets = []string{"db-dir", "restic"}

// recoverDB is the database both sides restore into: never the one the
// other scenarios back up.
const recoverDB = "bench_recovered"

// recoverByHand is the plain tools' recovery.
const recoverByHand = `psql --no-password --quiet --dbname="$ADMIN" --command="CREATE DATABASE $NEWDB"
dump=$(ls -1 "$DUMPS"/*.dump | sort | tail -n 1)
pg_restore --no-password --single-transaction --exit-on-error --no-owner --dbname="$TO" -- "$dump"
restic restore latest --host="$HOST" --tag=alexandria:restic --target="$ROOT" --verify
`

// recoveryResult is what the scenario measured.
type recoveryResult struct {
	point            usage // the run that made the point (one sample)
	recover, byHand  []usage
	libFiles, pairs  int
	libBytes, dbSize int64
}

// recovery runs the scenario; nil when the targets it needs (db-dir and
// restic) are not among those measured.
func (b *bencher) recovery(ctx context.Context, ts []target, pairs int, libBytes, dbBytes int64) (*recoveryResult, error) {
	for _, name := range recoveredTargets {
		if pairs < 1 || !slices.ContainsFunc(ts, func(t target) bool { return t.name == name }) {
			logf("recovery: skipped (it needs the targets %v, and -recover-pairs ≥ 1)", recoveredTargets)
			return nil, nil
		}
	}
	res := &recoveryResult{libFiles: b.lib.Files, pairs: pairs, libBytes: libBytes, dbSize: dbBytes}

	// The plan recover reads: the run side's, its database target
	// pointed at recoverDB (the same target names, state_dir and
	// repositories, so the run's point is found in its reports).
	lr := b.l
	lr.dbURL = b.srv.URL(recoverDB)
	recoverPlan := filepath.Join(b.l.work, "recover.toml")
	if err := os.WriteFile(recoverPlan, []byte(planTOML(lr, targets(lr))), 0o644); err != nil {
		return nil, err
	}
	root := filepath.Join(b.l.work, "recovered")
	env := append(b.env("run"), "ADMIN="+b.srv.URL("postgres"), "NEWDB="+recoverDB, "TO="+lr.dbURL,
		"DUMPS="+filepath.Join(b.l.run, "dumps"), "HOST="+b.l.host, "ROOT="+root,
		"RESTIC_REPOSITORY="+filepath.Join(b.l.run, "restic"), "RESTIC_PASSWORD_FILE="+b.l.resticPass)
	logFile, err := os.OpenFile(filepath.Join(b.l.logs, "recovery.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	step := func(argv []string) (usage, error) {
		fmt.Fprintf(logFile, "\n### %s %v\n", time.Now().Format(time.RFC3339Nano), argv)
		u, err := measure(ctx, argv, env, b.l.work, logFile)
		if err != nil {
			return u, fmt.Errorf("recovery: %w (log: %s)", err, logFile.Name())
		}
		return u, nil
	}

	logf("recovery: a run of db-dir and restic together (one recovery point holding both)")
	if res.point, err = step([]string{b.l.bin, "--config", b.l.plan, "--no-progress", "run", "bench", "--target", recoveredTargets[0], "--target", recoveredTargets[1]}); err != nil {
		return nil, err
	}
	clean := func() error {
		if err := b.srv.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+recoverDB); err != nil {
			return err
		}
		return os.RemoveAll(root)
	}
	sides := map[string][]string{
		"recover": {b.l.bin, "--config", recoverPlan, "--no-progress", "recover", "--yes", "--root", root},
		"by hand": bashArgv(recoverByHand),
	}
	for p := range pairs {
		order := []string{"recover", "by hand"}
		if p%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		var got [2]usage
		for _, side := range order {
			if err := clean(); err != nil {
				return nil, err
			}
			u, err := step(sides[side])
			if err != nil {
				return nil, err
			}
			if side == "recover" {
				res.recover, got[0] = append(res.recover, u), u
			} else {
				res.byHand, got[1] = append(res.byHand, u), u
			}
		}
		logf("  pair %d/%d recover %6.2fs  by hand %6.2fs  recover/by hand %.2f", p+1, pairs,
			got[0].wall.Seconds(), got[1].wall.Seconds(), got[0].wall.Seconds()/got[1].wall.Seconds())
	}
	return res, clean()
}

// print writes the scenario's section of the report.
func (r *recoveryResult) print(w io.Writer) {
	fmt.Fprintf(w, "### Recovery after losing the server\n\n")
	fmt.Fprintf(w, "One run of db-dir and restic together (%.1fs) made a recovery point holding the database's dump and the library's snapshot (%s files, %s; database %s). Then %d pairs, in alternating order, each side on an empty database and an empty root: *recover* is `alexandria-backup recover --yes --root ROOT` (it creates the database, restores the dump in one transaction, puts the library below ROOT through a staging directory, then proves every table's row count against the dump's manifest and, after restic's `--verify` checked each file's content as it restored it, every node of the snapshot in place by type and size); *by hand* is the plain tools, as the guide has an operator type them, with restic's own read-back of what it restored:\n\n```sh\n%s```\n\n",
		r.point.wall.Seconds(), thousands(r.libFiles), bytesStr(r.libBytes), bytesStr(r.dbSize), r.pairs, recoverByHand)
	fmt.Fprintf(w, "| | recover | by hand | recover / by hand |\n|---|---|---|---|\n")
	row := func(what string, f func(usage) float64, format string) {
		a, b := make([]float64, len(r.recover)), make([]float64, len(r.byHand))
		ratios := make([]float64, len(r.recover))
		for i := range r.recover {
			a[i], b[i] = f(r.recover[i]), f(r.byHand[i])
			ratios[i] = a[i] / b[i]
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", what, spread(a, format), spread(b, format), spread(ratios, "%.2f"))
	}
	row("wall time, s", func(u usage) float64 { return u.wall.Seconds() }, "%.2f")
	row("CPU time, s", func(u usage) float64 { return u.cpu.Seconds() }, "%.2f")
	row("bytes read (rchar), MB", func(u usage) float64 { return float64(u.rchar) / 1e6 }, "%.0f")
	fmt.Fprintf(w, "\nMedians (min–max) over the pairs; the ratio column is the median of the per-pair ratios.\n\n")
}
