package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// doctor through the command line: one line per check, exit 1 when one
// failed, 0 with warnings only, and never a secret.
func TestDoctorCommand(t *testing.T) {
	requireTool(t, "restic")
	s := newSandbox(t, "")
	if code, _, stderr := runCLI(t, "init", "library", "-c", s.plan); code != 0 {
		t.Fatalf("init: %d %s", code, stderr)
	}
	// The sandbox's database target cannot be reached; its plan file,
	// made readable, holds a secret.
	os.Chmod(s.plan, 0o644)
	code, stdout, stderr := runCLI(t, "doctor", "-c", s.plan)
	if code != 1 || !strings.Contains(stderr, "check(s) failed") {
		t.Fatalf("doctor: exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"ok    tools restic: restic ",
		"ok    tools pg_dump: pg_dump (PostgreSQL) ",
		"FAIL  database: database: connecting to the database",
		"ok    library: password_file " + filepath.Join(s.dir, "restic.pass") + ": mode 0600",
		"warn  library: backups: none of this target yet (fix: run a plan with it)",
		"ok    library: sources: 1 present and readable: " + filepath.Join(s.dir, "library"),
		// 0644 and an env table: others may read cloud credentials, and
		// validate and run refuse the plan.
		"FAIL  plan " + s.plan + ": mode 0644: group or others may read it, and it holds secrets (targets.library.env.AWS_SECRET_ACCESS_KEY)",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, stdout)
		}
	}
	if !regexp.MustCompile(`(?m)^doctor: 7 ok, 2 warnings, 2 failed$`).MatchString(stdout) {
		t.Errorf("no summary line:\n%s", stdout)
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if !regexp.MustCompile(`^(ok    |warn  |FAIL  |doctor: )`).MatchString(line) {
			t.Errorf("not a checklist line: %q", line)
		}
	}
	if strings.Contains(stdout+stderr, "never-shown") {
		t.Error("a secret in doctor's output")
	}

	// --json: the same checks and counts, the same exit code.
	code, stdout, _ = runCLI(t, "doctor", "--json", "-c", s.plan)
	var doc struct {
		Checks []struct {
			Name    string   `json:"name"`
			Targets []string `json:"targets"`
			Status  string   `json:"status"`
		} `json:"checks"`
		Summary struct{ OK, Warn, Fail int } `json:"summary"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != 1 || doc.Summary.OK != 7 || doc.Summary.Warn != 2 || doc.Summary.Fail != 2 || len(doc.Checks) != 11 {
		t.Errorf("doctor --json: exit %d, %v, %+v\n%s", code, err, doc.Summary, stdout)
	}
	if strings.Contains(stdout, "never-shown") {
		t.Error("a secret in doctor --json")
	}

	// Only the plan's targets; warnings alone exit 0.
	os.Chmod(s.plan, 0o600)
	code, stdout, stderr = runCLI(t, "doctor", "--plan", "weekly", "-c", s.plan)
	if code != 0 || strings.Contains(stdout, "database") || strings.Contains(stdout, "pg_dump") {
		t.Fatalf("doctor --plan weekly: exit %d\n%s%s", code, stdout, stderr)
	}
	// A password file others can read fails, as ssh refuses such keys.
	os.Chmod(filepath.Join(s.dir, "restic.pass"), 0o644)
	code, stdout, _ = runCLI(t, "doctor", "library", "-c", s.plan)
	if code != 1 || !strings.Contains(stdout, "FAIL  library: password_file "+filepath.Join(s.dir, "restic.pass")+": mode 0644: group or others may read it; until it is fixed, doctor does not check the backups of library (fix: chmod 600 ") {
		t.Fatalf("doctor with a 0644 password file: exit %d\n%s", code, stdout)
	}
	if code, _, stderr = runCLI(t, "doctor", "nope", "-c", s.plan); code != 2 || !strings.Contains(stderr, `no target "nope"`) {
		t.Fatalf("doctor nope: exit %d %s", code, stderr)
	}
}

func TestScheduleCommand(t *testing.T) {
	s := newSandbox(t, `
[plans.nightly]
targets = ["library"]
schedule = "30 1 * * mon-fri"
`)
	exe, _ := os.Executable()
	code, stdout, stderr := runCLI(t, "schedule", "systemd", "-c", s.plan)
	if code != 0 {
		t.Fatalf("schedule systemd: exit %d %s", code, stderr)
	}
	for _, want := range []string{
		"# /etc/systemd/system/alexandria-backup-nightly.service\n",
		"ExecStart=" + exe + " --config " + s.plan + " run --wait 2h nightly\n",
		"OnCalendar=Mon..Fri *-*-* 01:30:00\n",
		`# Plan "all" has no schedule key: no units.`,
		`# Plan "weekly" has no schedule key: no units.`,
		// The sandbox lives in /tmp: a private /tmp would hide it.
		"# No PrivateTmp=yes: ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("schedule systemd lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		dir := t.TempDir()
		var units []string
		for _, part := range regexp.MustCompile(`(?m)^# /etc/systemd/system/`).Split(stdout, -1)[1:] {
			name, body, _ := strings.Cut(part, "\n")
			units = append(units, filepath.Join(dir, name))
			os.WriteFile(units[len(units)-1], []byte(body), 0o644)
		}
		if out, err := exec.Command("systemd-analyze", append([]string{"verify"}, units...)...).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}

	code, stdout, _ = runCLI(t, "schedule", "cron", "--plan", "nightly", "-c", s.plan)
	line := "--config " + s.plan + " run --wait 2h nightly"
	if code != 0 || !strings.Contains(stdout, "\n30 1 * * mon-fri root timeout --kill-after=2m 490m "+exe+" "+line+"\n") {
		t.Fatalf("schedule cron: exit %d\n%s", code, stdout)
	}
	// The scheduled command line is one this program accepts.
	if code, out, stderr := runCLI(t, append(strings.Fields(line), "--dry-run")...); code != 0 || !strings.Contains(out, "# dry run of plan \"nightly\"") {
		t.Fatalf("the scheduled command line: exit %d\n%s%s", code, out, stderr)
	}
	code, stdout, _ = runCLI(t, "schedule", "kubernetes", "--image", "registry.example/ab:1", "--time-zone", "Europe/Paris", "-c", s.plan)
	if code != 0 || !strings.Contains(stdout, "kind: CronJob") || !strings.Contains(stdout, "image: \"registry.example/ab:1\"") ||
		!strings.Contains(stdout, "timeZone: Europe/Paris") || !strings.Contains(stdout, "--from-file=restic.pass="+filepath.Join(s.dir, "restic.pass")) {
		t.Fatalf("schedule kubernetes: exit %d\n%s", code, stdout)
	}
	if strings.Contains(stdout, "never-shown") && !strings.Contains(stdout, "aws-secret-never-shown") {
		t.Fatal("a password in the manifests")
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"schedule", "launchd"}, `schedule: "launchd" is not one of systemd, cron, kubernetes`},
		{[]string{"schedule"}, "schedule needs one of systemd, cron, kubernetes"},
		{[]string{"schedule", "cron", "--plan", "weekly"}, `plan "weekly" has no schedule: set plans.weekly.schedule`},
		{[]string{"schedule", "cron", "--plan", "nope"}, `no plan "nope"`},
	} {
		code, stdout, stderr := runCLI(t, append(tc.args, "-c", s.plan)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q\n%s%s", tc.args, code, tc.want, stdout, stderr)
		}
	}
	plain := newSandbox(t, "")
	if code, _, stderr := runCLI(t, "schedule", "systemd", "-c", plain.plan); code != 2 || !strings.Contains(stderr, "has a schedule") {
		t.Errorf("no schedule at all: exit %d %s", code, stderr)
	}
}

