package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cli runs the command line in-process and returns exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(append([]string{"alexandria-backup"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// nextSecond waits for the next second: a recovery point's id has its
// run's start to the second, so two runs in one second would not say
// which came first.
func nextSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
}

func requireTool(t *testing.T, name string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test of the real tools")
	}
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed", name)
		}
		t.Skipf("%s is not installed", name)
	}
}

// sandbox is a small library, a restic password file and a plan using them.
type sandbox struct {
	dir, plan, lib, repo, state string
}

func newSandbox(t *testing.T, extra string) *sandbox {
	t.Helper()
	dir := t.TempDir()
	s := &sandbox{dir: dir, plan: filepath.Join(dir, "plan.toml"), lib: filepath.Join(dir, "library"),
		repo: filepath.Join(dir, "repo"), state: filepath.Join(dir, "state")}
	os.MkdirAll(filepath.Join(s.lib, "books"), 0o755)
	os.WriteFile(filepath.Join(s.lib, "books", "dune.epub"), []byte("spice"), 0o644)
	os.WriteFile(filepath.Join(dir, "restic.pass"), []byte("restic-password-never-shown\n"), 0o600)
	t.Setenv("RESTIC_CACHE_DIR", filepath.Join(dir, "cache"))
	src := `state_dir = "` + s.state + `"
[targets.library]
driver = "restic"
repository = "` + s.repo + `"
password_file = "` + filepath.Join(dir, "restic.pass") + `"
paths = ["` + s.lib + `"]
host = "test"
keep_last = 2
env = { AWS_SECRET_ACCESS_KEY = "aws-secret-never-shown" }

[targets.database]
driver = "pg_dump"
database = "postgres://nobody@127.0.0.1:1/none"
dir = "` + filepath.Join(dir, "dumps") + `"

[plans.weekly]
targets = ["library"]

[plans.all]
targets = ["database", "library"]
` + extra
	if err := os.WriteFile(s.plan, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUsageErrorsExit2(t *testing.T) {
	s := newSandbox(t, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "USAGE"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"run", "-c", s.plan}, "run needs a plan: the plans in " + s.plan + " are all, weekly"},
		{[]string{"run", "weekly", "extra", "-c", s.plan}, "run: expected PLAN, got weekly extra"},
		{[]string{"run", "weekly", "--dry-rnu", "-c", s.plan}, "flag provided but not defined: -dry-rnu"},
		{[]string{"run", "weekyl", "-c", s.plan}, `no plan "weekyl"`},
		{[]string{"run", "weekly", "--target", "nope", "-c", s.plan}, `target "nope" is not in plan "weekly"`},
		{[]string{"validate", "extra", "-c", s.plan}, "validate: expected no arguments"},
		{[]string{"snapshots", "-c", s.plan}, "snapshots needs a target: the targets in " + s.plan + " are library, database"},
		{[]string{"verify", "nope", "-c", s.plan}, `no target "nope"`},
		{[]string{"verify", "library", "--plan", "weekly", "-c", s.plan}, "name targets or --plan, not both"},
		{[]string{"validate", "-c", filepath.Join(s.dir, "missing.toml")}, "missing.toml: no such file"},
		{[]string{"--log-level", "loud", "validate", "-c", s.plan}, "--log-level"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(stdout+stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q in:\n%s%s", tc.args, code, tc.want, stdout, stderr)
		}
	}
}

func TestInvalidPlanExit2NothingRuns(t *testing.T) {
	s := newSandbox(t, "[targets.broken]\ndriver = \"restic\"\nkeep_dialy = 1\n")
	code, _, stderr := runCLI(t, "run", "weekly", "-c", s.plan)
	if code != 2 || !strings.Contains(stderr, "keep_dialy: unknown key for driver restic (did you mean keep_daily?)") ||
		!strings.Contains(stderr, "`paths` is required") {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if _, err := os.Stat(s.state); err == nil {
		t.Fatal("an invalid plan created the state dir")
	}
}

func TestValidateAndConfigFromEnv(t *testing.T) {
	s := newSandbox(t, "")
	t.Setenv("ALEXANDRIA_BACKUP_CONFIG", s.plan)
	code, stdout, stderr := runCLI(t, "validate")
	if code != 0 || !strings.Contains(stdout, "ok: 2 targets (library, database), plans: all, weekly") {
		t.Fatalf("exit %d:\n%s%s", code, stdout, stderr)
	}
}

// shims puts fake tools first on PATH that record any call, so a test can
// prove nothing ran.
func shims(t *testing.T) string {
	dir := t.TempDir()
	marker := filepath.Join(dir, "called")
	for _, tool := range []string{"restic", "pg_dump", "pg_restore", "borg", "rsync", "rclone"} {
		script := "#!/bin/sh\necho \"$0 $*\" >> " + marker + "\nexit 0\n"
		os.WriteFile(filepath.Join(dir, tool), []byte(script), 0o755)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return marker
}

// `run weekly --dry-run`, with the flag after the plan name, must print
// the commands and run nothing at all.
func TestDryRunRunsNothing(t *testing.T) {
	s := newSandbox(t, "")
	marker := shims(t)
	code, stdout, stderr := runCLI(t, "run", "all", "--dry-run", "--config", s.plan)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"# target database (pg_dump)",
		"pg_dump --format=custom --no-password --file=" + filepath.Join(s.dir, "dumps", ".database-"),
		"restic backup --json --quiet --host=test --tag=alexandria:library '--tag=alexandria-point=<this-run>' -- " + s.lib,
		"'AWS_SECRET_ACCESS_KEY=***'",
		"restic forget --json --host=test --tag=alexandria:library --group-by=host --keep-last=2 --prune",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout+stderr, "aws-secret-never-shown") {
		t.Error("a secret is in the dry-run output")
	}
	if b, err := os.ReadFile(marker); err == nil {
		t.Fatalf("dry run ran tools:\n%s", b)
	}
	for _, p := range []string{s.repo, s.state, filepath.Join(s.dir, "dumps")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("dry run created %s", p)
		}
	}
}

func TestRunReportsAndExitCodes(t *testing.T) {
	requireTool(t, "restic")
	s := newSandbox(t, `
[plans.broken]
targets = ["library", "missing"]
[targets.missing]
driver = "restic"
repository = "REPO"
password_file = "PASS"
paths = ["/nonexistent/unmounted"]
`)
	// Fix the placeholders now that the sandbox paths exist.
	src, _ := os.ReadFile(s.plan)
	src = bytes.ReplaceAll(src, []byte(`"REPO"`), []byte(`"`+s.repo+`"`))
	src = bytes.ReplaceAll(src, []byte(`"PASS"`), []byte(`"`+filepath.Join(s.dir, "restic.pass")+`"`))
	os.WriteFile(s.plan, src, 0o644)

	if code, out, errOut := runCLI(t, "init", "library", "-c", s.plan); code != 0 {
		t.Fatalf("init: %d %s %s", code, out, errOut)
	}
	code, stdout, stderr := runCLI(t, "run", "weekly", "--json", "-c", s.plan)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	// Not on a terminal (cron): silent on success unless asked.
	if stderr != "" {
		t.Fatalf("a successful run under cron printed to stderr:\n%s", stderr)
	}
	var rep struct {
		Plan, Status string
		Targets      []struct {
			Name, Status, Artifact, Log string
			Verified, Pruned            bool
			Error                       *string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json output is not the report: %v\n%s", err, stdout)
	}
	if rep.Status != "ok" || len(rep.Targets) != 1 || rep.Targets[0].Artifact == "" || !rep.Targets[0].Verified || !rep.Targets[0].Pruned {
		t.Fatalf("report: %+v", rep)
	}
	reports, _ := filepath.Glob(filepath.Join(s.state, "reports", "weekly-*.json"))
	if len(reports) != 1 {
		t.Fatalf("report files: %v", reports)
	}
	saved, _ := os.ReadFile(reports[0])
	// The target's own log, at every level whatever stderr shows, with
	// the commands it ran.
	targetLog, err := os.ReadFile(rep.Targets[0].Log)
	if err != nil || !strings.Contains(string(targetLog), "restic backup --json") || !strings.Contains(string(targetLog), `msg="backup started"`) {
		t.Fatalf("the target log %q: %v\n%s", rep.Targets[0].Log, err, targetLog)
	}
	for _, out := range []string{stdout, stderr, string(saved), string(targetLog)} {
		if strings.Contains(out, "restic-password-never-shown") || strings.Contains(out, "aws-secret-never-shown") {
			t.Fatalf("a secret leaked:\n%s", out)
		}
	}

	// One failing target: exit 1, the other target still ran.
	code, stdout, stderr = runCLI(t, "run", "broken", "--json", "-c", s.plan)
	if code != 1 || !strings.Contains(stderr, "1 of 2 targets did not succeed") || !strings.Contains(stderr, "/nonexistent/unmounted") {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	json.Unmarshal([]byte(stdout), &rep)
	if rep.Status != "failed" || rep.Targets[0].Status != "ok" || rep.Targets[1].Status != "failed" {
		t.Fatalf("report: %+v", rep)
	}

	// Warnings only: exit 3. (The plan may reclassify exit codes; here it
	// declares restic's 0 a warning, which proves the mapping end to end.)
	src, _ = os.ReadFile(s.plan)
	src = bytes.Replace(src, []byte("keep_last = 2\n"), []byte("keep_last = 2\nexit_codes = { warning = [0] }\n"), 1)
	os.WriteFile(s.plan, src, 0o644)
	code, _, stderr = runCLI(t, "run", "weekly", "-c", s.plan)
	if code != 3 {
		t.Fatalf("warnings only: exit %d\n%s", code, stderr)
	}

	if code, _, stderr = runCLI(t, "run", "weekly", "--log-level", "info", "-c", s.plan); code != 3 || !strings.Contains(stderr, `msg="backup started"`) || !strings.Contains(stderr, "time=") {
		t.Fatalf("--log-level info: exit %d\n%s", code, stderr)
	}
	code, stdout, _ = runCLI(t, "snapshots", "library", "--json", "-c", s.plan)
	var snaps []map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &snaps) != nil || len(snaps) != 2 {
		t.Fatalf("snapshots: exit %d\n%s", code, stdout)
	}
	if code, stdout, _ = runCLI(t, "verify", "library", "-c", s.plan); code != 0 || !strings.Contains(stdout, "library: verified") {
		t.Fatalf("verify: %d %s", code, stdout)
	}
	if code, stdout, _ = runCLI(t, "prune", "--plan", "weekly", "--dry-run", "-c", s.plan); code != 0 || !strings.Contains(stdout, "library: would remove 0, keep 2") {
		t.Fatalf("prune: %d %s", code, stdout)
	}
}

func TestNormalizeArgs(t *testing.T) {
	app := newApp(nil, nil)
	for in, want := range map[string]string{
		"run weekly --dry-run":                    "run --dry-run -- weekly",
		"run weekly -c p.toml --target db --json": "-c p.toml run --target db --json -- weekly",
		"--quiet run weekly --config=p.toml":      "--quiet --config=p.toml run -- weekly",
		"run --target=db weekly":                  "run --target=db -- weekly",
		"verify a b --plan x":                     "verify --plan x -- a b",
		"run -- --weird-name":                     "run -- --weird-name",
		"run weekly --bogus":                      "run --bogus -- weekly",
		"validate":                                "validate",
		"--help":                                  "--help",
	} {
		got := strings.Join(normalizeArgs(app, append([]string{"ab"}, strings.Fields(in)...))[1:], " ")
		if got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}
