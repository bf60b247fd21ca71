package cli

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/internal/doctor"
	"github.com/alexandria-backup/alexandria-backup/internal/schedule"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// opsCommands: `doctor`, `schedule`, shell completion and the man page.
func opsCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "doctor",
			Usage:     "check that the plan can run here: tools, database, repositories, secret files, free space, the run lock's holder (changes nothing)",
			ArgsUsage: "[TARGET...]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "plan", Usage: "check the targets of this plan"},
				&cli.DurationFlag{Name: "timeout", Value: 2 * time.Minute, Usage: "give up on a database or repository after `DUR`"},
			},
			Action: cmdDoctor,
		},
		{
			Name:      "schedule",
			Usage:     "print systemd units, an /etc/cron.d file or Kubernetes CronJobs that run the plans on their schedule",
			ArgsUsage: strings.Join(schedule.FormatNames, "|"),
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "plan", Usage: "only this plan"},
				&cli.DurationFlag{Name: "lock-wait", Value: 2 * time.Hour, Usage: "how long a scheduled run waits for another run's lock (run --wait)"},
				&cli.StringFlag{Name: "image", Value: "alexandria-backup:" + Version, Usage: "kubernetes: the container image"},
				&cli.StringFlag{Name: "time-zone", Usage: "kubernetes: the CronJob's time zone (default: this machine's, e.g. Europe/Berlin)"},
			},
			Action: cmdSchedule,
		},
		{
			Name:      "completion",
			Usage:     "print a shell completion script (e.g. source <(alexandria-backup completion bash))",
			ArgsUsage: "bash|zsh|fish",
			Action:    cmdCompletion,
		},
		{
			Name:            "man",
			Usage:           "print the man page (alexandria-backup man > alexandria-backup.1)",
			HideHelpCommand: true,
			Action:          cmdMan,
		},
		{
			// The completion scripts call this with the words typed so
			// far; it only prints candidates and never runs anything.
			Name:   "__complete",
			Hidden: true,
			Action: cmdComplete,
		},
	}
}

func cmdDoctor(c *cli.Context) error {
	e, targets, err := pick(c)
	if err != nil {
		return err
	}
	w := c.App.Writer
	checks := doctor.Run(c.Context, e.plan, targets, doctor.Options{
		Exec:    e.rt.Exec,
		Driver:  e.rt.Driver,
		Timeout: c.Duration("timeout"),
		Report:  func(ch doctor.Check) { fmt.Fprintln(w, ch) },
	})
	counts := map[doctor.Status]int{}
	for _, ch := range checks {
		counts[ch.Status]++
	}
	fmt.Fprintf(w, "doctor: %d ok, %d warnings, %d failed\n", counts[doctor.OK], counts[doctor.Warn], counts[doctor.Fail])
	if n := counts[doctor.Fail]; n > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("doctor: %d check(s) failed", n)}
	}
	return nil
}

func cmdSchedule(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	format, ok := schedule.Formats[a[0]]
	if !ok {
		return usage("schedule: %q is not one of %s", a[0], strings.Join(schedule.FormatNames, ", "))
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program's path: %w", err)
	}
	if strings.Contains(bin, "go-build") {
		e.log.Warn("this program runs from a temporary build directory; install it and run schedule from there", "path", bin)
	}
	config, err := filepath.Abs(e.plan.Path)
	if err != nil {
		return err
	}
	o := schedule.Options{Binary: bin, Config: config, Image: c.String("image"), TimeZone: c.String("time-zone")}
	if o.TimeZone == "" {
		o.TimeZone = localZone()
	}
	// Plans that start together queue for the run lock instead of failing.
	o.Wait = c.Duration("lock-wait")
	if os.Geteuid() != 0 {
		if u, err := user.Current(); err == nil {
			o.User = u.Username
		}
	}
	set, err := schedule.Jobs(e.plan, c.String("plan"), o)
	if err != nil {
		return usage("%v", err)
	}
	return format(c.App.Writer, set)
}

// localZone is this machine's time zone by its IANA name, for CronJobs:
// their times then mean what they mean in cron and systemd here.
func localZone() string {
	if tz := strings.TrimPrefix(os.Getenv("TZ"), ":"); tz != "" && !filepath.IsAbs(tz) {
		return tz
	}
	if b, err := os.ReadFile("/etc/timezone"); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	if link, err := os.Readlink("/etc/localtime"); err == nil {
		if _, zone, ok := strings.Cut(link, "zoneinfo/"); ok {
			return zone
		}
	}
	return "Etc/UTC"
}

func cmdCompletion(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	script, ok := completionScripts[a[0]]
	if !ok {
		return usage("completion: %q is not bash, zsh or fish", a[0])
	}
	_, err = fmt.Fprint(c.App.Writer, script)
	return err
}

