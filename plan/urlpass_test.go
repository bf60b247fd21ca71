package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/borg"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// A repository URL with a password that reaches a real tool (here past the
// loader, which refuses it: the target is built by hand) is masked in
// everything the run writes: the report and its JSON, the target's log and
// the log on stderr. borg repeats the URL in clear when it cannot parse it.
func TestRunMasksURLPasswordsOfRealTools(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a test of the real tools")
	}
	if _, err := exec.LookPath("borg"); err != nil {
		t.Skip("borg is not installed")
	}
	dir := t.TempDir()
	t.Setenv("BORG_BASE_DIR", filepath.Join(dir, "borg"))
	tg := &drivers.Target{Name: "library", Driver: "borg", Impl: borg.Driver{}, Verify: true, TempDir: t.TempDir(), Settings: drivers.Values{
		"repository": "ssh://user:S3cr3t@127.0.0.1:1/repo", "encryption": "none", "paths": []string{dir}}}
	p := &Plan{Path: "test.toml", StateDir: filepath.Join(dir, "state"), Parallel: 1, Order: []string{"library"},
		Targets: map[string]*drivers.Target{"library": tg}, Plans: map[string]*Group{"weekly": {Name: "weekly", Targets: []string{"library"}}}}
	var stderr bytes.Buffer
	rt := Runtime{Exec: proc.ProcessExecutor{}, Log: slog.New(slog.NewTextHandler(&stderr, nil))}
	rep, err := p.Run(context.Background(), "weekly", RunOptions{}, rt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != StatusFailed || rep.Targets[0].Error == nil {
		t.Fatalf("borg with an unreadable repository: %s", statuses(rep))
	}
	path, err := rep.Write(p.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	report, _ := os.ReadFile(path)
	targetLog, err := os.ReadFile(rep.Targets[0].Log)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(rep)
	for name, shown := range map[string]string{"report file": string(report), "report JSON": string(js),
		"target log": string(targetLog), "stderr": stderr.String(), "run error": rep.Err().Error()} {
		if strings.Contains(shown, "S3cr3t") {
			t.Errorf("the password shows in the %s:\n%s", name, shown)
		}
	}
	// What borg said is still there, masked.
	if !strings.Contains(*rep.Targets[0].Error, "ssh://user:***@127.0.0.1:1/repo") {
		t.Errorf("error: %s", *rep.Targets[0].Error)
	}
}

// The report is the last line of defence: whatever put a URL with its
// password into a target's outcome, the report, and so the state file and
// `run --json`, shows it masked.
func TestReportMasksURLPasswords(t *testing.T) {
	p, f := fakePlan(1, []string{"db"}, map[string]drivers.Values{
		"db": {"failfirst": "cannot reach rest:https://user:S3cr3t@host/repo"}})
	rep := runFake(t, p, f, RunOptions{})
	js, _ := json.Marshal(rep)
	if strings.Contains(string(js), "S3cr3t") || !strings.Contains(string(js), "user:***@host") {
		t.Fatalf("report: %s", js)
	}
}
