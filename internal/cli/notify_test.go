package cli

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/notify"
)

// pingToken stands for the secret part of a ping URL: it must never show.
const pingToken = "5bf66975-d4c7-4bf5-bcc8-secret-token"

var ridRE = regexp.MustCompile(`^rid=[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

type ping struct{ Path, Query, Body string }

// endpoint is the ping's endpoint: "start", "fail", "log" or "success".
func (p ping) endpoint() string {
	switch e := strings.TrimPrefix(p.Path, "/ping/"+pingToken); e {
	case "":
		return "success"
	default:
		return strings.TrimPrefix(e, "/")
	}
}

// pingServer is a healthchecks stand-in on loopback recording every ping.
type pingServer struct {
	*httptest.Server
	mu    sync.Mutex
	pings []ping
	// onPing, when set, runs for each ping before the answer.
	onPing func(w http.ResponseWriter, r *http.Request) bool
}

func newPingServer(t *testing.T) *pingServer {
	s := &pingServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.pings = append(s.pings, ping{r.URL.Path, r.URL.RawQuery, string(b)})
		on := s.onPing
		s.mu.Unlock()
		if on != nil && !on(w, r) {
			return
		}
		fmt.Fprint(w, "OK")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *pingServer) pingURL() string { return s.URL + "/ping/" + pingToken }

// take returns the pings received since the last take.
func (s *pingServer) take() []ping {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pings
	s.pings = nil
	return p
}

func endpoints(pings []ping) string {
	var e []string
	for _, p := range pings {
		e = append(e, p.endpoint())
	}
	return strings.Join(e, " ")
}

// checkRun asserts the pings of one run: the endpoints in order, all with
// one well-formed run id, and returns the last ping.
func checkRun(t *testing.T, pings []ping, want string) ping {
	t.Helper()
	if got := endpoints(pings); got != want {
		t.Fatalf("pings %q, want %q: %+v", got, want, pings)
	}
	for _, p := range pings {
		if !ridRE.MatchString(p.Query) || p.Query != pings[0].Query {
			t.Fatalf("ping %s has query %q; want the run's one rid=<uuid>", p.Path, p.Query)
		}
		if len(p.Body) > notify.BodyLimit {
			t.Fatalf("ping body of %d bytes", len(p.Body))
		}
	}
	return pings[len(pings)-1]
}

func noToken(t *testing.T, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if strings.Contains(o, pingToken) {
			t.Fatalf("the ping URL's token leaked:\n%s", o)
		}
	}
}

// brokenSandbox is newSandbox with a plan "broken" whose second target
// fails fast (its path does not exist).
func brokenSandbox(t *testing.T, extra string) *sandbox {
	s := newSandbox(t, `
[plans.broken]
targets = ["library", "missing"]
[targets.missing]
driver = "restic"
repository = "`+"REPO"+`"
password_file = "PASS"
paths = ["/nonexistent/unmounted"]
`+extra)
	src, _ := os.ReadFile(s.plan)
	src = bytes.ReplaceAll(src, []byte(`"REPO"`), []byte(`"`+s.repo+`"`))
	src = bytes.ReplaceAll(src, []byte(`"PASS"`), []byte(`"`+filepath.Join(s.dir, "restic.pass")+`"`))
	os.WriteFile(s.plan, src, 0o644)
	if code, out, errOut := runCLI(t, "init", "library", "-c", s.plan); code != 0 {
		t.Fatalf("init: %d %s %s", code, out, errOut)
	}
	return s
}

// hookRecorder is a hook program that appends its arguments and the
// ALEXANDRIA_BACKUP_* environment to a file, one run per paragraph.
func hookRecorder(t *testing.T, dir string) (prog, record string) {
	record = filepath.Join(dir, "hook.log")
	prog = filepath.Join(dir, "hook")
	script := "#!/bin/sh\n{ for a in \"$@\"; do printf 'arg=%s\\n' \"$a\"; done; env | grep '^ALEXANDRIA_BACKUP_' | sort; echo; } >> " + record + "\necho hook says hello\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return prog, record
}

func takeRecord(t *testing.T, record string) string {
	t.Helper()
	b, _ := os.ReadFile(record)
	os.Remove(record)
	return string(b)
}

func wantLines(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

// A run pings /start then its outcome, with one run id, the summary and
// the log tail as the body; the hooks get the outcome in their
// environment and their arguments verbatim.
func TestNotifyRunOutcomes(t *testing.T) {
	requireTool(t, "restic")
	srv := newPingServer(t)
	hookDir := t.TempDir()
	hook, record := hookRecorder(t, hookDir)
	t.Chdir(hookDir) // where a shell-expanded "$(touch pwned)" would land
	s := brokenSandbox(t, fmt.Sprintf(`
[notify]
ping_url = %q
on_success = [[%q, "success", "$(touch pwned)", "two words"], ["/bin/false"]]
on_failure = [[%q, "failure"]]
`, srv.pingURL(), hook, hook))
	if p := srv.take(); len(p) != 0 {
		t.Fatalf("init pinged: %+v", p)
	}

	// Success.
	code, stdout, stderr := runCLI(t, "run", "weekly", "--log-level", "debug", "-c", s.plan)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	noToken(t, stdout, stderr)
	okPings := srv.take()
	last := checkRun(t, okPings, "start success")
	wantLines(t, "the success ping", last.Body, "alexandria-backup run weekly on ", ": ok (exit 0)",
		"library (restic): ok", "--- log ---", `msg="backup done"`, `msg="report written"`)
	rec := takeRecord(t, record)
	reports, _ := filepath.Glob(filepath.Join(s.state, "reports", "weekly-*.json"))
	if len(reports) != 1 {
		t.Fatalf("reports: %v", reports)
	}
	wantLines(t, "on_success", rec, "arg=success\narg=$(touch pwned)\narg=two words\n",
		"ALEXANDRIA_BACKUP_STATUS=ok\n", "ALEXANDRIA_BACKUP_EXIT_CODE=0\n", "ALEXANDRIA_BACKUP_PLAN=weekly\n",
		"ALEXANDRIA_BACKUP_REPORT="+reports[0]+"\n", "ALEXANDRIA_BACKUP_ERROR=\n", "ALEXANDRIA_BACKUP_FAILED_TARGETS=\n",
		"ALEXANDRIA_BACKUP_RUN_ID="+strings.TrimPrefix(okPings[0].Query, "rid=")+"\n")
	if _, err := os.Stat(filepath.Join(hookDir, "pwned")); err == nil {
		t.Fatal("a hook argument went through a shell")
	}
	// Hook output reaches the log; a failing hook is an error there and
	// leaves the exit code alone.
	wantLines(t, "stderr", stderr, `stdout="hook says hello"`, `level=ERROR msg="hook failed" event=on_success program=/bin/false`)

	// One target fails: /fail, with the failing target's error in the body.
	// --quiet hides info lines from stderr, not from the ping body.
	code, _, stderr = runCLI(t, "run", "broken", "--quiet", "-c", s.plan)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	failPings := srv.take()
	last = checkRun(t, failPings, "start fail")
	if failPings[0].Query == okPings[0].Query {
		t.Error("two runs share a run id")
	}
	wantLines(t, "the fail ping", last.Body, ": failed (exit 1)", "missing (restic): failed", "/nonexistent/unmounted", "library (restic): ok",
		`level=INFO msg="backup done" target=library`)
	if strings.Contains(stderr, "level=INFO") {
		t.Errorf("--quiet printed info lines:\n%s", stderr)
	}
	rec = takeRecord(t, record)
	wantLines(t, "on_failure", rec, "arg=failure\n", "ALEXANDRIA_BACKUP_STATUS=failed\n", "ALEXANDRIA_BACKUP_EXIT_CODE=1\n",
		"ALEXANDRIA_BACKUP_FAILED_TARGETS=missing\n", "ALEXANDRIA_BACKUP_ERROR=missing: ")
	if strings.Contains(rec, "arg=success") {
		t.Error("on_success ran for a failed run")
	}

	// Warnings only: exit 3, a success ping saying "warning" (healthchecks
	// has no warning state), and on_success with STATUS=warning.
	src, _ := os.ReadFile(s.plan)
	os.WriteFile(s.plan, bytes.Replace(src, []byte("keep_last = 2\n"), []byte("keep_last = 2\nexit_codes = { warning = [0] }\n"), 1), 0o644)
	code, _, stderr = runCLI(t, "run", "weekly", "-c", s.plan)
	if code != 3 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	last = checkRun(t, srv.take(), "start success")
	wantLines(t, "the warning ping", last.Body, ": warning (exit 3)", "library (restic): warning")
	wantLines(t, "on_success", takeRecord(t, record), "ALEXANDRIA_BACKUP_STATUS=warning\n", "ALEXANDRIA_BACKUP_EXIT_CODE=3\n")
}

// A monitor that is slow, refuses connections or answers with an error
// never changes a run's exit code, and its URL stays masked.
func TestNotifyPingProblemsKeepTheExitCode(t *testing.T) {
	requireTool(t, "restic")
	old := pingTimeout
	pingTimeout = 300 * time.Millisecond
	t.Cleanup(func() { pingTimeout = old })

	slow := newPingServer(t)
	slow.onPing = func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
		return true
	}
	failing := newPingServer(t)
	failing.onPing = func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "not found "+r.URL.Path, http.StatusNotFound)
		return false
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/ping/" + pingToken
	l.Close()

	s := brokenSandbox(t, "[notify]\nping_url = \"http://ping.invalid/PING_URL\"\n")
	src, _ := os.ReadFile(s.plan)
	for _, tc := range []struct {
		name, url, plan string
		wantCode        int
		want            string
	}{
		{"slow", slow.pingURL(), "weekly", 0, "Client.Timeout exceeded"},
		{"refused", refused, "weekly", 0, "connection refused"},
		{"refused, failed run", refused, "broken", 1, "connection refused"},
		{"404", failing.pingURL(), "weekly", 0, "404 Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(s.plan, bytes.Replace(src, []byte("http://ping.invalid/PING_URL"), []byte(tc.url), 1), 0o644)
			start := time.Now()
			code, stdout, stderr := runCLI(t, "run", tc.plan, "-c", s.plan)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s", code, tc.wantCode, stderr)
			}
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("the run took %s: the ping timeout did not hold", took)
			}
			wantLines(t, "stderr", stderr, "could not ping the monitor; the run's outcome is unchanged", "/***/start", tc.want)
			noToken(t, stdout, stderr)
		})
	}
}

// A run that cannot start still alerts: with the plan unreadable only
// $ALEXANDRIA_BACKUP_PING_URL can say where, and it gets a /fail naming
// the problem.
func TestNotifyRunThatCannotStart(t *testing.T) {
	srv := newPingServer(t)
	t.Setenv(pingURLEnv, srv.pingURL())
	hookDir := t.TempDir()
	hook, record := hookRecorder(t, hookDir)

	invalid := newSandbox(t, "[targets.broken]\ndriver = \"restic\"\nkeep_dialy = 1\n")
	code, stdout, stderr := runCLI(t, "run", "weekly", "-c", invalid.plan)
	if code != 2 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	last := checkRun(t, srv.take(), "fail")
	wantLines(t, "the fail ping", last.Body, "run weekly on ", ": not-started (exit 2)", "keep_dialy: unknown key")
	noToken(t, stdout, stderr)

	code, _, _ = runCLI(t, "run", "weekly", "-c", filepath.Join(invalid.dir, "missing.toml"))
	last = checkRun(t, srv.take(), "fail")
	if code != 2 || !strings.Contains(last.Body, "missing.toml") {
		t.Fatalf("missing plan: exit %d, body:\n%s", code, last.Body)
	}

	// A readable plan without ping_url uses the variable too; an unknown
	// plan name is found after /start, and on_failure hears of it.
	valid := newSandbox(t, fmt.Sprintf("[notify]\non_failure = [[%q]]\n", hook))
	code, _, _ = runCLI(t, "run", "weekyl", "-c", valid.plan)
	last = checkRun(t, srv.take(), "start fail")
	if code != 2 || !strings.Contains(last.Body, `no plan "weekyl"`) {
		t.Fatalf("unknown plan: exit %d, body:\n%s", code, last.Body)
	}
	wantLines(t, "on_failure", takeRecord(t, record), "ALEXANDRIA_BACKUP_STATUS=not-started\n",
		"ALEXANDRIA_BACKUP_EXIT_CODE=2\n", `ALEXANDRIA_BACKUP_ERROR=no plan "weekyl"`)

	// A malformed variable is a warning, without its value.
	t.Setenv(pingURLEnv, "hc-ping.com/"+pingToken)
	code, _, stderr = runCLI(t, "run", "weekly", "-c", invalid.plan)
	if code != 2 || !strings.Contains(stderr, "cannot ping the monitor") || !strings.Contains(stderr, "$"+pingURLEnv+": the ping URL is not an http(s) URL") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	noToken(t, stderr)
}

// --dry-run neither pings nor runs hooks.
func TestNotifyDryRunIsSilent(t *testing.T) {
	srv := newPingServer(t)
	hook, record := hookRecorder(t, t.TempDir())
	s := newSandbox(t, fmt.Sprintf("[notify]\nping_url = %q\non_success = [[%q]]\non_failure = [[%q]]\n", srv.pingURL(), hook, hook))
	shims(t)
	if code, _, stderr := runCLI(t, "run", "all", "--dry-run", "-c", s.plan); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if p := srv.take(); len(p) != 0 {
		t.Errorf("a dry run pinged: %+v", p)
	}
	if _, err := os.Stat(record); err == nil {
		t.Error("a dry run ran a hook")
	}
}

// A run stopped by SIGTERM pings /fail and runs on_failure with the exit
// code it ends with.
func TestNotifyInterruptedRun(t *testing.T) {
	srv := newPingServer(t)
	hook, record := hookRecorder(t, t.TempDir())
	s := newSandbox(t, fmt.Sprintf("[notify]\nping_url = %q\non_failure = [[%q]]\n", srv.pingURL(), hook))
	// The signal arrives while the run is under way: Main catches it.
	srv.onPing = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/start") {
			syscall.Kill(os.Getpid(), syscall.SIGTERM)
			time.Sleep(100 * time.Millisecond)
		}
		return true
	}
	code, _, stderr := runCLI(t, "run", "weekly", "-c", s.plan)
	if code != 143 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	last := checkRun(t, srv.take(), "start fail")
	wantLines(t, "the fail ping", last.Body, ": interrupted (exit 143)")
	wantLines(t, "on_failure", takeRecord(t, record), "ALEXANDRIA_BACKUP_STATUS=interrupted\n", "ALEXANDRIA_BACKUP_EXIT_CODE=143\n")
}

// A run skipped because another holds the lock (exit 75) logs a /log
// event, sends no /start (healthchecks would then watch it instead of the
// run under way) and runs no hooks: it is not a failure of the backup.
func TestNotifyLockHeldLogsOnly(t *testing.T) {
	srv := newPingServer(t)
	hook, record := hookRecorder(t, t.TempDir())
	s := newSandbox(t, fmt.Sprintf("[notify]\nping_url = %q\non_success = [[%q]]\non_failure = [[%q]]\n", srv.pingURL(), hook, hook))
	// Hold the run lock as another run would: flock(2) on state_dir/lock.
	os.MkdirAll(s.state, 0o700)
	f, err := os.OpenFile(filepath.Join(s.state, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCLI(t, "run", "weekly", "-c", s.plan)
	if code != exitLocked {
		t.Fatalf("exit %d, want %d\n%s", code, exitLocked, stderr)
	}
	last := checkRun(t, srv.take(), "log")
	wantLines(t, "the log ping", last.Body, "run weekly skipped (exit 75): another run holds the lock")
	if _, err := os.Stat(record); err == nil {
		t.Error("a skipped run ran a hook")
	}
	noToken(t, stdout, stderr)
}