func TestCompleteCandidates(t *testing.T) {
	s := newSandbox(t, "")
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{""}, "run validate verify snapshots points init"},
		{[]string{"sch"}, "schedule"},
		{[]string{"-c", s.plan, "run", ""}, "all weekly"},
		{[]string{"--config", "=", s.plan, "run", "w"}, "weekly"},
		{[]string{"--config=" + s.plan, "verify", ""}, "library database"},
		{[]string{"-c", s.plan, "verify", "--plan", ""}, "all weekly"},
		{[]string{"-c", s.plan, "run", "weekly", "--target", "l"}, "library"},
		{[]string{"run", "--d"}, "--dry-run"},
		{[]string{"doctor", "--"}, "--plan --json --timeout --config --log-level --log-format --quiet --no-progress --help"},
		{[]string{"schedule", ""}, "systemd cron kubernetes"},
		{[]string{"schedule", "systemd", ""}, ""},
		{[]string{"completion", "z"}, "zsh"},
		{[]string{"--log-format", ""}, "text json"},
		{[]string{"-c", ""}, ""}, // files: the shell's own completion
		{[]string{"-c", "/nonexistent.toml", "run", ""}, ""},
		{[]string{"--config", "="}, ""},
	} {
		args := append([]string{"__complete", "--"}, tc.words...)
		code, stdout, stderr := runCLI(t, args...)
		got := strings.Join(strings.Fields(stdout), " ")
		if code != 0 || !strings.HasPrefix(got, tc.want) || (tc.want == "" && got != "") {
			t.Errorf("%q: exit %d, got %q, want %q %s", tc.words, code, got, tc.want, stderr)
		}
	}
	if _, stdout, _ := runCLI(t, "__complete", "--", ""); strings.Contains(stdout, "__complete") {
		t.Error("the hidden command is offered")
	}
}

