package cli

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// planTool runs restic or borg on a repository of the test, as a person
// would by hand, and returns its standard output.
func planTool(t *testing.T, dir, tool, repo string, args ...string) string {
	t.Helper()
	var c *exec.Cmd
	if tool == "restic" {
		c = exec.Command("restic", append([]string{"-r", repo, "--password-file", filepath.Join(dir, "restic.pass")}, args...)...)
	} else {
		c = exec.Command("borg", args...)
		c.Env = append(c.Env, "BORG_REPO="+repo, "BORG_PASSCOMMAND=cat "+filepath.Join(dir, "borg.pass"))
	}
	c.Env = append(append(os.Environ(), c.Env...), "RESTIC_CACHE_DIR="+filepath.Join(dir, "cache"), "BORG_BASE_DIR="+filepath.Join(dir, "borg-base"))
	out, err := c.Output()
	if err != nil {
		t.Fatalf("%s %v: %v", tool, args, err)
	}
	return string(out)
}

// storedPlans returns the text of every plan stored in a restic or borg
// repository, oldest first.
func storedPlans(t *testing.T, dir, tool, repo string) []string {
	t.Helper()
	var texts []string
	if tool == "restic" {
		var snaps []struct{ ID string }
		json.Unmarshal([]byte(planTool(t, dir, tool, repo, "snapshots", "--json", "--tag", "alexandria-plan")), &snaps)
		for _, s := range snaps {
			texts = append(texts, planTool(t, dir, tool, repo, "dump", s.ID, "/alexandria-backup.toml"))
		}
		return texts
	}
	var list struct{ Archives []struct{ Name string } }
	json.Unmarshal([]byte(planTool(t, dir, tool, repo, "list", "--json", "--glob-archives", "alexandria-plan@*")), &list)
	for _, a := range list.Archives {
		texts = append(texts, planTool(t, dir, tool, repo, "extract", "--stdout", "::"+a.Name, "alexandria-backup.toml"))
	}
	return texts
}

