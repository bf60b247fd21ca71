package pgdump

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/jackc/pgx/v5"
)

// drill_check is the application's own check of a drill's restore. Equal
// row counts prove the dump holds what was counted; only the application
// knows whether that makes sense to it (its migrations are there, its
// invariants hold). So once the counts matched, and before the scratch
// database is dropped, the operator's command runs against it, and its
// verdict is the drill's.

const drillCheckKey = "drill_check"

// The variables that point drill_check at the scratch database, besides
// libpq's PGDATABASE.
const (
	drillDSNVar    = "ALEXANDRIA_BACKUP_DRILL_DSN"
	drillDBNameVar = "ALEXANDRIA_DB_NAME"
)

// drillCheckTail is how many lines of the check's output a verdict shows.
const drillCheckTail = 8

// drillCheckCommand is drill_check run against the scratch database name,
// which scratchDB (the plan's `database` pointed at it) reaches. Besides
// env, the libpq environment the driver's own psql gets (the private
// pgpass made from password_file, the target's `env`), it gets
//
//   - PGDATABASE and ALEXANDRIA_DB_NAME: the scratch database's name;
//   - PGHOST, PGPORT, PGUSER: the server and role the drill's own
//     connection reached it with, so that a plain `psql` works even when
//     the plan's `database` is a URL naming them;
//   - ALEXANDRIA_BACKUP_DRILL_DSN: scratchDB as a libpq connection string
//     (a URL stays a URL, a bare name becomes dbname=NAME), with the
//     plan's options (sslmode ...). Never a password: `database` has none
//     (validation refuses it), which is checked again here.
//
// They come last: they win over the same names in `env` and the inherited
// environment, which may name the plan's own database.
func drillCheckCommand(t *drivers.Target, name, scratchDB string, env []proc.EnvVar) (proc.Command, error) {
	argv := t.Settings.List(drillCheckKey)
	if err := drivers.CheckArgv(drillCheckKey, argv); err != nil {
		return proc.Command{}, err // a Target built without plan.Load
	}
	connString, err := pgxConnString(scratchDB, t.Env)
	if err != nil {
		return proc.Command{}, drivers.KeyErr("database", "%v", err)
	}
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return proc.Command{}, drivers.KeyErr("database", "%v", err)
	}
	dsn := scratchDB
	if !isURL(dsn) && !strings.Contains(dsn, "=") {
		dsn = "dbname=" + kvQuote(dsn)
	}
	if checkNoPassword(dsn) != nil {
		return proc.Command{}, errors.New("the scratch database's connection string would hold a password; not running drill_check")
	}
	env = append(append([]proc.EnvVar{}, env...),
		proc.EnvVar{Name: "PGHOST", Value: cfg.Host},
		proc.EnvVar{Name: "PGPORT", Value: strconv.Itoa(int(cfg.Port))},
		proc.EnvVar{Name: "PGUSER", Value: cfg.User},
		proc.EnvVar{Name: "PGDATABASE", Value: name},
		proc.EnvVar{Name: drillDBNameVar, Value: name},
		proc.EnvVar{Name: drillDSNVar, Value: dsn},
	)
	return proc.Command{Program: argv[0], Args: argv[1:], Env: env}, nil
}

// drillCheckArgv is drill_check as shown in verdicts: shell-quoted, without
// the environment.
func drillCheckArgv(t *drivers.Target) string {
	argv := t.Settings.List(drillCheckKey)
	return proc.Command{Program: argv[0], Args: argv[1:]}.String()
}

// runDrillCheck runs drill_check against the scratch database (see
// drillCheckCommand) and returns what passed for the drill's detail, or
// an error naming drill_check, how it ended and the last lines it printed.
// ctx is the drill's: its timeout bounds the check too.
func runDrillCheck(ctx context.Context, x proc.Executor, t *drivers.Target, name, scratchDB string, env []proc.EnvVar) (string, error) {
	cmd, err := drillCheckCommand(t, name, scratchDB, env)
	if err != nil {
		return "", err
	}
	shown := drillCheckArgv(t)
	res, err := x.Run(ctx, cmd)
	// What it printed, both streams: a check may report on either. Its
	// standard error is already masked of URL passwords; so is this.
	printed := append(append(append([]byte{}, res.Stdout...), '\n'), res.Stderr...)
	tail := func(n int) string { return proc.MaskURLPasswords(proc.LastLines(printed, n)) }
	var tool *proc.ToolError
	switch {
	case err == nil:
		msg := "drill_check " + shown + " passed"
		if last := tail(1); last != "" {
			msg += ": " + last
		}
		return msg, nil
	case ctx.Err() != nil:
		return "", fmt.Errorf("drill_check %s: %w", shown, err)
	case errors.As(err, &tool):
		status := "exited " + strconv.Itoa(tool.ExitCode)
		if tool.Signal != "" {
			status = "was killed by " + tool.Signal
		}
		out := tail(drillCheckTail)
		if out == "" {
			out = "(no output)"
		}
		return "", fmt.Errorf("drill_check %s %s: %s", shown, status, out)
	}
	return "", fmt.Errorf("drill_check %s could not run: %w", shown, err)
}