// The bash script hands the words typed so far to the program and offers
// what it prints. A stand-in program records how it was called.
func TestBashCompletionScript(t *testing.T) {
	requireTool(t, "bash")
	_, script, _ := runCLI(t, "completion", "bash")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "completion.bash"), []byte(script), 0o644)
	prog := filepath.Join(dir, "alexandria-backup")
	os.WriteFile(prog, []byte("#!/bin/sh\nprintf '%s|' \"$@\" > \""+dir+"/called\"\nprintf 'weekly\\nweekday\\n'\n"), 0o755)
	test := `source "` + dir + `/completion.bash"
complete -p alexandria-backup
COMP_WORDS=("` + prog + `" -c "my plan.toml" run "")
COMP_CWORD=4
_alexandria_backup
printf '<%s>' "${COMPREPLY[@]}"`
	out, err := exec.Command("bash", "-c", test).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	called, _ := os.ReadFile(filepath.Join(dir, "called"))
	if string(called) != "__complete|--|-c|my plan.toml|run||" {
		t.Errorf("the program was called with %q", called)
	}
	if !strings.Contains(string(out), "complete -o default -F _alexandria_backup alexandria-backup") ||
		!strings.HasSuffix(string(out), "<weekly><weekday>") {
		t.Errorf("bash: %s", out)
	}
}

// zsh and fish are not installed everywhere: their scripts are at least
// checked for syntax where they are.
func TestOtherCompletionScripts(t *testing.T) {
	for shell, check := range map[string][]string{"zsh": {"zsh", "-n"}, "fish": {"fish", "--no-execute"}} {
		code, script, _ := runCLI(t, "completion", shell)
		if code != 0 || !strings.Contains(script, "__complete --") {
			t.Fatalf("completion %s: exit %d\n%s", shell, code, script)
		}
		if _, err := exec.LookPath(check[0]); err != nil {
			t.Logf("%s is not installed: syntax not checked", shell)
			continue
		}
		cmd := exec.Command(check[0], check[1:]...)
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", shell, err, out)
		}
	}
	if code, _, stderr := runCLI(t, "completion", "tcsh"); code != 2 || !strings.Contains(stderr, `"tcsh" is not bash, zsh or fish`) {
		t.Errorf("completion tcsh: exit %d %s", code, stderr)
	}
}

// The man page comes from the command definitions: every command is in
// it, and so are the exit codes.
func TestManPage(t *testing.T) {
	code, page, stderr := runCLI(t, "man")
	if code != 0 || !strings.HasPrefix(page, ".nh\n.TH alexandria-backup 1") {
		t.Fatalf("man: exit %d %s\n%s", code, stderr, page)
	}
	for _, c := range newApp(nil, nil).Commands {
		if !c.Hidden && !strings.Contains(page, "\n.SH "+c.Name+"\n") {
			t.Errorf("the man page lacks command %s", c.Name)
		}
	}
	for _, want := range []string{".SH EXIT STATUS", "\\fB0\\fP\nevery target succeeded", "\\fB2\\fP\nusage error or invalid plan",
		"\\fB3\\fP", "\\fB75\\fP\nanother run holds the lock", "\\fB130\\fP, \\fB143\\fP", ".SH DESCRIPTION", "ALEXANDRIA_BACKUP_CONFIG", ".SH SEE ALSO"} {
		if !strings.Contains(page, want) {
			t.Errorf("the man page lacks %q", want)
		}
	}
	if strings.Contains(page, "__complete") {
		t.Error("the man page shows the hidden command")
	}
	// The app's own description (--help) is left as it was.
	if app := newApp(nil, nil); strings.Contains(app.Description, "EXIT STATUS") {
		t.Error("man changed the app's description")
	}
	if _, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = strings.NewReader(page)
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("groff: %v\n%s", err, out)
		}
	}
}
