package plan

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

const goodPlan = `
state_dir = "/var/lib/ab"
parallel = 2
before_restore = [["systemctl", "stop", "alexandria"]]
after_restore = [["systemctl", "start", "alexandria"], ["/usr/local/bin/warm-cache"]]

[targets.database]
driver = "pg_dump"
database = "${DB_URL:-postgres://alexandria@localhost/alexandria}"
dir = "/var/backups/db"
keep_last = 7
timeout = "2h"

[targets.library]
driver = "restic"
repository = "${REPO}"
password_file = "/etc/ab/restic.pass"
paths = ["/srv/library"]
after = ["database"]
env = { AWS_SECRET_ACCESS_KEY = "${AWS_SECRET}" }
exit_codes = { ok = [3] }

[plans.weekly]
targets = ["database", "library"]
schedule = "weekly"

[notify]
ping_url     = "https://hc-ping.com/${HC_UUID:-0000}"
metrics_file = "/var/lib/node_exporter/textfile/alexandria_backup.prom"
on_failure   = [["/usr/local/bin/page-oncall", "alexandria backup failed"]]
`

func TestParseGoodPlan(t *testing.T) {
	p, err := Parse("plan.toml", []byte(goodPlan), env(map[string]string{"REPO": "/srv/restic", "AWS_SECRET": "s3cr3t"}))
	if err != nil {
		t.Fatal(err)
	}
	if p.StateDir != "/var/lib/ab" || p.Parallel != 2 || strings.Join(p.Order, ",") != "database,library" {
		t.Fatalf("plan: %+v", p)
	}
	db, lib := p.Targets["database"], p.Targets["library"]
	if db.Settings.Str("database") != "postgres://alexandria@localhost/alexandria" {
		t.Fatalf("default not applied: %q", db.Settings.Str("database"))
	}
	if db.Timeout != 2*time.Hour || db.Settings.Int("keep_last", 0) != 7 || !db.Verify {
		t.Fatalf("database target: %+v", db)
	}
	if lib.Settings.Str("repository") != "/srv/restic" || lib.Env["AWS_SECRET_ACCESS_KEY"] != "s3cr3t" {
		t.Fatalf("expansion: %+v", lib)
	}
	if lib.ExitCodes.Classify(3).String() != "ok" || lib.After[0] != "database" {
		t.Fatalf("library target: %+v", lib)
	}
	if g := p.Plans["weekly"]; g.Schedule != "weekly" || len(g.Targets) != 2 {
		t.Fatalf("plans: %+v", g)
	}
	if n := p.Notify; n.PingURL != "https://hc-ping.com/0000" || n.MetricsFile == "" || len(n.OnFailure) != 1 || n.OnFailure[0][1] != "alexandria backup failed" {
		t.Fatalf("notify: %+v", n)
	}
	if len(p.BeforeRestore) != 1 || strings.Join(p.BeforeRestore[0], " ") != "systemctl stop alexandria" || len(p.AfterRestore) != 2 {
		t.Fatalf("restore hooks: %q, %q", p.BeforeRestore, p.AfterRestore)
	}
}

