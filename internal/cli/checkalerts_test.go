package cli

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// A scheduled check that finds damage alerts as a failed run does: the
// check plan's `verify --full --plan P` (and `drill --plan P`) on a
// restic repository with a damaged pack exits 1, pings /fail, runs the
// on_failure hooks and tells ntfy, each naming the check and the plan;
// `status` then exits 1 naming the failed verify, and so does the status
// page, until a verify passes. A check that passes sends nothing with
// the channels' default `on` (failure, warning), pings nothing (the ping
// URL watches the backups) and runs no on_success hook.
func TestFailedCheckAlerts(t *testing.T) {
	requireTool(t, "restic")
	pings := newPingServer(t)
	ntfy := newHTTPRecorder(t)
	hookDir := t.TempDir()
	hook, record := hookRecorder(t, hookDir)
	prom := filepath.Join(t.TempDir(), "alexandria_backup.prom")
	s := newSandbox(t, fmt.Sprintf(`
[plans.weekly-check]
targets = ["library"]
action = "verify-full"
[plans.weekly-drill]
targets = ["library"]
action = "drill"

[notify]
metrics_file = %q
ping_url = %q
on_success = [[%q, "success"]]
on_failure = [[%q, "failure"]]
[notify.ntfy]
url = %q
`, prom, pings.pingURL(), hook, hook, ntfy.URL+"/backups"))
	// Random books (restic compresses) large enough that the middle of the
	// data pack is a book's data, which the damage below hits.
	rng := rand.New(rand.NewSource(1))
	for _, name := range []string{"a", "b", "c"} {
		b := make([]byte, 30000)
		rng.Read(b)
		drivertest.WriteFile(t, s.lib, "books/"+name+".epub", string(b), 0o644)
	}
	if code, _, stderr := runCLI(t, "init", "library", "-c", s.plan); code != 0 {
		t.Fatalf("init: %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "run", "weekly", "-c", s.plan); code != 0 {
		t.Fatalf("run weekly: %d\n%s", code, stderr)
	}
	pings.take()
	ntfy.take("/backups")
	takeRecord(t, record)

	// Passing checks: silent everywhere.
	for _, args := range [][]string{{"verify", "--full", "--plan", "weekly-check"}, {"verify", "library"}, {"drill", "--plan", "weekly-drill"}} {
		code, stdout, stderr := runCLI(t, append(args, "-c", s.plan)...)
		if code != 0 {
			t.Fatalf("%v on a sound repository: exit %d\n%s%s", args, code, stdout, stderr)
		}
		if p, n, rec := pings.take(), ntfy.take("/backups"), takeRecord(t, record); len(p) != 0 || len(n) != 0 || rec != "" {
			t.Fatalf("%v passed and sent: pings %+v, ntfy %q, hooks %q", args, p, n, rec)
		}
	}
	if code, st, stderr := statusTargets(t, s.plan); code != 0 || st.Failed {
		t.Fatalf("status after passing checks: exit %d %+v\n%s", code, st, stderr)
	}

	drivertest.RbFlipInLargest(t, filepath.Join(s.repo, "data"))
	for _, tc := range []struct {
		args  []string
		title string // what the messages name
		env   string // ALEXANDRIA_BACKUP_COMMAND
	}{
		{[]string{"verify", "--full", "--plan", "weekly-check"}, "verify --full weekly-check", "verify --full"},
		{[]string{"drill", "--plan", "weekly-drill"}, "drill weekly-drill", "drill"},
		// By hand too: a failed check is a failed check.
		{[]string{"verify", "--full", "library"}, "verify --full on ", "verify --full"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append(tc.args, "-c", s.plan)...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
			}
			last := checkRun(t, pings.take(), "fail")
			wantLines(t, "the fail ping", last.Body, "alexandria-backup "+tc.title, ": failed (exit 1)", "library (restic): failed")
			n := ntfy.take("/backups")
			if len(n) != 1 {
				t.Fatalf("ntfy got %d messages\n%s", len(n), stderr)
			}
			wantLines(t, "the ntfy message", n[0], "Title: alexandria-backup "+tc.title, ": failed (exit 1)", "library (restic): failed")
			rec := takeRecord(t, record)
			wantLines(t, "on_failure", rec, "arg=failure\n", "ALEXANDRIA_BACKUP_COMMAND="+tc.env+"\n", "ALEXANDRIA_BACKUP_STATUS=failed\n",
				"ALEXANDRIA_BACKUP_FAILED_TARGETS=library\n")
			if strings.Contains(rec, "arg=success") {
				t.Error("on_success ran for a failed check")
			}
			noToken(t, stdout, stderr, n[0])
		})
	}

	// status: exit 1, naming the failed verify, though every backup
	// succeeded; the text table and the page show it too.
	code, st, stderr := statusTargets(t, s.plan)
	if code != 1 || !st.Failed || !strings.Contains(strings.Join(st.Problems, "\n"), "verify of target library: failed at ") {
		t.Fatalf("status after a failed verify: exit %d %+v\n%s", code, st, stderr)
	}
	code, stdout, _ := runCLI(t, "status", "-c", s.plan)
	if code != 1 || !strings.Contains(stdout, "FAILED ") || !strings.Contains(stdout, "verify: ") {
		t.Errorf("status table: exit %d\n%s", code, stdout)
	}
	page := filepath.Join(s.dir, "status.html")
	if code, _, stderr := runCLI(t, "status", "-c", s.plan, "--html", page); code != 1 {
		t.Errorf("status --html: exit %d\n%s", code, stderr)
	}
	html, _ := os.ReadFile(page)
	wantLines(t, "the status page", string(html), "Last verify's error", "verify of target library: failed at ")

	// The state file keeps it; a verify that passes clears it. Here the
	// repository is made whole again by starting it over.
	raw, _ := os.ReadFile(filepath.Join(s.state, "state.json"))
	var onDisk struct {
		VerifyFailed map[string]struct{ Error string } `json:"verify_failed"`
	}
	if err := json.Unmarshal(raw, &onDisk); err != nil || onDisk.VerifyFailed["library"].Error == "" {
		t.Fatalf("state.json: %v\n%s", err, raw)
	}
	// And the metrics say so, rewritten by the verify itself.
	verifyFailedMetric := func() string {
		text, _ := os.ReadFile(prom)
		for _, l := range strings.Split(string(text), "\n") {
			if strings.HasPrefix(l, `alexandria_backup_verify_failed{plan="weekly",target="library"`) {
				return l[strings.LastIndexByte(l, ' ')+1:]
			}
		}
		return "(none)"
	}
	if v := verifyFailedMetric(); v != "1" {
		t.Errorf("alexandria_backup_verify_failed after a failed verify: %s, want 1", v)
	}
	os.RemoveAll(s.repo)
	if code, _, stderr := runCLI(t, "init", "library", "-c", s.plan); code != 0 {
		t.Fatalf("init again: %d\n%s", code, stderr)
	}
	// Exit 3: retention is skipped when the backup was not verified.
	if code, _, stderr := runCLI(t, "run", "weekly", "--no-verify", "-c", s.plan); code != 3 {
		t.Fatalf("run weekly: %d\n%s", code, stderr)
	}
	if code, st, _ := statusTargets(t, s.plan); code != 1 || !st.Failed {
		t.Fatalf("an unverified run cleared the failed verify: exit %d %+v", code, st)
	}
	for _, args := range [][]string{{"verify", "--plan", "weekly-check"}, {"drill", "--plan", "weekly-drill"}} {
		if code, _, stderr := runCLI(t, append(args, "-c", s.plan)...); code != 0 {
			t.Fatalf("%v of the new repository: %d\n%s", args, code, stderr)
		}
	}
	if code, st, stderr := statusTargets(t, s.plan); code != 0 || st.Failed {
		t.Fatalf("status after a passing verify: exit %d %+v\n%s", code, st, stderr)
	}
	if v := verifyFailedMetric(); v != "0" {
		t.Errorf("alexandria_backup_verify_failed after a passing verify: %s, want 0", v)
	}
}
