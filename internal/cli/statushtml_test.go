package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/state"
	planpkg "github.com/alexandria-backup/alexandria-backup/plan"
)

// `status --html FILE`: the page of what state_dir holds, written beside
// the usual output with the usual exit. The page itself is tested in
// internal/statuspage (and drawn in Chromium there).
func TestStatusHTML(t *testing.T) {
	s := newSandbox(t, "")
	os.MkdirAll(s.state, 0o700)
	start := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second)
	for i, libStatus := range []string{planpkg.StatusOK, planpkg.StatusFailed} {
		size := int64(1 << 20)
		rep := &planpkg.Report{Command: "run", Plan: "all", Status: libStatus, StartedAt: start.Add(time.Duration(i) * 24 * time.Hour)}
		rep.FinishedAt = rep.StartedAt.Add(time.Minute)
		lib := planpkg.TargetReport{Name: "library", Driver: "restic", Status: libStatus, DurationSeconds: 30, Bytes: &size}
		if libStatus == planpkg.StatusFailed {
			msg := "restic: <b>repository</b> locked"
			lib.Error, lib.Bytes = &msg, nil
		}
		rep.Targets = []planpkg.TargetReport{{Name: "database", Driver: "pg_dump", Status: planpkg.StatusOK, DurationSeconds: 5, Bytes: &size}, lib}
		if _, err := state.Update(s.state, rep); err != nil {
			t.Fatal(err)
		}
		if _, err := rep.Write(s.state); err != nil {
			t.Fatal(err)
		}
	}
	page := filepath.Join(s.dir, "www", "status.html")
	os.MkdirAll(filepath.Dir(page), 0o755)
	code, stdout, stderr := runCLI(t, "status", "-c", s.plan, "--html", page)
	if code != 1 || !strings.Contains(stdout, "library") || !strings.Contains(stderr, "target library: failed") {
		t.Errorf("status --html: exit %d, want 1 (library failed last) and the usual output\n%s%s", code, stdout, stderr)
	}
	fi, err := os.Stat(page)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("the page: %v %v", fi, err)
	}
	data, _ := os.ReadFile(page)
	html := string(data)
	// The audit section: `audit`'s items, judged from the same state
	// (no schedule installed here: that item failed, with its fix).
	for _, want := range []string{`<section id="audit">`, "Database backups automated (daily)", "schedule systemd --install"} {
		if !strings.Contains(string(mustRead(t, page)), want) {
			t.Errorf("the page's audit section lacks %q", want)
		}
	}
	for _, want := range []string{`data-target="database"`, `data-target="library"`, "&lt;b&gt;repository&lt;/b&gt; locked", "last 2 run(s)"} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %q:\n%s", want, html)
		}
	}
	if n := strings.Count(html, "<rect "); n != 8 {
		t.Errorf("%d bars, want 8 (2 targets × 2 charts × 2 runs)", n)
	}
	for _, secret := range []string{"restic-password-never-shown", "aws-secret-never-shown"} {
		if strings.Contains(html, secret) {
			t.Errorf("the page holds %s", secret)
		}
	}

	// --target picks the page's targets as the table's.
	if code, _, stderr := runCLI(t, "status", "-c", s.plan, "--target", "database", "--html", page); code != 0 {
		t.Errorf("--target database: exit %d\n%s", code, stderr)
	}
	if data, _ := os.ReadFile(page); strings.Contains(string(data), `data-target="library"`) {
		t.Error("--target database: the page shows library")
	}

	// A place that cannot be written: exit 1 naming it; with
	// --from-repositories (no state_dir history): a usage error.
	bad := filepath.Join(s.dir, "missing", "status.html")
	if code, _, stderr := runCLI(t, "status", "-c", s.plan, "--target", "database", "--html", bad); code != 1 || !strings.Contains(stderr, "--html "+bad) {
		t.Errorf("--html into a missing directory: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "status", "-c", s.plan, "--from-repositories", "--html", page); code != 2 || !strings.Contains(stderr, "--html") {
		t.Errorf("--html with --from-repositories: exit %d\n%s", code, stderr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