// Every problem is reported in one pass, each with its file, line and key.
func TestParseReportsEveryProblemWithLines(t *testing.T) {
	src := `state_dir = "/x"
paralel = 2

[targets.database]
driver = "pg_dump"
database = "postgres://alexandria:hunter2@localhost/alexandria"
dir = "/var/backups/db"
compress = "high"

[targets.library]
driver = "restic"
repository = "/srv/restic"
password_file = "/etc/pw"
paths = ["/srv/library"]
keep_dialy = 7

[targets.offsite]
driver = "rclon"

[targets.nodriver]
dir = "/x"

[targets.nodir]
driver = "pg_dump"
database = "alexandria"

[plans.weekly]
targets = ["database", "libary"]
`
	_, err := Parse("plan.toml", []byte(src), env(nil))
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("want *Error, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"plan.toml:2: paralel: unknown key (did you mean parallel?)",
		"plan.toml:6: targets.database.database: contains a password",
		"plan.toml:8: targets.database.compress: must be an integer, not a string",
		"plan.toml:15: targets.library.keep_dialy: unknown key for driver restic (did you mean keep_daily?)",
		`plan.toml:18: targets.offsite.driver: unknown driver "rclon" (known drivers: pg_dump, restic`,
		"plan.toml:20: targets.nodriver: `driver` is required",
		"plan.toml:23: targets.nodir.dir: set exactly one of `dir` (dump files) or `into`",
		`plan.toml:28: plans.weekly.targets: unknown target "libary" (did you mean library?)`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if len(pe.Problems()) != 8 {
		t.Errorf("want 8 problems, got %d:\n%s", len(pe.Problems()), msg)
	}
	// Sorted by line, as an editor walks the file, whichever pass of the
	// loader found each.
	last := 0
	for _, p := range pe.Problems() {
		if line := p.(Problem).Line; line < last {
			t.Errorf("problem at line %d listed after line %d:\n%s", line, last, msg)
		} else {
			last = line
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("the error repeats the password:\n%s", msg)
	}
}

func TestParseProblems(t *testing.T) {
	base := "[targets.db]\ndriver = \"pg_dump\"\ndatabase = \"alexandria\"\ndir = \"/b\"\n"
	for _, tc := range []struct {
		name, src, want string
	}{
		{"syntax", "state_dir = \n", "plan.toml:1: expected value"},
		{"unset var", "state_dir = \"${NOPE}/x\"\n", "state_dir: environment variable NOPE is not set (use ${NOPE:-default} for a default)"},
		{"wrong type list", base + "after = \"x\"\n", "targets.db.after: must be an array of strings, not a string"},
		{"enum", base + "format = \"zip\"\n", `targets.db.format: must be one of custom, sql, directory, tar, not "zip"`},
		{"range", base + "compress = 12\n", "targets.db.compress: must be between 0 and 9, not 12"},
		{"cross field", base + "jobs = 4\n", `targets.db.jobs: only works with format = "directory"`},
		{"tar compress", base + "format = \"tar\"\ncompress = 1\n", "targets.db.compress: the tar format cannot be compressed"},
		{"relative dir", "[targets.db]\ndriver = \"pg_dump\"\ndatabase = \"a\"\ndir = \"backups\"\n", "targets.db.dir: must be an absolute path"},
		{"conninfo password", "[targets.db]\ndriver = \"pg_dump\"\ndatabase = \"host=db password=x dbname=a\"\ndir = \"/b\"\n", "targets.db.database: contains a password"},
		{"after unknown", base + "after = [\"dbb\"]\n", `targets.db.after: unknown target "dbb"`},
		{"after self", base + "after = [\"db\"]\n", "a target cannot run after itself"},
		{"cycle", base + "after = [\"x\"]\n[targets.x]\ndriver = \"pg_dump\"\ndatabase = \"a\"\ndir = \"/b\"\nafter = [\"db\"]\n", "`after` forms a cycle: db → x → db"},
		{"exit codes", base + "exit_codes = { warning = [1], error = [1] }\n", "exit code 1 is listed as both error and warning"},
		{"exit class", base + "exit_codes = { fine = [1] }\n", `unknown class "fine"`},
		{"timeout", base + "timeout = \"soon\"\n", `targets.db.timeout: must be a positive duration`},
		{"ping url", "[notify]\nping_url = \"hc-ping.com/x\"\n", "notify.ping_url: must be an http(s) URL"},
		{"metrics file", "[notify]\nmetrics_file = \"/var/lib/x.txt\"\n", "notify.metrics_file: must be an absolute path ending in .prom"},
		{"hook shell line", "[notify]\non_failure = [\"page-oncall backup failed\"]\n", "notify.on_failure: must be a list of commands, each an array of strings"},
		{"notify typo", "[notify]\nping_ulr = \"https://x/y\"\n", "notify.ping_ulr: unknown key (did you mean ping_url?)"},
		{"into unknown", base + "into = \"library\"\n", "targets.db.dir: set exactly one of `dir` (dump files) or `into`"},
		{"into and no dir", "[targets.db]\ndriver = \"pg_dump\"\ndatabase = \"a\"\ninto = \"nope\"\n", `targets.db.into: unknown target "nope"`},
		{"into wrong driver", "[targets.db]\ndriver = \"pg_dump\"\ndatabase = \"a\"\ninto = \"other\"\n[targets.other]\ndriver = \"pg_dump\"\ndatabase = \"a\"\ndir = \"/d\"\n", `target "other" uses driver pg_dump; a dump can only stream into a restic or borg target`},
		{"neither dir nor into", "[targets.db]\ndriver = \"pg_dump\"\ndatabase = \"a\"\n", "targets.db.dir: set exactly one of"},
		{"restic password", "[targets.r]\ndriver = \"restic\"\nrepository = \"/r\"\npaths = [\"/p\"]\n", "targets.r.password_file: set exactly one of `password_file` or `password_command`"},
		{"restic empty paths", "[targets.r]\ndriver = \"restic\"\nrepository = \"/r\"\npassword_file = \"/p\"\npaths = []\n", "targets.r.paths: must name at least one path"},
		{"restic subset", "[targets.r]\ndriver = \"restic\"\nrepository = \"/r\"\npassword_file = \"/p\"\npaths = [\"/p\"]\ncheck_read_data_subset = \"half\"\n", "check_read_data_subset: must be"},
		{"restic relative path", "[targets.r]\ndriver = \"restic\"\nrepository = \"/r\"\npassword_file = \"/p\"\npaths = [\"library\"]\n", `targets.r.paths: "library" must be an absolute path`},
		{"restic relative repo", "[targets.r]\ndriver = \"restic\"\nrepository = \"repo\"\npassword_file = \"/p\"\npaths = [\"/l\"]\n", `targets.r.repository: a local repository must be an absolute path`},
		{"plan without targets", base + "[plans.daily]\nschedule = \"daily\"\n", "plans.daily: `targets` is required"},
		{"bad schedule", base + "[plans.daily]\ntargets = [\"db\"]\nschedule = \"sometimes\"\n", `plans.daily.schedule: "sometimes" is not hourly, daily, weekly, monthly or a 5-field cron expression`},
		{"ambiguous cron", base + "[plans.daily]\ntargets = [\"db\"]\nschedule = \"0 0 * * 7\"\n", "plans.daily.schedule:"},
		{"bad name", "[targets.\"my db\"]\ndriver = \"pg_dump\"\ndatabase = \"a\"\ndir = \"/b\"\n", "a target name may only use"},
		{"parallel", "parallel = 0\n", "parallel: must be an integer from 1 to 64"},
		{"restore hook shell line", "before_restore = [\"systemctl stop alexandria\"]\n" + base, "before_restore: must be a list of commands, each an array of strings"},
		{"restore hook one argv", "after_restore = [\"systemctl\", \"start\", \"alexandria\"]\n" + base, "after_restore: must be a list of commands"},
		{"restore hook empty argv", "before_restore = [[]]\n" + base, "before_restore: must be a list of commands"},
		{"restore hook empty program", "before_restore = [[\" \", \"x\"]]\n" + base, "before_restore: the program (the first word) must not be empty"},
		{"restore hook option", "after_restore = [[\"--now\"]]\n" + base, "after_restore: the program (the first word) must not start with"},
		{"restore hook relative", "after_restore = [[\"bin/start\"]]\n" + base, "after_restore: the program \"bin/start\" is a relative path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("plan.toml", []byte(tc.src), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got:\n%v", tc.want, err)
			}
		})
	}
}

func TestExpandVars(t *testing.T) {
	lookup := env(map[string]string{"A": "x", "EMPTY": ""})
	for in, want := range map[string]string{
		"${A}/b":         "x/b",
		"${NOPE:-d}":     "d",
		"${EMPTY:-d}":    "d",
		"${EMPTY}":       "",
		"$$HOME":         "$HOME",
		"$A and $":       "$A and $",
		"${A:-}${A}":     "xx",
		"pre${NOPE:-}po": "prepo",
	} {
		got, missing := expandVars(in, lookup)
		if got != want || len(missing) != 0 {
			t.Errorf("expand(%q) = %q, %v; want %q", in, got, missing, want)
		}
	}
	if _, missing := expandVars("${NOPE}", lookup); len(missing) != 1 {
		t.Errorf("an unset variable must be reported")
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"keep_daily", "keep_weekly", "keep_last", "password_file"}
	for in, want := range map[string]string{
		"keep_dialy":    "keep_daily",
		"Keep_Weekly":   "keep_weekly",
		"passwordfile":  "password_file",
		"something_far": "",
	} {
		got := suggest(in, known)
		if want == "" && got != "" || want != "" && got != " (did you mean "+want+"?)" {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