// Every run stores the plan, secrets masked, in each restic and borg
// repository it backs up into (a restic copy's too), once: not again
// while it is unchanged (a comment is no change), again when it changed.
// Retention (keep_last = 1) never removes a stored plan, and no listing
// of a target shows one. No planted secret appears in a stored plan, the
// run's output, its debug log of every command, or state_dir.
func TestRunStoresThePlanInTheRepositories(t *testing.T) {
	for _, tool := range []string{"restic", "borg"} {
		requireTool(t, tool)
	}
	dir := t.TempDir()
	lib := filepath.Join(dir, "library")
	os.MkdirAll(lib, 0o755)
	os.WriteFile(filepath.Join(lib, "book.epub"), []byte("a book"), 0o644)
	os.WriteFile(filepath.Join(dir, "restic.pass"), []byte("restic-password\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "borg.pass"), []byte("borg-passphrase\n"), 0o600)
	pinged := 0
	ping := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { pinged++ }))
	defer ping.Close()
	t.Setenv("RESTIC_CACHE_DIR", filepath.Join(dir, "cache"))
	t.Setenv("PLANTED_REF", "planted-from-the-environment")

	// The planted secrets: none may leave the plan file.
	secrets := []string{"planted-aws-s3cret", "planted-borg-s3cret", "planted-ping-t0ken", "planted-url-pa55", "planted-default-s3cret", "planted-from-the-environment"}
	planFile := filepath.Join(dir, "plan.toml")
	state := filepath.Join(dir, "state")
	repos := map[string]string{"files": filepath.Join(dir, "restic"), "offsite": filepath.Join(dir, "restic-offsite"), "books": filepath.Join(dir, "borg")}
	tools := map[string]string{"files": "restic", "offsite": "restic", "books": "borg"}
	writePlan := func(extra string) {
		os.WriteFile(planFile, []byte(`# the plan
state_dir = "`+state+`"
before_restore = [["true", "https://user:planted-url-pa55@example.invalid/stop"]]
[notify]
ping_url = "`+ping.URL+`/planted-ping-t0ken"
[targets.files]
driver = "restic"
repository = "`+repos["files"]+`"
password_file = "`+filepath.Join(dir, "restic.pass")+`"
paths = ["`+lib+`"]
host = "test"
keep_last = 1
env = { AWS_SECRET_ACCESS_KEY = "planted-aws-s3cret", FROM_ENV = "${PLANTED_REF}", WITH_DEFAULT = "${UNSET_VAR:-planted-default-s3cret}" }
`+extra+`
[targets.offsite]
driver = "restic"
repository = "`+repos["offsite"]+`"
password_file = "`+filepath.Join(dir, "restic.pass")+`"
copy_from = "files"
keep_last = 1
[targets.books]
driver = "borg"
repository = "`+repos["books"]+`"
passphrase_file = "`+filepath.Join(dir, "borg.pass")+`"
paths = ["`+lib+`"]
keep_last = 1
env = { BORG_BASE_DIR = "`+filepath.Join(dir, "borg-base")+`", TOKEN = "planted-borg-s3cret" }
[plans.nightly]
targets = ["files", "offsite", "books"]
`), 0o600)
	}
	writePlan("")
	if code, _, stderr := runCLI(t, "init", "--plan", "nightly", "-c", planFile); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	var output strings.Builder
	run := func(what string) string {
		t.Helper()
		os.WriteFile(filepath.Join(lib, "book.epub"), []byte("a book, "+what), 0o644)
		code, stdout, stderr := runCLI(t, "run", "nightly", "--json", "--log-level", "debug", "-c", planFile)
		output.WriteString(stdout + stderr)
		var r struct {
			Point   string
			Targets []struct{ Name, Status string }
		}
		if code != 0 || json.Unmarshal([]byte(stdout), &r) != nil {
			t.Fatalf("run (%s): exit %d\n%s%s", what, code, stdout, stderr)
		}
		return r.Point
	}
	count := func(want int, point string) {
		t.Helper()
		for name, repo := range repos {
			plans := storedPlans(t, dir, tools[name], repo)
			if len(plans) != want {
				t.Fatalf("%s's repository holds %d stored plans, want %d", name, len(plans), want)
			}
			newest := plans[len(plans)-1]
			if !strings.Contains(newest, "stored by recovery point "+point) || !strings.Contains(newest, "MASKED-BY-ALEXANDRIA-BACKUP") ||
				!strings.Contains(newest, "${PLANTED_REF}") {
				t.Errorf("%s's newest stored plan is not the one of point %s with masks and references:\n%s", name, point, newest)
			}
		}
	}

	first := run("first")
	count(1, first)
	// Unchanged, and changed only in a comment: not stored again.
	run("second")
	writePlan("# a comment changes nothing stored")
	run("third")
	count(1, first)
	// Changed: stored again, in every repository.
	writePlan(`exclude = ["*.tmp"]`)
	changed := run("fourth")
	count(2, changed)

	// Retention kept one backup of each target and every stored plan;
	// no target lists a stored plan as its own backup.
	for name := range repos {
		code, stdout, stderr := runCLI(t, "snapshots", name, "--json", "-c", planFile)
		var snaps []struct{ ID, Point, Info string }
		if code != 0 || json.Unmarshal([]byte(stdout), &snaps) != nil {
			t.Fatalf("snapshots %s: exit %d\n%s%s", name, code, stdout, stderr)
		}
		if len(snaps) != 1 || snaps[0].Point != changed || strings.Contains(snaps[0].ID+snaps[0].Info, "alexandria-") {
			t.Errorf("%s lists %+v, want its one backup of point %s", name, snaps, changed)
		}
	}
	if pinged == 0 {
		t.Error("the ping URL was never pinged: the plan did not use it")
	}

	// No planted secret anywhere: stored plans, output and debug logs
	// (every command line), state_dir (reports, target logs).
	haystack := output.String()
	for name, repo := range repos {
		haystack += strings.Join(storedPlans(t, dir, tools[name], repo), "\n")
	}
	filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			haystack += string(b)
		}
		return nil
	})
	if !strings.Contains(output.String(), "exec") || !strings.Contains(output.String(), "alexandria-plan") {
		t.Fatalf("the debug log shows no command storing the plan:\n%s", output.String())
	}
	for _, s := range secrets {
		if strings.Contains(haystack, s) {
			t.Errorf("planted secret %q found in a stored plan, the output or state_dir", s)
		}
	}

	// --dry-run shows the step.
	code, stdout, _ := runCLI(t, "run", "nightly", "--dry-run", "-c", planFile)
	if code != 0 || strings.Count(stdout, "--tag=alexandria-plan") != 2 || !strings.Contains(stdout, "::alexandria-plan@") {
		t.Errorf("dry run: exit %d, no plan storing step for each target:\n%s", code, stdout)
	}
}
