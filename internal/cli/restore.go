package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "restore a target's backup; overwriting a database or a non-empty directory needs --yes",
		ArgsUsage: "TARGET",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "the backup to restore, by its `ID` as `snapshots TARGET` lists it (default: the latest); never a path from elsewhere: see --file"},
			&cli.StringFlag{Name: "file", Usage: "pg_dump targets: restore this dump file or directory `PATH` from anywhere; refused unless the manifest beside it holds its SHA-256 and it matches, or --unverified"},
			&cli.BoolFlag{Name: "unverified", Usage: "pg_dump targets: restore a dump whose SHA-256 cannot be checked against a manifest (none, or it does not match); a warning says it was not checked"},
			&cli.StringFlag{Name: "to", Usage: "file targets: restore into this `DIR` (must be empty unless --force)"},
			&cli.StringFlag{Name: "database", Usage: "pg_dump targets: restore into this `DSN` (default: the plan's database)"},
			&cli.BoolFlag{Name: "clean", Usage: "pg_dump targets: drop the database's existing objects first"},
			&cli.BoolFlag{Name: "force", Usage: "file targets: restore into a non-empty directory"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "confirm a destructive restore without asking"},
			waitFlag(), jsonFlag(),
		},
		Action: cmdRestore,
	}
}

func cmdRestore(c *cli.Context) error {
	e, t, err := pickOne(c)
	if err != nil {
		return err
	}
	req := drivers.RestoreRequest{From: c.String("from"), File: c.String("file"), Unverified: c.Bool("unverified"),
		To: c.String("to"), Database: c.String("database"), Clean: c.Bool("clean"), Force: c.Bool("force")}
	isDB := t.Facts().Role == drivers.RoleDatabase
	// A command target's restore_command decides where the data goes.
	ownCmd := t.Facts().Role == drivers.RoleCommand
	switch {
	case !isDB && (req.File != "" || req.Unverified):
		// restic, borg, rsync and rclone restore only their own backups,
		// which their tools check themselves.
		return usage("restore %s: --file and --unverified are for pg_dump targets; choose one of %s's backups with --from ID as `snapshots %s` lists it", t.Name, t.Name, t.Name)
	case req.From != "" && req.File != "":
		return usage("restore %s: give --from ID or --file PATH, not both", t.Name)
	case ownCmd && (req.To != "" || req.Force || req.Database != "" || req.Clean):
		return usage("restore %s: %s is restored by its own restore_command, which decides where the data goes; give no --to, --force, --database or --clean", t.Name, t.Name)
	case isDB && (req.To != "" || req.Force):
		return usage("restore %s: %s is a database target; restore it with --database DSN (default: the plan's database)", t.Name, t.Name)
	case !isDB && (req.Database != "" || req.Clean):
		return usage("restore %s: --database and --clean are for pg_dump targets; restore files with --to DIR", t.Name)
	case ownCmd:
	case !isDB && req.To == "":
		return usage("restore %s: say where with --to DIR (an empty directory; nothing is written outside it)", t.Name)
	case !isDB && !filepath.IsAbs(req.To):
		abs, err := filepath.Abs(req.To)
		if err != nil {
			return usage("--to: %v", err)
		}
		req.To = abs
	}

	// What would be overwritten, if anything.
	var destroys string
	if isDB {
		where := req.Database
		if where == "" {
			where = t.Settings.Str("database") + " (the plan's database)"
		}
		// Ask the database first: restoring into one with no tables
		// overwrites nothing, and without --clean the driver refuses one
		// with tables, so only --clean on a database that holds (or may
		// hold) tables needs confirming.
		var probe error = errors.New("cannot look inside it before restoring")
		if rc, ok := t.Impl.(drivers.RestoreChecker); ok {
			check := req
			check.Clean = false
			probe = rc.CheckRestore(c.Context, e.rt.Exec, t, check)
		}
		switch {
		case probe == nil:
			fmt.Fprintf(c.App.ErrWriter, "%s: database %s holds no tables: the restore creates them and overwrites nothing\n", t.Name, where)
		case !req.Clean:
			return fmt.Errorf("restore %s: %w; nothing was changed", t.Name, probe)
		default:
			destroys = "database " + where + ", dropping its existing objects first"
		}
	} else if ownCmd {
		destroys = "whatever its restore_command writes to"
	} else if req.Force && !emptyDir(req.To) {
		destroys = "files in the non-empty directory " + req.To
	}
	if destroys != "" && !c.Bool("yes") {
		if err := confirm(c, t.Name, destroys); err != nil {
			return err
		}
	}

	// Under the run lock: a run's retention must not remove what is being
	// restored, and its sweep must not remove the restore's temporary files.
	unlock, err := lockRun(c, e)
	if err != nil {
		return err
	}
	defer unlock()
	if req.Unverified {
		e.log.Warn("--unverified: the dump's SHA-256 is not checked against a manifest; a damaged or altered dump may be restored", "target", t.Name)
	}
	start := time.Now()
	res, err := e.plan.Restore(c.Context, t, req, e.rt)
	if err != nil {
		return fmt.Errorf("restore %s: %w", t.Name, err)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, restoreJSON{Target: t.Name, From: res.From, Where: proc.MaskURLPasswords(res.Where),
			Count: res.Files, Checked: !req.Unverified, DurationSeconds: seconds(time.Since(start))})
	}
	count := ""
	if res.Files >= 0 {
		count = fmt.Sprintf(" (%d %s)", res.Files, map[bool]string{true: "tables", false: "files"}[isDB])
	}
	if req.Unverified {
		count += "; its SHA-256 was not checked (--unverified)"
	}
	fmt.Fprintf(c.App.Writer, "%s: restored %s into %s%s\n", t.Name, res.From, res.Where, count)
	return nil
}

// restoreJSON is `restore --json`'s document. Count is the tables or
// files restored (-1: the tool did not say); Checked: the dump's SHA-256
// was checked (false only with --unverified).
type restoreJSON struct {
	Target          string  `json:"target"`
	From            string  `json:"from"`
	Where           string  `json:"where"`
	Count           int     `json:"count"`
	Checked         bool    `json:"checked"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// confirm asks for the target's name on a terminal; without one it refuses,
// having touched nothing, and says how to confirm.
func confirm(c *cli.Context, target, destroys string) error {
	return confirmTyping(c, "restore "+target, "This restore", target, destroys)
}

// confirmTyping asks for word on a terminal before command (what the
// messages call it) overwrites destroys; without a terminal it refuses,
// having touched nothing, and says how to confirm.
func confirmTyping(c *cli.Context, command, this, word, destroys string) error {
	in, ok := c.App.Reader.(*os.File)
	if !ok || !isTerminal(in) {
		return usage("%s would overwrite %s; nothing was changed. Run it again with --yes to confirm", command, destroys)
	}
	fmt.Fprintf(c.App.ErrWriter, "%s overwrites %s.\nType %q to go on: ", this, destroys, word)
	line, _ := bufio.NewReader(in).ReadString('\n')
	if strings.TrimSpace(line) != word {
		return usage("%s not confirmed; nothing was changed", command)
	}
	return nil
}

// emptyDir reports whether dir is missing or has no entries.
func emptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return true
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	return err == io.EOF
}
