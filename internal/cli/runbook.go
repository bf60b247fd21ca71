package cli

import (
	"fmt"
	"io"
	"slices"
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

// runbookLegend says how the runbook is read, by a person and by the test
// that executes it (runbook_test.go): commands are indented four spaces
// and run in the order printed; the ones that start with
// "alexandria-backup" use this tool, the block under a "# without
// alexandria-backup" comment does the same with the plain tools in one
// shell session; "  - " lines are steps a person takes.
const runbookLegend = `# How to read it: "  - " lines are steps you take; the lines indented four spaces below
# a step are its commands, run in the order printed. A block headed "# without
# alexandria-backup" does the same with the plain tools, in one shell session (later lines
# use the variables earlier ones set).`

// cmdRunbook prints the recovery procedures of the Alexandria backup guide
// for this plan: each step with this tool's command and, below it, the
// plain tool commands that work where this tool is not installed. Each
// procedure restores ONE database backup and ONE copy of the files: the
// ones `recover` chooses (recoverySources), never every target.
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
	group := c.String("plan")
	withPlan := func(args ...string) []string {
		if group != "" {
			return append(args, "--plan", proc.ShellQuote(group))
		}
		return args
	}
	// In plan order, as recover considers them.
	var ordered []*drivers.Target
	for _, name := range e.plan.Order {
		if i := slices.IndexFunc(targets, func(t *drivers.Target) bool { return t.Name == name }); i >= 0 {
			ordered = append(ordered, targets[i])
		}
	}
	var dbs, files, offsite, cmds []*drivers.Target
	for _, t := range ordered {
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
	db, lib, _ := recoverySources(ordered)
	cmd := func(line string) { fmt.Fprintf(w, "    %s\n", line) }
	plainSteps := func(steps []drivers.Step) {
		for _, s := range steps {
			cmd(drivers.StepLine(s))
		}
	}
	plain := func(t *drivers.Target) {
		cmd(fmt.Sprintf("# without alexandria-backup (%s, %s):", t.Name, t.Driver))
		plainSteps(drivers.PlainRestore(t))
	}
	hooks := func(argvs [][]string) string {
		var out []string
		for _, argv := range argvs {
			out = append(out, proc.Command{Program: argv[0], Args: argv[1:]}.String())
		}
		return strings.Join(out, "; ")
	}
	// How Alexandria is stopped and started: the plan's restore hooks
	// when it has them (recover runs them; restore does not).
	stopApp, startApp := "e.g. systemctl stop alexandria, or docker compose stop web", "e.g. systemctl start alexandria, or docker compose up -d"
	if len(e.plan.BeforeRestore) > 0 {
		stopApp = "as this plan's before_restore does: " + hooks(e.plan.BeforeRestore)
	}
	if len(e.plan.AfterRestore) > 0 {
		startApp = "as this plan's after_restore does: " + hooks(e.plan.AfterRestore)
	}
	startAfterRecover := "Start the services (" + startApp + ")."
	if len(e.plan.AfterRestore) > 0 {
		startAfterRecover = "Start the services, unless recover's after_restore did (" + hooks(e.plan.AfterRestore) + ")."
	}
	others := func(chosen *drivers.Target, all []*drivers.Target, what string) {
		var names []string
		for _, t := range all {
			if t != chosen {
				names = append(names, t.Name+" ("+t.Driver+")")
			}
		}
		if len(names) > 0 {
			cmd(fmt.Sprintf("# only this one: %s hold%s the same %s; restoring it too would restore it twice", strings.Join(names, ", "), map[bool]string{true: "", false: "s"}[len(names) > 1], what))
		}
	}

	fmt.Fprintf(w, "# Recovery runbook for %s\n", cfg)
	fmt.Fprintln(w, runbookLegend)
	fmt.Fprintf(w, "# What each target holds: %s; the recovery points: %s\n", ab("snapshots", "TARGET"), ab(withPlan("points")...))
	if len(ordered) == 0 {
		fmt.Fprintln(w, "# (no targets selected)")
		return nil
	}

	section(w, "1. Database corruption (the library files are intact)")
	if db == nil {
		fmt.Fprintln(w, "    (this plan has no database target)")
	} else {
		step(w, "Stop Alexandria, so nothing writes to the database while it is restored ("+stopApp+"). `restore` does not run before_restore: do it yourself.")
		step(w, fmt.Sprintf("Restore the newest dump of %s over the damaged database. The database exists and has tables, so --clean drops the dump's objects first and recreates them in one transaction; run no migrations, the dump holds the schema:", db.Name))
		cmd(ab("restore", db.Name, "--clean", "--yes"))
		others(db, dbs, "database")
		plain(db)
		step(w, "Start Alexandria again ("+startApp+"); `restore` does not run after_restore.")
	}

	section(w, "2. Complete server loss")
	step(w, "Install Alexandria, PostgreSQL, alexandria-backup and the backup tools on the new server; put this plan and its secret files back (they are not inside the backups). Do not run Alexandria's migrations and do not start it: the database is restored into an empty database, and the dump holds the schema.")
	// An offsite copy recover itself puts back (lib: an rclone mirror of
	// the library) is not brought back by hand first.
	offsite = slices.DeleteFunc(offsite, func(t *drivers.Target) bool { return t == lib })
	if len(offsite) > 0 {
		step(w, "If the local backup repositories were lost with the server, bring them back from offsite first:")
		for _, t := range offsite {
			cmd(ab("restore", t.Name, "--to", proc.ShellQuote(t.Settings.Str("source"))))
			plain(t)
		}
	}
	aroundHooks := ""
	if len(e.plan.BeforeRestore)+len(e.plan.AfterRestore) > 0 {
		aroundHooks = ", running this plan's before_restore and after_restore around it"
	}
	recoverStep := func() {
		step(w, fmt.Sprintf("Recover the newest recovery point in one command: it creates the database, restores the dump of %s into it (empty: before any migration), puts the library back from %s (%s) at %s, never over existing files, and proves both against the backups%s:",
			db.Name, lib.Name, lib.Driver, strings.Join(lib.Impl.(drivers.FileRecoverer).RecoverPaths(lib), ", "), aroundHooks))
		cmd(ab(withPlan("recover", "--yes")...))
	}
	switch {
	case db != nil && lib != nil:
		recoverStep()
		others(db, dbs, "database")
		others(lib, files, "library")
		cmd(fmt.Sprintf("# without alexandria-backup: the same two, %s (%s) and %s (%s), their newest backups:", db.Name, db.Driver, lib.Name, lib.Driver))
		for _, t := range []*drivers.Target{db, lib} {
			if pr, ok := t.Impl.(drivers.PlainRecoverer); ok && len(pr.PlainRecover(t)) > 0 {
				plainSteps(pr.PlainRecover(t))
				continue
			}
			cmd(fmt.Sprintf("# %s (%s), into an empty database created first (createdb):", t.Name, t.Driver))
			plainSteps(drivers.PlainRestore(t))
		}
	case db != nil:
		step(w, "recover needs a backup of the files it can put back (restic, borg, or an rsync or rclone mirror of a local source), which this plan lacks. Create the empty database (createdb), then restore the newest dump into it (before any migration):")
		cmd(ab("restore", db.Name, "--yes"))
		others(db, dbs, "database")
		plain(db)
		if len(files) > 0 {
			step(w, fmt.Sprintf("Bring the library back from %s:", files[0].Name))
			plain(files[0])
		}
	case len(files) > 0:
		step(w, fmt.Sprintf("This plan has no database target. Bring the library back from %s:", files[0].Name))
		plain(files[0])
	}
	if len(cmds) > 0 {
		step(w, "Restore what the application's own commands back up (each restore_command decides where it goes):")
		for _, t := range cmds {
			cmd(ab("restore", t.Name, "--yes"))
			plain(t)
		}
	}
	step(w, startAfterRecover)

	section(w, "3. Migrating to a new server")
	step(w, "On the old server, stop Alexandria first ("+stopApp+"), so nothing changes after the last backup.")
	step(w, "Still on the old server, take fresh backups:")
	runs := planNames(e.plan)
	if group != "" {
		runs = []string{group}
	}
	for _, g := range runs {
		cmd(ab("run", proc.ShellQuote(g)))
	}
	step(w, "On the new server: the backups must be reachable at the same places (the repositories, the dump directory); install and put back the plan and secret files as in 2, run no migrations, then recover the point just taken:")
	if db != nil && lib != nil {
		cmd(ab(withPlan("recover", "--yes")...))
	} else {
		cmd("# as in 2: this plan cannot use recover")
	}
	step(w, "Prove that the backups restore on the new server too:")
	cmd(ab(withPlan("drill")...))
	step(w, strings.TrimSuffix(startAfterRecover, ".")+", then point users at the new server.")

	section(w, "4. Testing the backups (do this regularly: a backup you haven't tested is not a backup)")
	step(w, "Restore into scratch space and compare with what was backed up; scratch databases and directories are removed afterwards:")
	cmd(ab(withPlan("drill")...))
	for _, t := range dbs {
		cmd(fmt.Sprintf("# %s: restores the newest dump into a scratch database and compares every table's row count with the dump's manifest", t.Name))
	}
	for _, t := range files {
		cmd(fmt.Sprintf("# %s: restores %d sampled files and compares them with the originals", t.Name, t.DrillSample))
	}
	return nil
}

func section(w io.Writer, title string) { fmt.Fprintf(w, "\n## %s\n", title) }

func step(w io.Writer, text string) { fmt.Fprintf(w, "\n  - %s\n", text) }
