package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/internal/audit"
	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/schedule"
	"github.com/alexandria-backup/alexandria-backup/internal/state"
)

// hostRootEnv points audit at another root for the installed schedules:
// an image being built, or a test's `schedule --install --root DIR`.
const hostRootEnv = "ALEXANDRIA_BACKUP_HOST_ROOT"

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "answer the guide's Backup Checklist, item by item, with the evidence and the fix; exit 1 when an item fails",
		Description: "Each item is ✓ (ok), ✗ (failed) or – (not applicable, or cannot be told from here), with what was read " +
			"(a plan key, a timer, the state, a backup's time) and the exact fix. It reads the plan, state_dir, the schedules " +
			"`schedule --install` put on this machine and, with --from-repositories, each target's newest backup in its " +
			"repository instead of state_dir. The host's root is / (" + hostRootEnv + " or --host-root for an image or a test).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON (id, title, status, evidence, fix per item; durations in seconds)"},
			&cli.DurationFlag{Name: "max-age", Value: audit.DefaultMaxAge, Usage: "the database's last backup must be younger than `DUR` (files and offsite copies: 8 days)"},
			&cli.DurationFlag{Name: "drill-within", Value: audit.DefaultDrillWithin, Usage: "each target's last drill must have passed within `DUR`"},
			&cli.BoolFlag{Name: "from-repositories", Usage: "judge freshness by the newest backup in each target's repository, dump directory or mirror instead of state_dir"},
			&cli.StringFlag{Name: "host-root", EnvVars: []string{hostRootEnv}, Value: "/", Hidden: true, Usage: "look for installed schedules under `DIR` (images, tests)"},
		},
		Action: cmdAudit,
	}
}

func cmdAudit(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	if c.Duration("max-age") <= 0 || c.Duration("drill-within") <= 0 {
		return usage("--max-age and --drill-within must be positive")
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	in, err := auditInput(e, c.String("host-root"))
	if err != nil {
		return err
	}
	in.MaxAge, in.DrillWithin = c.Duration("max-age"), c.Duration("drill-within")
	if c.Bool("from-repositories") {
		in.FromRepositories = true
		in.Newest, in.ListErrors, err = newestBackups(c, e)
		if err != nil {
			return err
		}
	}
	rep := audit.Run(in)
	if c.Bool("json") {
		out, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(c.App.Writer, string(out))
	} else {
		printAudit(c.App.Writer, rep)
	}
	if rep.Failed {
		return &exitError{code: exitFailed}
	}
	return nil
}

// auditInput is what audit judges from this host: the plan, its state
// and the schedules installed under root; freshness from the state.
func auditInput(e *env, root string) (*audit.Input, error) {
	s, err := state.Load(e.plan.StateDir)
	if err != nil {
		return nil, err // a damaged state file: exit 1, saying which
	}
	config, err := filepath.Abs(e.plan.Path)
	if err != nil {
		return nil, err
	}
	found, err := schedule.FindInstalled(root, config)
	if err != nil {
		e.log.Warn("cannot read every installed schedule", "root", root, "error", err)
	}
	return &audit.Input{Plan: e.plan, State: s, Now: time.Now(),
		Installed: found, HostRoot: root, InKubernetes: os.Getenv("KUBERNETES_SERVICE_HOST") != "",
		Cmd: "alexandria-backup -c " + config}, nil
}

// newestBackups lists each target's backups as `status
// --from-repositories` does (no repository lock, nothing under
// state_dir) and keeps the newest of known time.
func newestBackups(c *cli.Context, e *env) (map[string]time.Time, map[string]error, error) {
	done, err := listOnly(e)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	newest, failed := map[string]time.Time{}, map[string]error{}
	for _, name := range e.plan.Order {
		t := e.plan.Targets[name]
		snaps, err := e.plan.Snapshots(c.Context, t, e.rt)
		if err != nil {
			failed[name] = err
			continue
		}
		if n := newestKnown(snaps); n != nil {
			newest[name] = n.Time
		}
	}
	return newest, failed, nil
}

// printAudit prints each item: its mark and title, then its evidence and
// its fixes indented.
func printAudit(w io.Writer, rep *audit.Report) {
	failed := 0
	for _, it := range rep.Items {
		fmt.Fprintf(w, "%s %s\n", it.Status.Symbol(), it.Title)
		for _, ev := range it.Evidence {
			fmt.Fprintf(w, "    %s\n", ev)
		}
		for _, f := range it.Fix {
			fmt.Fprintf(w, "    fix: %s\n", f)
		}
		if it.Status == audit.Failed {
			failed++
		}
	}
	limits := fmt.Sprintf("database within %s, files and offsite within %s, drills within %s; freshness from %s",
		humanize.Duration(time.Duration(rep.DatabaseMaxAgeSeconds)*time.Second), humanize.Duration(time.Duration(rep.FilesMaxAgeSeconds)*time.Second),
		humanize.Duration(time.Duration(rep.DrillWithinSeconds)*time.Second), rep.Source)
	fmt.Fprintf(w, "\n%d of %d items failed (%s)\n", failed, len(rep.Items), limits)
}
