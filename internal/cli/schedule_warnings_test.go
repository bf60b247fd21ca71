package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What cron runs, it mails only when the tool prints something. The line
// `schedule cron` writes, run as written (off a terminal, as cron runs
// it): a run that ends in warnings (exit 3: here the backup program's own
// "some files were unreadable", and a backup that was not verified so
// retention was skipped) prints them; a run that is ok, including a
// target with no retention to skip, prints nothing.
func TestScheduledRunsAreNotSilentOnWarnings(t *testing.T) {
	requireTool(t, "sh")
	dir := t.TempDir()
	planPath := filepath.Join(dir, "plan.toml")
	os.WriteFile(planPath, []byte(`state_dir = "`+filepath.Join(dir, "state")+`"
[targets.partial]
driver = "command"
command = ["sh", "-c", "echo data > \"$1\"; echo 'cannot read /srv/library/locked.epub' >&2; exit 3", "sh", "{output}"]
dir = "`+filepath.Join(dir, "partial")+`"
exit_codes = { warning = [3] }

[targets.unverified]
driver = "command"
command = ["sh", "-c", "echo data > \"$1\"", "sh", "{output}"]
dir = "`+filepath.Join(dir, "unverified")+`"
verify = false
keep_last = 2

[targets.plain]
driver = "command"
command = ["sh", "-c", "echo data > \"$1\"", "sh", "{output}"]
dir = "`+filepath.Join(dir, "plain")+`"
verify = false

[plans.partial]
targets = ["partial"]
schedule = "daily"

[plans.unverified]
targets = ["unverified"]
schedule = "daily"

[plans.plain]
targets = ["plain"]
schedule = "daily"
`), 0o600)
	code, cron, stderr := runCLI(t, "-c", planPath, "schedule", "cron")
	if code != 0 {
		t.Fatalf("schedule cron: exit %d\n%s", code, stderr)
	}
	argv := map[string][]string{}
	for _, line := range strings.Split(cron, "\n") {
		f := strings.Fields(line)
		i := strings.Index(line, " run ")
		if len(f) < 6 || strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		// "m h dom mon dow user timeout ... BINARY --config PLAN run ... PLANNAME"
		for j, a := range f {
			if a == "--config" {
				argv[f[len(f)-1]] = f[j:]
				break
			}
		}
	}
	for _, c := range []struct {
		plan  string
		code  int
		print []string // what stderr must say; none: it must be empty
	}{
		{"partial", 3, []string{"cannot read /srv/library/locked.epub"}},
		{"unverified", 3, []string{"retention skipped"}},
		{"plain", 0, nil},
	} {
		a := argv[c.plan]
		if a == nil {
			t.Fatalf("no cron line runs plan %s:\n%s", c.plan, cron)
		}
		if strings.Contains(strings.Join(a, " "), "--quiet") {
			t.Errorf("the cron line of %s passes --quiet: warnings would go unmailed", c.plan)
		}
		code, stdout, stderr := runCLI(t, a...)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", c.plan, code, c.code, stdout, stderr)
		}
		for _, want := range c.print {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: cron would mail %q; want it to say %q", c.plan, stderr, want)
			}
		}
		if c.print == nil && stdout+stderr != "" {
			t.Errorf("%s: an ok run printed %q%q: cron would mail it every day", c.plan, stdout, stderr)
		}
	}
}
