package cli

import (
	"encoding/json"
	"io/fs"
	"maps"
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

// A new machine with only a repository and its password: `recover
// --from-repository` fetches the plan a run stored there, writes it where
// --config says (0600) and recovers the database and the files with it,
// proven. Before that, each refusal touches nothing, or (a fetched plan
// that still lacks something) writes only the plan and names what to do.
func TestRecoverFromRepository(t *testing.T) {
	for _, tool := range []string{"restic", "borg", "pg_dump"} {
		requireTool(t, tool)
	}
	srv, dir, lib := recoverySandbox(t)
	ctx := t.Context()
	state := filepath.Join(dir, "state")
	t.Setenv("TEST_BORG_BASE", filepath.Join(dir, "borg-base"))
	resticRepo, borgRepo := filepath.Join(dir, "restic"), filepath.Join(dir, "borg")
	planText := func(repo, env string) string {
		return `state_dir = "` + state + `"
[targets.db]
driver   = "pg_dump"
database = "` + srv.URL("alexandria") + `"
dir      = "` + filepath.Join(dir, "dumps") + `"
[targets.files]
driver = "restic"
repository = "` + repo + `"
password_file = "` + filepath.Join(dir, "restic.pass") + `"
paths = ["` + lib + `"]
host = "test"
env = { ` + env + ` }
[targets.books]
driver = "borg"
repository = "` + borgRepo + `"
passphrase_file = "` + filepath.Join(dir, "borg.pass") + `"
paths = ["` + lib + `"]
env = { BORG_BASE_DIR = "${TEST_BORG_BASE}" }
[plans.nightly]
targets = ["db", "files", "books"]
`
	}
	oldMachine := filepath.Join(dir, "old", "plan.toml")
	os.MkdirAll(filepath.Dir(oldMachine), 0o700)
	os.WriteFile(oldMachine, []byte(planText(resticRepo, `CACHE_HINT = "${TEST_BORG_BASE}"`)), 0o600)
	for _, cmd := range [][]string{{"init", "--plan", "nightly"}, {"run", "nightly"}} {
		if code, stdout, stderr := runCLI(t, append(cmd, "-c", oldMachine)...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", cmd, code, stdout, stderr)
		}
	}
	libBefore := readLibrary(t, lib)
	// A second plan whose stored copy has a secret masked: a literal env
	// value, in its own repository.
	maskedRepo := filepath.Join(dir, "restic-masked")
	maskedPlan := filepath.Join(dir, "old", "masked.toml")
	os.WriteFile(maskedPlan, []byte(planText(maskedRepo, `AWS_SECRET_ACCESS_KEY = "planted-literal"`)), 0o600)
	for _, cmd := range [][]string{{"init", "files"}, {"run", "nightly", "--target", "files"}} {
		if code, stdout, stderr := runCLI(t, append(cmd, "-c", maskedPlan)...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", cmd, code, stdout, stderr)
		}
	}
	emptyRepo := filepath.Join(dir, "restic-empty")
	planTool(t, dir, "restic", emptyRepo, "init")

	// The server is lost: the database, the library, the plan, state_dir.
	if err := srv.Exec(ctx, "postgres", "DROP DATABASE alexandria WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "srv"), state, oldMachine} {
		os.RemoveAll(p)
	}
	newPlan := filepath.Join(dir, "etc", "alexandria-backup.toml")
	given := filepath.Join(dir, "given.pass") // the password, as the operator has it
	os.WriteFile(given, []byte("restic-password\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "wrong.pass"), []byte("not-the-password\n"), 0o600)

	for _, tc := range []struct {
		name      string
		args      []string
		setup     func()
		code      int
		want      []string
		planAfter bool // the fetched plan was written (and is removed again)
	}{
		{"plan path exists", []string{"--from-repository", resticRepo, "--password-file", given}, func() {
			os.MkdirAll(filepath.Dir(newPlan), 0o700)
			os.WriteFile(newPlan, []byte("# someone's plan\n"), 0o600)
		}, 2, []string{newPlan + " exists", "never written over it"}, false},
		{"wrong password", []string{"--from-repository", resticRepo, "--password-file", filepath.Join(dir, "wrong.pass")}, nil, 1, []string{"wrong password"}, false},
		{"password file missing", []string{"--from-repository", resticRepo, "--password-file", filepath.Join(dir, "nowhere.pass")}, nil, 2, []string{"--password-file", "nowhere.pass"}, false},
		{"no stored plan", []string{"--from-repository", emptyRepo, "--password-file", given}, nil, 1, []string{"holds no stored plan"}, false},
		{"not a repository", []string{"--from-repository", filepath.Join(dir, "srv-nothing"), "--password-file", given}, nil, 2, []string{"--repository-driver"}, false},
		{"masked env value", []string{"--from-repository", maskedRepo, "--password-file", given}, nil, 2,
			[]string{"targets.files.env.AWS_SECRET_ACCESS_KEY", "masked", "alexandria-backup recover --config " + newPlan}, true},
		{"a copy of the repository elsewhere (the plan names the lost server's)", []string{"--from-repository", filepath.Join(dir, "restic-copied"), "--password-file", given}, func() {
			if out, err := exec.Command("cp", "-a", resticRepo, filepath.Join(dir, "restic-copied")).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v %s", err, out)
			}
		}, 2, []string{"targets.files.repository = " + resticRepo, "copy the repository back", filepath.Join(dir, "restic-copied")}, true},
		{"the plan's password file missing", []string{"--from-repository", resticRepo, "--password-file", given}, func() {
			os.Rename(filepath.Join(dir, "restic.pass"), filepath.Join(dir, "restic.pass.away"))
		}, 2, []string{"targets.files.password_file", "write the password to " + filepath.Join(dir, "restic.pass")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(filepath.Dir(newPlan))
			if tc.setup != nil {
				tc.setup()
			}
			before, _ := os.ReadFile(newPlan)
			code, stdout, stderr := runCLI(t, append([]string{"recover", "--yes", "-c", newPlan}, tc.args...)...)
			for _, w := range tc.want {
				if code != tc.code || !strings.Contains(stdout+stderr, w) {
					t.Errorf("exit %d, want %d and %q in:\n%s%s", code, tc.code, w, stdout, stderr)
				}
			}
			after, err := os.ReadFile(newPlan)
			switch {
			case tc.planAfter && (err != nil || !strings.Contains(string(after), "stored by recovery point")):
				t.Errorf("the fetched plan was not written: %v", err)
			case !tc.planAfter && string(after) != string(before):
				t.Errorf("the plan file changed: %q, then %q", before, after)
			}
			if srv.Exec(ctx, "alexandria", "SELECT 1") == nil {
				t.Errorf("the database was created")
			}
			if len(readLibrary(t, filepath.Join(dir, "srv"))) != 0 {
				t.Errorf("files were restored")
			}
			os.Rename(filepath.Join(dir, "restic.pass.away"), filepath.Join(dir, "restic.pass"))
		})
	}

	// From the borg repository, its passphrase in borg's own variable: the
	// same plan; recover then goes on and, the library's place being
	// taken, refuses with nothing restored.
	os.RemoveAll(filepath.Dir(newPlan))
	os.MkdirAll(lib, 0o755)
	os.WriteFile(filepath.Join(lib, "someones"), []byte("x"), 0o644)
	t.Setenv("BORG_PASSPHRASE", "borg-passphrase")
	code, stdout, stderr := runCLI(t, "recover", "--yes", "-c", newPlan, "--from-repository", borgRepo)
	if code != 2 || !strings.Contains(stderr, lib+" exists and is not empty") || !strings.Contains(stdout, "borg repository "+borgRepo) {
		t.Fatalf("recover --from-repository borg: exit %d\n%s%s", code, stdout, stderr)
	}
	fromBorg, _ := os.ReadFile(newPlan)
	os.RemoveAll(filepath.Join(dir, "srv"))
	os.RemoveAll(filepath.Dir(newPlan))

	// The happy path: fetched from restic, recovered, proven.
	code, stdout, stderr = runCLI(t, "recover", "--yes", "--json", "-c", newPlan, "--from-repository", resticRepo, "--password-file", given)
	var report struct {
		Status, From    string
		Database, Files struct{ Restored, Proven bool }
	}
	if err := json.Unmarshal([]byte(stdout), &report); code != 0 || err != nil || report.Status != "ok" || !report.Database.Proven || !report.Files.Proven {
		t.Fatalf("recover --from-repository: exit %d %+v\n%s%s", code, report, stdout, stderr)
	}
	fetched, _ := os.ReadFile(newPlan)
	if st, err := os.Stat(newPlan); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the fetched plan: %v, %v; want mode 0600", st, err)
	}
	if string(fetched) != string(fromBorg) || !strings.Contains(string(fetched), "${TEST_BORG_BASE}") {
		t.Errorf("restic and borg hold different plans of one run:\n%s\n%s", fetched, fromBorg)
	}
	if got := readLibrary(t, lib); len(got) == 0 || !maps.Equal(got, libBefore) {
		t.Errorf("the library after recover: %q, want %q", got, libBefore)
	}
	if srv.Exec(ctx, "alexandria", "SELECT 1 FROM public.publishers LIMIT 1") != nil {
		t.Errorf("the database was not recovered")
	}
}
