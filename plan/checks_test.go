package plan

import (
	"bytes"
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// checkPlanTargets are one target of each kind a check plan meets: a
// database, a repository, and a command target, which cannot be drilled.
const checkPlanTargets = `
state_dir = "/var/lib/ab"

[targets.database]
driver = "pg_dump"
database = "postgres://alexandria@db/alexandria"
dir = "/var/backups/db"
keep_last = 7

[targets.library]
driver = "restic"
repository = "/srv/restic"
password_file = "/etc/ab/restic.pass"
paths = ["/srv/library"]
keep_daily = 7

[targets.export]
driver = "command"
command = ["/usr/local/bin/export"]
dir = "/var/backups/export"
keep_last = 3
verify = false

[plans.daily]
targets = ["database", "library", "export"]
schedule = "daily"
`

func TestCheckPlanActions(t *testing.T) {
	for _, tc := range []struct {
		name, table string
		want        string // a problem's text; "" loads
		action      Action
	}{
		{"absent: backup", `targets = ["database"]`, "", ""},
		{"backup", `targets = ["database"]` + "\naction = \"backup\"", "", ActionBackup},
		{"verify", `targets = ["database", "export"]` + "\naction = \"verify\"", "", ActionVerify},
		{"verify-full", `targets = ["library"]` + "\naction = \"verify-full\"", "", ActionVerifyFull},
		{"drill", `targets = ["database", "library"]` + "\naction = \"drill\"", "", ActionDrill},
		{"misspelt", `targets = ["database"]` + "\naction = \"dril\"", `plans.check.action: must be one of backup, verify, verify-full, drill, not "dril" (did you mean drill?)`, ""},
		{"empty", `targets = ["database"]` + "\naction = \"\"", "plans.check.action: must be one of", ""},
		{"upper case", `targets = ["database"]` + "\naction = \"DRILL\"", "plans.check.action: must be one of", ""},
		{"a number", `targets = ["database"]` + "\naction = 1", "plans.check.action: must be one of", ""},
		{"a list", `targets = ["database"]` + "\naction = [\"drill\"]", "plans.check.action: must be one of", ""},
		{"the command line", `targets = ["database"]` + "\naction = \"verify --full\"", "plans.check.action: must be one of", ""},
		{"drill a command target", `targets = ["database", "export"]` + "\naction = \"drill\"", `plans.check.action: target "export" (driver command) cannot be drilled`, ""},
		{"misspelt key", `targets = ["database"]` + "\nactoin = \"drill\"", `plans.check.actoin: unknown key (did you mean action?)`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := checkPlanTargets + "\n[plans.check]\n" + tc.table + "\nschedule = \"weekly\"\n"
			p, err := Parse("plan.toml", []byte(src), env(nil))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := p.Plans["check"].Action; got != tc.action {
					t.Errorf("action %q, want %q", got, tc.action)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "plan.toml:") {
				t.Errorf("the problem does not name its line: %v", err)
			}
		})
	}
}

func TestGroupArgs(t *testing.T) {
	for action, want := range map[Action][]string{
		"":               {"run", "--wait", "1h", "p"},
		ActionBackup:     {"run", "--wait", "1h", "p"},
		ActionVerify:     {"verify", "--wait", "1h", "--plan", "p"},
		ActionVerifyFull: {"verify", "--full", "--wait", "1h", "--plan", "p"},
		ActionDrill:      {"drill", "--wait", "1h", "--plan", "p"},
	} {
		g := &Group{Name: "p", Action: action}
		if got := g.Args("--wait", "1h"); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %q, want %q", action, got, want)
		}
	}
}

// `run` on a check plan refuses, naming the command that does the check,
// before it touches anything (a zero Runtime would fail on first use).
func TestRunRefusesCheckPlan(t *testing.T) {
	for action, cmd := range map[string]string{
		"verify":      "alexandria-backup verify --plan check",
		"verify-full": "alexandria-backup verify --full --plan check",
		"drill":       "alexandria-backup drill --plan check",
	} {
		src := checkPlanTargets + "\n[plans.check]\ntargets = [\"database\"]\naction = \"" + action + "\"\n"
		p, err := Parse("plan.toml", []byte(src), env(nil))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := p.Run(context.Background(), "check", RunOptions{}, Runtime{})
		var ue *UsageError
		if rep != nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), "run `"+cmd+"`") {
			t.Errorf("%s: %v, %v; want a usage error naming %q", action, rep, err, cmd)
		}
	}
}

func TestChecks(t *testing.T) {
	src := checkPlanTargets + `
[plans.drills]
targets = ["database", "library"]
action = "drill"
schedule = "0 5 * * 6"

[plans.deep]
targets = ["export"]
action = "verify-full"

[plans.manual]
targets = ["library"]
`
	p, err := Parse("plan.toml", []byte(src), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	// daily's export has verify = false: its runs do not check it; deep
	// would, but has no schedule; manual neither.
	want := []Check{
		{Plan: "daily", Action: ActionBackup, Schedule: "daily", Targets: []string{"database", "library"}},
		{Plan: "drills", Action: ActionDrill, Schedule: "0 5 * * 6", Targets: []string{"database", "library"}},
	}
	if got := p.Checks(); !reflect.DeepEqual(got, want) {
		t.Errorf("Checks() = %+v\nwant %+v", got, want)
	}
	if got := p.Unchecked(); !reflect.DeepEqual(got, []string{"export"}) {
		t.Errorf("Unchecked() = %q, want export", got)
	}
	// Scheduling the deep check covers it.
	p.Plans["deep"].Schedule = "monthly"
	if got := p.Unchecked(); len(got) != 0 {
		t.Errorf("Unchecked() = %q with deep scheduled", got)
	}
	// Nothing scheduled: nothing checked.
	for _, g := range p.Plans {
		g.Schedule = ""
	}
	if got, un := p.Checks(), p.Unchecked(); len(got) != 0 || len(un) != 3 {
		t.Errorf("no schedules: Checks() = %+v, Unchecked() = %q", got, un)
	}
}

// The check plan the example shows in comments loads once uncommented,
// and is then among the plan's scheduled checks.
func TestExampleCheckPlan(t *testing.T) {
	src, err := os.ReadFile("../alexandria-backup.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(src, []byte("# [plans.drill]"))
	if i < 0 {
		t.Fatal("the example shows no check plan")
	}
	var b bytes.Buffer
	b.Write(src[:i])
	for _, line := range strings.Split(string(src[i:]), "\n") {
		b.WriteString(strings.TrimPrefix(line, "# ") + "\n")
	}
	p, err := Parse("example.toml", b.Bytes(), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	g := p.Plans["drill"]
	if g == nil || g.Action != ActionDrill || g.Schedule == "" {
		t.Fatalf("plans.drill: %+v", g)
	}
	found := false
	for _, c := range p.Checks() {
		found = found || c.Plan == "drill" && c.Action == ActionDrill
	}
	if !found {
		t.Errorf("Checks() lacks plans.drill: %+v", p.Checks())
	}
}
