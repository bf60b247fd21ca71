package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

func runbookCommand() *cli.Command {
	return &cli.Command{
		Name:   "runbook",
		Usage:  "print this plan's recovery procedures as exact commands",
		Flags:  []cli.Flag{planFlag()},
		Action: cmdRunbook,
	}
}

// cmdRunbook prints the recovery procedures of the Alexandria backup guide
// for this plan: each step with this tool's command and, beside it, the
// plain tool commands that work where this tool is not installed.
func cmdRunbook(c *cli.Context) error {
	e, targets, err := pick(c)
	if err != nil {
		return err
	}
	w := c.App.Writer
	cfg := e.plan.Path
	ab := func(args ...string) string {
		return "alexandria-backup --config " + proc.ShellQuote(cfg) + " " + strings.Join(args, " ")
	}
	var dbs, files, offsite, cmds []*drivers.Target
	for _, t := range targets {
		switch t.Facts().Role {
		case drivers.RoleDatabase:
			dbs = append(dbs, t)
		case drivers.RoleOffsite:
			offsite = append(offsite, t)
		case drivers.RoleCommand:
			cmds = append(cmds, t)
		default: // drivers.RoleFiles
			files = append(files, t)
		}
	}
	plain := func(t *drivers.Target) {
		fmt.Fprintf(w, "    # without alexandria-backup (%s, %s):\n", t.Name, t.Driver)
		for _, s := range drivers.PlainRestore(t) {
			fmt.Fprintf(w, "    %s\n", s)
		}
	}
	restoreDB := func(clean bool) {
		for _, t := range dbs {
			args := []string{"restore", t.Name}
			if clean {
				args = append(args, "--clean")
			}
			fmt.Fprintf(w, "    %s\n", ab(append(args, "--yes")...))
			plain(t)
		}
	}
	restoreFiles := func() {
		for _, t := range files {
			fmt.Fprintf(w, "    %s\n", ab("restore", t.Name, "--to", "/srv/restore/"+t.Name))
			fmt.Fprintf(w, "    # check it, then move it into place\n")
			plain(t)
		}
	}

	fmt.Fprintf(w, "# Recovery runbook for %s\n", cfg)
	fmt.Fprintf(w, "# Every restore first lists what exists: %s\n", ab("snapshots", "TARGET"))
	if len(dbs) == 0 && len(files) == 0 && len(offsite) == 0 && len(cmds) == 0 {
		fmt.Fprintln(w, "# (no targets selected)")
		return nil
	}

	section(w, "1. Database corruption (the library files are intact)")
	if len(dbs) == 0 {
		fmt.Fprintln(w, "    (this plan has no database target)")
	}
	step(w, "Stop the Alexandria web server, then restore the newest dump over the damaged database:")
	restoreDB(true)
	step(w, "Start the web server again (e.g. docker compose restart web).")

	section(w, "2. Complete server loss")
	step(w, "Install Alexandria, PostgreSQL, alexandria-backup and the backup tools on the new server; put this plan and its secret files back (they are not inside the backups).")
	if len(offsite) > 0 {
		step(w, "If the local backup repositories were lost with the server, bring them back from offsite first:")
		for _, t := range offsite {
			fmt.Fprintf(w, "    %s\n", ab("restore", t.Name, "--to", t.Settings.Str("source")))
			plain(t)
		}
	}
	step(w, "Create the empty database (and run the schema migrations if your setup needs them), then restore:")
	restoreDB(false)
	step(w, "Restore the library files:")
	restoreFiles()
	if len(cmds) > 0 {
		step(w, "Restore what the application's own commands back up (each restore_command decides where it goes):")
		for _, t := range cmds {
			fmt.Fprintf(w, "    %s\n", ab("restore", t.Name, "--yes"))
			plain(t)
		}
	}
	step(w, "Start the services (e.g. docker compose up -d).")

	section(w, "3. Migrating to a new server")
	step(w, "On the old server, take fresh backups:")
	for _, g := range planNames(e.plan) {
		fmt.Fprintf(w, "    %s\n", ab("run", g))
	}
	step(w, "On the new server, with the same plan and secret files, restore as in 2 (database, then files), then verify with a drill:")
	fmt.Fprintf(w, "    %s\n", ab("drill"))

	section(w, "4. Testing the backups (do this regularly: a backup you haven't tested is not a backup)")
	step(w, "Restore into scratch space and compare with what was backed up; scratch databases and directories are removed afterwards:")
	fmt.Fprintf(w, "    %s\n", ab("drill"))
	for _, t := range dbs {
		fmt.Fprintf(w, "    # %s: restores the newest dump into a scratch database and compares every table's row count with the dump's manifest\n", t.Name)
	}
	for _, t := range files {
		fmt.Fprintf(w, "    # %s: restores %d sampled files and compares them with the originals\n", t.Name, t.DrillSample)
	}
	return nil
}

func section(w io.Writer, title string) { fmt.Fprintf(w, "\n## %s\n", title) }

func step(w io.Writer, text string) { fmt.Fprintf(w, "\n  - %s\n", text) }
