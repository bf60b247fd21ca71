package notify_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/notify"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

func writeScript(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// A hook gets its arguments verbatim (no shell ever sees them) and the
// outcome in its environment, overriding anything inherited.
func TestHookArgsAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	out := filepath.Join(dir, "out")
	hook := writeScript(t, filepath.Join(dir, "hook"),
		`for a in "$@"; do printf 'arg=%s\n' "$a"; done > `+out+"\n"+
			`env | grep '^ALEXANDRIA_BACKUP_' | sort >> `+out+"\n")
	t.Setenv("ALEXANDRIA_BACKUP_REPORT", "/stale/report/from/the/caller.json")

	o := notify.Outcome{Plan: "weekly", Command: "run", Status: plan.StatusFailed, ExitCode: 1, Error: "missing: restic exited 1\nsecond line",
		FailedTargets: []string{"missing", "offsite"}, RunID: "6f1c0a52-9d0e-4c3b-8a55-1b2c3d4e5f60"}
	err := notify.Hooks{}.Run(context.Background(), "on_failure",
		[][]string{{hook, "$(touch pwned)", "two words", "--flag", "`touch pwned2`;x"}}, o)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	want := strings.Join([]string{
		"arg=$(touch pwned)",
		"arg=two words",
		"arg=--flag",
		"arg=`touch pwned2`;x",
		"ALEXANDRIA_BACKUP_COMMAND=run",
		"ALEXANDRIA_BACKUP_ERROR=missing: restic exited 1",
		"ALEXANDRIA_BACKUP_EXIT_CODE=1",
		"ALEXANDRIA_BACKUP_FAILED_TARGETS=missing,offsite",
		"ALEXANDRIA_BACKUP_PLAN=weekly",
		"ALEXANDRIA_BACKUP_REPORT=",
		"ALEXANDRIA_BACKUP_RUN_ID=6f1c0a52-9d0e-4c3b-8a55-1b2c3d4e5f60",
		"ALEXANDRIA_BACKUP_STATUS=failed",
	}, "\n") + "\n"
	if string(got) != want {
		t.Errorf("the hook saw:\n%s\nwant:\n%s", got, want)
	}
	for _, f := range []string{"pwned", "pwned2"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("an argument went through a shell: %s exists", f)
		}
	}
}

// A failing hook is reported and the next still runs; a hook that hangs is
// stopped with its whole process group when its time is up.
func TestHookFailureAndTimeout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild.pid")
	ran := filepath.Join(dir, "ran")
	failing := writeScript(t, filepath.Join(dir, "failing"), "echo 'cannot reach the pager' >&2\nexit 3\n")
	// The grandchild would outlive a hook killed alone.
	hanging := writeScript(t, filepath.Join(dir, "hanging"), "sleep 300 &\necho $! > "+pidFile+"\nwait\n")
	after := writeScript(t, filepath.Join(dir, "after"), "echo done\ntouch "+ran+"\n")

	var log bytes.Buffer
	h := notify.Hooks{Timeout: 500 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&log, nil))}
	start := time.Now()
	err := h.Run(context.Background(), "on_success", [][]string{{failing}, {hanging}, {after}}, notify.Outcome{Status: plan.StatusOK})
	took := time.Since(start)

	if err == nil || !strings.Contains(err.Error(), "cannot reach the pager") || !strings.Contains(err.Error(), "timed out after 500ms") {
		t.Fatalf("error: %v", err)
	}
	if took > 8*time.Second {
		t.Errorf("the hooks took %s with a 500ms timeout", took)
	}
	if _, err := os.Stat(ran); err != nil {
		t.Error("the hook after the failing ones did not run")
	}
	for _, want := range []string{`level=ERROR msg="hook failed" event=on_success program=` + failing, "exited 3", "timed out", `msg="hook done"`, "stdout=done"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("the hook's child %d outlived it", pid)
	}
}

// alive reports whether pid is a running (not zombie) process, allowing a
// moment for the kill to land.
func alive(pid int) bool {
	for range 40 {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}