// The scripts ask the program itself (`__complete -- WORDS...`) for
// candidates: commands, flags, and the plan and target names of the plan
// file in use.
var completionScripts = map[string]string{
	"bash": `# bash completion for alexandria-backup. Load it with
#   source <(alexandria-backup completion bash)
# or save it as /usr/share/bash-completion/completions/alexandria-backup.
_alexandria_backup() {
    local IFS=$'\n'
    COMPREPLY=($("${COMP_WORDS[0]}" __complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _alexandria_backup alexandria-backup
`,
	"zsh": `#compdef alexandria-backup
# zsh completion for alexandria-backup. Save it as _alexandria-backup in a
# directory of $fpath, or load it after compinit with
#   source <(alexandria-backup completion zsh)
_alexandria-backup() {
  local -a candidates
  candidates=("${(@f)$("${words[1]}" __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if [[ -n "${candidates[1]}" ]]; then
    compadd -a candidates
  else
    _files
  fi
}
if [[ "${funcstack[1]}" == "_alexandria-backup" ]]; then
  _alexandria-backup "$@"
else
  compdef _alexandria-backup alexandria-backup
fi
`,
	"fish": `# fish completion for alexandria-backup. Save it as
# ~/.config/fish/completions/alexandria-backup.fish, or load it with
#   alexandria-backup completion fish | source
function __alexandria_backup_complete
    set -l tokens (commandline -opc)
    set -l prog $tokens[1]
    set -e tokens[1]
    set -l cur (commandline -ct)
    set -q cur[1]; or set cur ''
    $prog __complete -- $tokens $cur 2>/dev/null
end
complete -c alexandria-backup -f -a '(__alexandria_backup_complete)'
complete -c alexandria-backup -s c -l config -r -F
`,
}

// cmdComplete prints the candidates for the last word, given the words
// typed after the program name.
func cmdComplete(c *cli.Context) error {
	for _, s := range completions(c.App, c.Args().Slice()) {
		fmt.Fprintln(c.App.Writer, s)
	}
	return nil
}

func completions(app *cli.App, words []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, before := words[len(words)-1], words[:len(words)-1]
	if cur == "=" {
		return nil // bash split "--plan=" at "="; it would replace the "="
	}
	var cmd *cli.Command
	config, pending := "", "" // pending: a flag waiting for its value
	positional := 0
	for _, w := range before {
		switch {
		case w == "=": // bash splits "--flag=value" into three words
		case pending != "":
			if pending == "config" {
				config = w
			}
			pending = ""
		case isFlag(w):
			f := lookupFlag(flagsOf(app, cmd), w)
			if f == nil {
				continue
			}
			name, value, inline := strings.Cut(strings.TrimLeft(w, "-"), "=")
			name = f.Names()[0]
			if takesValue(f) && !inline {
				pending = name
			} else if name == "config" {
				config = value
			}
		case cmd == nil:
			for _, c := range app.Commands {
				if c.HasName(w) {
					cmd = c
				}
			}
		default:
			positional++
		}
	}
	var cands []string
	switch {
	case pending != "":
		cands = flagValues(pending, config)
	case strings.HasPrefix(cur, "-"):
		seen := map[string]bool{}
		for _, f := range flagsOf(app, cmd) {
			if n := "--" + f.Names()[0]; !seen[n] {
				seen[n] = true
				cands = append(cands, n)
			}
		}
	case cmd == nil:
		cands = commandNames(app)
	case positional == 0 && strings.Contains(cmd.ArgsUsage, "|"):
		cands = strings.Split(cmd.ArgsUsage, "|")
	case strings.Contains(cmd.ArgsUsage, "TARGET"):
		cands = planNamesFrom(config, false)
	case positional == 0 && strings.Contains(cmd.ArgsUsage, "PLAN"):
		cands = planNamesFrom(config, true)
	}
	var out []string
	for _, s := range cands {
		if strings.HasPrefix(s, cur) {
			out = append(out, s)
		}
	}
	return out
}

func flagsOf(app *cli.App, cmd *cli.Command) []cli.Flag {
	if cmd == nil {
		return app.VisibleFlags()
	}
	return append(cmd.VisibleFlags(), app.VisibleFlags()...)
}

func flagValues(flag, config string) []string {
	switch flag {
	case "plan":
		return planNamesFrom(config, true)
	case "target":
		return planNamesFrom(config, false)
	case "log-level":
		return []string{"debug", "info", "warn", "error"}
	case "log-format":
		return []string{"text", "json"}
	}
	return nil // --config and the others: the shell offers files
}

// planNamesFrom lists the plans (or targets) of the plan file a command
// line would use; nothing when it cannot be read.
func planNamesFrom(config string, plans bool) []string {
	path, err := plan.Find(config)
	if err != nil {
		return nil
	}
	p, err := plan.Load(path)
	if err != nil {
		return nil
	}
	if !plans {
		return p.Order
	}
	names := planNames(p)
	sort.Strings(names)
	return names
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
