package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// init says what it did for each target, with the real tools: created,
// then found (already initialised) on the second run; nothing to create
// for a remote destination; a new borg repository with a repokey says to
// export the key, the second run does not. The JSON carries the same;
// prune --json has its own shape.
func TestInitCreatedOrFound(t *testing.T) {
	requireTool(t, "restic")
	requireTool(t, "borg")
	dir := t.TempDir()
	t.Setenv("RESTIC_CACHE_DIR", filepath.Join(dir, "cache"))
	t.Setenv("BORG_BASE_DIR", filepath.Join(dir, "borgbase"))
	os.WriteFile(filepath.Join(dir, "pass"), []byte("pw-never-shown\n"), 0o600)
	os.Mkdir(filepath.Join(dir, "data"), 0o755)
	cfg := filepath.Join(dir, "plan.toml")
	os.WriteFile(cfg, []byte(strings.ReplaceAll(`state_dir = "DIR/state"
[targets.files]
driver = "restic"
repository = "DIR/restic"
password_file = "DIR/pass"
paths = ["DIR/data"]
[targets.archive]
driver = "borg"
repository = "DIR/borg"
passphrase_file = "DIR/pass"
encryption = "repokey-blake2"
paths = ["DIR/data"]
[targets.mirror]
driver = "rsync"
source = "DIR/data/"
destination = "DIR/mirror"
[targets.offsite]
driver = "rclone"
source = "DIR/data"
destination = "remote:bucket"
`, "DIR", dir)), 0o600)

	type initDoc struct {
		Command string `json:"command"`
		Targets []struct {
			Target  string   `json:"target"`
			Status  string   `json:"status"`
			Next    string   `json:"next"`
			Seconds *float64 `json:"duration_seconds"`
		} `json:"targets"`
		Failed  int      `json:"failed"`
		Seconds *float64 `json:"duration_seconds"`
	}
	for round, want := range []map[string]string{
		{"files": "created", "archive": "created", "mirror": "created", "offsite": "nothing to create"},
		{"files": "found", "archive": "found", "mirror": "found", "offsite": "nothing to create"},
	} {
		code, stdout, stderr := runCLI(t, "init", "--json", "-c", cfg)
		var doc initDoc
		if err := json.Unmarshal([]byte(stdout), &doc); code != 0 || err != nil {
			t.Fatalf("round %d: exit %d, %v\n%s%s", round, code, err, stdout, stderr)
		}
		if doc.Command != "init" || doc.Failed != 0 || doc.Seconds == nil || len(doc.Targets) != len(want) {
			t.Errorf("round %d: %s", round, stdout)
		}
		for _, tg := range doc.Targets {
			if tg.Status != want[tg.Target] || tg.Seconds == nil {
				t.Errorf("round %d: %s is %q, want %q", round, tg.Target, tg.Status, want[tg.Target])
			}
			export := tg.Target == "archive" && round == 0
			if got := strings.Contains(tg.Next, "borg key export "+filepath.Join(dir, "borg")); got != export {
				t.Errorf("round %d: %s next %q, want the key export: %v", round, tg.Target, tg.Next, export)
			}
		}
		if strings.Contains(stdout+stderr, "pw-never-shown") {
			t.Error("a secret in the output")
		}
	}
	// The text says the same.
	code, stdout, _ := runCLI(t, "init", "-c", cfg)
	for _, want := range []string{"files: found (already initialised)", "archive: found (already initialised)", "offsite: nothing to create here"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("exit %d, want %q in:\n%s", code, want, stdout)
		}
	}

	code, stdout, stderr := runCLI(t, "prune", "--json", "files", "-c", cfg)
	var prune struct {
		Command string `json:"command"`
		Targets []struct {
			Status  string   `json:"status"`
			Removed []string `json:"removed"`
		} `json:"targets"`
	}
	if err := json.Unmarshal([]byte(stdout), &prune); code != 0 || err != nil || prune.Command != "prune" || len(prune.Targets) != 1 ||
		prune.Targets[0].Status != "no retention" || prune.Targets[0].Removed == nil {
		t.Errorf("prune --json: exit %d %v\n%s%s", code, err, stdout, stderr)
	}
	// verify --json: verified, then, its repository's config gone,
	// failed with the error and exit 1.
	for _, want := range []struct {
		code   int
		status string
	}{{0, `"status": "verified"`}, {1, `"status": "failed"`}} {
		code, stdout, _ = runCLI(t, "verify", "--json", "files", "-c", cfg)
		if code != want.code || !strings.Contains(stdout, want.status) || !strings.Contains(stdout, `"command": "verify"`) {
			t.Errorf("verify --json: exit %d, want %d and %s:\n%s", code, want.code, want.status, stdout)
		}
		os.Remove(filepath.Join(dir, "restic", "config"))
	}
}
