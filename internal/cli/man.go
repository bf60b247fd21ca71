package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func manCommand() *cli.Command {
	return &cli.Command{
		Name:            "man",
		Usage:           "print the man page (alexandria-backup man > alexandria-backup.1)",
		HideHelpCommand: true,
		Action:          cmdMan,
	}
}

// cmdMan prints the man page generated from the command definitions, with
// the sections cli does not write.
func cmdMan(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	app := c.App
	saved, savedTemplate := app.Description, cli.MarkdownDocTemplate
	app.Description, cli.MarkdownDocTemplate = manDescription, cli.MarkdownDocTemplate+manSections
	defer func() { app.Description, cli.MarkdownDocTemplate = saved, savedTemplate }()
	page, err := app.ToManWithSection(1)
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(app.Writer, page)
	return err
}

const manDescription = `**alexandria-backup** backs up a self-hosted Alexandria library, its PostgreSQL database and its tree of book files, by running pg_dump, restic, borg, rsync and rclone from one TOML plan. Every run backs up, verifies what it wrote, applies retention and reports every target's outcome; one target's failure never stops the others.

The plan file is the one given with **--config**, else $ALEXANDRIA_BACKUP_CONFIG, else ./alexandria-backup.toml, else /etc/alexandria-backup/alexandria-backup.toml. Flags may come before or after a command's arguments. **doctor** checks that a plan can run on this machine; **schedule** prints the systemd units, cron file or Kubernetes CronJobs that run its plans unattended.`

// manSections follow the commands. The exit codes are SPEC.md's.
const manSections = `

# EXIT STATUS

**0**
: every target succeeded

**1**
: at least one target failed (the others still ran), or a doctor check failed

**2**
: usage error or invalid plan; nothing ran

**3**
: finished with warnings only (e.g. rsync 24 vanished files, restic 3 unreadable files)

**75**
: another run holds the lock; nothing ran

**130**, **143**
: interrupted by SIGINT or SIGTERM; the tools were stopped and nothing partial was kept

# ENVIRONMENT

**ALEXANDRIA_BACKUP_CONFIG**
: the plan file, when **--config** is not given

# FILES

/etc/alexandria-backup/alexandria-backup.toml
: the plan file, when neither **--config** nor $ALEXANDRIA_BACKUP_CONFIG names one

/var/lib/alexandria-backup
: the default state_dir as root (run reports, logs, the run lock); ~/.local/state/alexandria-backup otherwise

# SEE ALSO

pg_dump(1), restic(1), borg(1), rsync(1), rclone(1), systemd.timer(5), crontab(5)
`
