package schedule

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// CronFile is where the cron file goes. cron ignores files in /etc/cron.d
// whose names contain a dot.
const CronFile = "/etc/cron.d/alexandria-backup"

// Cron gives an /etc/cron.d file with one line per scheduled plan.
func Cron(s *Set) (*Output, error) {
	var w strings.Builder
	if err := writeCron(&w, s); err != nil {
		return nil, err
	}
	return &Output{Files: []File{{Path: CronFile, Content: w.String()}}}, nil
}

func writeCron(w io.Writer, s *Set) error {
	user := s.Opts.User
	if user == "" {
		user = "root"
	}
	lines(w,
		"# "+CronFile,
		Marker(s.Opts.Config),
		"# The scheduled plans of "+s.Opts.Config+", written by",
		"# `alexandria-backup schedule cron`. `schedule cron --install` (as root) puts it in",
		"# "+CronFile+" (owned by root, mode 0644). cron mails what a job prints to",
		"# MAILTO: the tool prints nothing on success, and its warnings (exit 3: a partial",
		"# backup) and errors. `timeout` stops a run that hangs past its targets' timeouts",
		"# one after the other (6h for a target without one; 24h each for verify and drill),",
		"# the lock wait and 10 minutes: the tool then stops its tools and exits 143. Times",
		"# are this machine's local time.",
	)
	for _, j := range s.Jobs {
		if j.Group.IsCheck() {
			lines(w, "# A check plan's line (verify, drill) prints a line per target, so cron mails it on success too.")
			break
		}
	}
	for _, name := range s.Skipped {
		lines(w, fmt.Sprintf("# Plan %q has no schedule key: no line.", name))
	}
	lines(w,
		"SHELL=/bin/sh",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"MAILTO="+user,
	)
	for _, j := range s.Jobs {
		argv := append([]string{"timeout", "--kill-after=2m", timeoutSpan(j.Budget), s.Opts.Binary}, s.args(j)...)
		cmd, err := cronCommand(argv)
		if err != nil {
			return fmt.Errorf("plan %s: %v", j.Plan, err)
		}
		lines(w, "", fmt.Sprintf("# Plan %q: %s", j.Plan, j.describe()),
			fmt.Sprintf("%s %s %s", j.Expr.Source, user, cmd))
	}
	return nil
}

// cronCommand writes argv as the command of a cron line: cron hands it to
// /bin/sh, so every word is shell-quoted, and cron itself turns "%" into a
// newline unless it is escaped as "\%".
func cronCommand(argv []string) (string, error) {
	words := make([]string, len(argv))
	for i, a := range argv {
		if strings.ContainsAny(a, "\\\n\r") {
			// cron versions differ on what a backslash escapes.
			return "", fmt.Errorf("%q: cron cannot pass a backslash or a line break reliably", a)
		}
		words[i] = strings.ReplaceAll(proc.ShellQuote(a), "%", `\%`)
	}
	return strings.Join(words, " "), nil
}

// timeoutSpan writes d in one unit, as coreutils timeout reads it.
func timeoutSpan(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", (d+time.Second-1)/time.Second)
}
